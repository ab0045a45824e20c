// The OAuth tab: log in with a subscription — Claude, ChatGPT or the Gemini CLI's, each with its terms-of-service
// notice shown first (the verifier stays on the server) — import the Codex CLI's login, list, refresh, delete.

import { api } from "./api.js";
import { refreshStatus } from "./core.js";
import { $, el, flash, show } from "./dom.js";
import { tokenRow } from "./overview.js";

let oauthState = null;
let notices = {};
let polling = null;
const DEFAULT_ID = { max: "claude-max", console: "claude-max", chatgpt: "chatgpt", gemini: "gemini" };

function loginKind() {
  const t = $("oa-type").value;
  return t === "chatgpt" || t === "gemini" ? t : "claude";
}

function renderKind() {
  const kind = loginKind();
  $("oa-notice").textContent = notices[kind] || "";
  $("oa-import-codex").hidden = kind !== "chatgpt";
  const id = $("oa-provider");
  if (Object.values(DEFAULT_ID).includes(id.value.trim()) || !id.value.trim()) id.value = DEFAULT_ID[$("oa-type").value];
  $("oa-code").placeholder = kind === "claude" ? "code#state" : "the address the browser ended on";
}

export async function initOAuth() {
  $("oa-type").addEventListener("change", renderKind);
  $("oa-import-codex").addEventListener("click", importCodex);
  try { notices = await api("GET", "/api/oauth/notices"); } catch (_) { notices = {}; }
  renderKind();
}

function loggedIn(d) {
  clearInterval(polling);
  $("oa-step2").hidden = true;
  $("oa-code").value = "";
  flash("oa-ok", "oa-error", `Logged in as ${d.provider_id || $("oa-provider").value}${d.expires_at ? `; token valid until ${new Date(d.expires_at).toLocaleString()}` : ""}.`);
  loadTokens();
  refreshStatus();
}

function pollLogin(state) {
  clearInterval(polling);
  let left = 300;
  polling = setInterval(async () => {
    if (--left < 0 || state !== oauthState) { clearInterval(polling); return; }
    try {
      const r = await api("GET", `/api/oauth/status?state=${encodeURIComponent(state)}`);
      if (r.status === "done") loggedIn(r);
      else if (r.status === "failed") { clearInterval(polling); show("oa-error", r.message || "the login failed"); }
    } catch (_) { /* keep waiting; the paste still works */ }
  }, 2000);
}

export async function oauthLogin() {
  show("oa-error", ""); show("oa-ok", "");
  try {
    const type = $("oa-type").value;
    const body = loginKind() === "claude" ? { oauth_type: type } : { provider: type };
    body.provider_id = $("oa-provider").value.trim() || DEFAULT_ID[type];
    const d = await api("POST", "/api/oauth/authorize", body);
    oauthState = d.state || null;
    $("oa-url").href = d.url;
    $("oa-url").textContent = d.url;
    $("oa-instructions").textContent = d.instructions || "";
    $("oa-step2").hidden = false;
    $("oa-code").focus();
    if (d.listening && oauthState) pollLogin(oauthState);
  } catch (e) { show("oa-error", e.message); }
}

export async function importCodex() {
  show("oa-error", ""); show("oa-ok", "");
  try {
    const d = await api("POST", "/api/oauth/import-codex", { provider_id: $("oa-provider").value.trim() || "chatgpt" });
    flash("oa-ok", "oa-error", `Imported the Codex CLI login as ${d.provider_id} (${d.source}).`);
    loadTokens();
    refreshStatus();
  } catch (e) { show("oa-error", e.message); }
}

export async function oauthSubmit() {
  show("oa-error", ""); show("oa-ok", "");
  try {
    const d = await api("POST", "/api/oauth/exchange", { code: $("oa-code").value.trim(), state: oauthState, provider_id: $("oa-provider").value.trim() });
    loggedIn(d);
  } catch (e) { show("oa-error", e.message); }
}

export async function loadTokens() {
  const body = $("oa-tokens");
  try {
    const d = await api("GET", "/api/oauth/tokens");
    const rows = Array.isArray(d) ? d : (d.tokens || []);
    body.replaceChildren(...rows.map((t) => tokenRow(t, { refresh: refreshToken, remove: deleteToken })));
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no OAuth logins")));
    show("oa-tokens-error", "");
  } catch (e) { body.replaceChildren(); show("oa-tokens-error", e.message); }
}

export async function refreshToken(id) {
  try { await api("POST", "/api/oauth/tokens/refresh", { provider_id: id }); flash("oa-ok", "oa-tokens-error", `Refreshed ${id}.`); loadTokens(); refreshStatus(); }
  catch (e) { show("oa-tokens-error", e.message); }
}

export async function deleteToken(id) {
  if (!confirm(`Delete the login ${id}?`)) return;
  try { await api("DELETE", `/api/oauth/tokens/${encodeURIComponent(id)}`); loadTokens(); refreshStatus(); }
  catch (e) { show("oa-tokens-error", e.message); }
}
