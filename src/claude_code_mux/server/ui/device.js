// The device-login page (/auth/device): start a login, open the link, paste code#state. The PKCE verifier
// stays on the server; a signed cookie ties the two steps to this browser.

import { api } from "./api.js";
import { $, el, show } from "./dom.js";
import { tokenRow } from "./overview.js";

const pid = new URLSearchParams(location.search).get("provider") || "claude-max";
$("pid").textContent = pid;

function message(text, ok) {
  show(ok ? "msg-error" : "msg-ok", "");
  show(ok ? "msg-ok" : "msg-error", text);
}

async function status() {
  const body = $("status");
  try {
    const rows = await api("GET", "/auth/status");
    body.replaceChildren(...(Array.isArray(rows) ? rows : []).map((t) => tokenRow(t, null)));
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "no logins yet")));
    show("status-error", "");
  } catch (e) {
    body.replaceChildren();
    show("status-error", e.message);
  }
}

$("start").addEventListener("click", async () => {
  try {
    const d = await api("POST", "/auth/device/start", { provider_id: pid });
    const li = $("link");
    li.hidden = false;
    const a = li.querySelector("a");
    a.href = d.url;
    a.textContent = d.url;
    message(d.instructions, true);
  } catch (e) { message(e.message, false); }
});

$("submit").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const d = await api("POST", "/auth/device/submit", { code: $("code").value.trim() });
    message(`Logged in: ${d.provider_id} (token valid until ${new Date(d.expires_at).toLocaleString()})`, true);
    $("code").value = "";
    status();
  } catch (e) { message(e.message, false); }
});

const keyInput = $("admin-key");
keyInput.value = sessionStorage.getItem("ccm-admin-key") || "";
keyInput.addEventListener("change", () => {
  if (keyInput.value) sessionStorage.setItem("ccm-admin-key", keyInput.value);
  else sessionStorage.removeItem("ccm-admin-key");
  status();
});

status();
