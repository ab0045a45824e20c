// The OAuth tab: log in with a subscription (the verifier stays on the server), list, refresh, delete logins.

import { api } from "./api.js";
import { refreshStatus } from "./core.js";
import { $, el, flash, show } from "./dom.js";
import { tokenRow } from "./overview.js";

let oauthState = null;

export async function oauthLogin() {
  show("oa-error", ""); show("oa-ok", "");
  try {
    const d = await api("POST", "/api/oauth/authorize", { oauth_type: $("oa-type").value, provider_id: $("oa-provider").value.trim() });
    oauthState = d.state || null;
    $("oa-url").href = d.url;
    $("oa-url").textContent = d.url;
    $("oa-step2").hidden = false;
    $("oa-code").focus();
  } catch (e) { show("oa-error", e.message); }
}

export async function oauthSubmit() {
  show("oa-error", ""); show("oa-ok", "");
  try {
    const d = await api("POST", "/api/oauth/exchange", { code: $("oa-code").value.trim(), state: oauthState, provider_id: $("oa-provider").value.trim() });
    $("oa-step2").hidden = true;
    $("oa-code").value = "";
    flash("oa-ok", "oa-error", `Logged in as ${d.provider_id || $("oa-provider").value}${d.expires_at ? `; token valid until ${new Date(d.expires_at).toLocaleString()}` : ""}.`);
    loadTokens();
    refreshStatus();
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
