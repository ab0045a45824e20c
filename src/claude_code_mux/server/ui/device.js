// The device-login page (/auth/device): pick a subscription (its terms-of-service notice shows before the
// start), start a login, open the link, then paste code#state (Claude) or the address the browser ended on
// (ChatGPT, Gemini; those also complete by themselves when the browser comes back to this machine). The PKCE
// verifier stays on the server; a signed cookie ties the steps to this browser.

import { api } from "./api.js";
import { $, el, show } from "./dom.js";
import { tokenRow } from "./overview.js";

const DEFAULT_ID = { claude: "claude-max", chatgpt: "chatgpt", gemini: "gemini" };
const PASTE = {
  claude: "Paste the code shown on the page (it looks like code#state):",
  chatgpt: "If the login does not complete by itself, paste the address the browser ended on:",
  gemini: "If the login does not complete by itself, paste the address the browser ended on (or the code Google shows):",
};
const asked = new URLSearchParams(location.search).get("provider");
let notices = {};
let polling = null;

function kindOf(id) {
  if (id === "chatgpt" || (id && id.startsWith("chatgpt-"))) return "chatgpt";
  if (id === "gemini" || (id && id.startsWith("gemini-"))) return "gemini";
  return "claude";
}

function kind() { return document.querySelector("input[name=kind]:checked").value; }
function pid() { return asked && kindOf(asked) === kind() ? asked : DEFAULT_ID[kind()]; }

function message(text, ok) {
  show(ok ? "msg-error" : "msg-ok", "");
  show(ok ? "msg-ok" : "msg-error", text);
}

function render() {
  $("pid").textContent = pid();
  $("notice").textContent = notices[kind()] || "";
  $("project-row").hidden = kind() !== "gemini";
  $("paste-hint").textContent = PASTE[kind()];
  $("code").placeholder = kind() === "claude" ? "code#state" : "http://localhost:…?code=…&state=…";
}

function sourceOf(t) {
  if (!t.source) return t.kind || "";
  return t.project_id ? `${t.source} (project ${t.project_id})` : t.source;
}

async function status() {
  const body = $("status");
  try {
    const rows = await api("GET", "/auth/status");
    body.replaceChildren(...(Array.isArray(rows) ? rows : []).map((t) => {
      const row = tokenRow(t, null);
      row.append(el("td", {}, sourceOf(t)));
      return row;
    }));
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no logins yet")));
    show("status-error", "");
  } catch (e) {
    body.replaceChildren();
    show("status-error", e.message);
  }
}

function done(d) {
  message(`Logged in: ${d.provider_id}${d.expires_at ? ` (token valid until ${new Date(d.expires_at).toLocaleString()})` : ""}`, true);
  $("code").value = "";
  status();
}

function poll() {
  clearInterval(polling);
  let left = 300;
  polling = setInterval(async () => {
    if (--left < 0) { clearInterval(polling); return; }
    try {
      const r = await api("GET", "/auth/device/result");
      if (r.status === "done") { clearInterval(polling); done(r); }
      else if (r.status === "failed") { clearInterval(polling); message(r.message || "the login failed", false); }
    } catch (_) { /* keep waiting; the paste still works */ }
  }, 2000);
}

$("kinds").addEventListener("change", render);

$("start").addEventListener("click", async () => {
  try {
    const body = { provider: kind(), provider_id: pid() };
    if (kind() === "gemini" && $("project").value.trim()) body.project = $("project").value.trim();
    const d = await api("POST", "/auth/device/start", body);
    const li = $("link");
    li.hidden = false;
    const a = li.querySelector("a");
    a.href = d.url;
    a.textContent = d.url;
    message(d.instructions, true);
    if (d.listening) poll();
  } catch (e) { message(e.message, false); }
});

$("submit").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const d = await api("POST", "/auth/device/submit", { code: $("code").value.trim() });
    clearInterval(polling);
    done(d);
  } catch (e) { message(e.message, false); }
});

const keyInput = $("admin-key");
keyInput.value = sessionStorage.getItem("ccm-admin-key") || "";
keyInput.addEventListener("change", () => {
  if (keyInput.value) sessionStorage.setItem("ccm-admin-key", keyInput.value);
  else sessionStorage.removeItem("ccm-admin-key");
  status();
  loadNotices();
});

async function loadNotices() {
  try { notices = await api("GET", "/api/oauth/notices"); } catch (_) { notices = {}; }
  render();
}

if (asked) {
  const k = kindOf(asked);
  document.querySelector(`input[name=kind][value=${k}]`).checked = true;
}
render();
loadNotices();
status();
