// claude-code-mux admin UI: vanilla JS, no build step, no CDN. Every change is saved to the server
// (which writes config.toml and applies it at once); the page only ever shows what the server returns.
"use strict";

const MASK = "********";
const ROUTES = ["default", "background", "think", "websearch", "image", "long_context"];
const state = { config: null, status: null, presets: [], editingProvider: null, editingModel: null };

// ---- helpers -------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function show(id, text) {
  const node = $(id);
  if (!node) return;
  node.textContent = text || "";
  node.hidden = !text;
}

function flash(okId, errId, text) {
  show(errId, "");
  show(okId, text);
  setTimeout(() => { if ($(okId).textContent === text) show(okId, ""); }, 4000);
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = sessionStorage.getItem("ccm-admin-key");
  if (key) h["x-admin-key"] = key;
  return h;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const init = { method, headers: headers(), cache: "no-store" };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `cannot reach the server (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!resp.ok) {
    const msg = data && data.error && data.error.message ? data.error.message
      : `HTTP ${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, resp.status === 404 && !(data && data.error) ? `${msg} (${path})` : msg);
  }
  return data;
}

// Read a text/event-stream response body, calling onEvent(name, data) per event.
async function readSSE(resp, onEvent) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let name = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let idx;
    while ((idx = buf.search(/\r?\n/)) >= 0) {
      const line = buf.slice(0, idx);
      buf = buf.slice(idx + (buf[idx] === "\r" ? 2 : 1));
      if (line === "") {
        if (data.length) onEvent(name || "message", data.join("\n"));
        name = ""; data = [];
      } else if (line.startsWith(":")) {
        continue;
      } else if (line.startsWith("event:")) {
        name = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}

function fmtTime(t) {
  if (!t) return "";
  return new Date(t * 1000).toLocaleTimeString();
}
function fmtMs(v) { return v === null || v === undefined ? "–" : `${Math.round(v)} ms`; }
function fmtDuration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? `${d}d ` : "") + (h ? `${h}h ` : "") + `${m}m ${s % 60}s`;
}

// ---- tabs ----------------------------------------------------------------------------------------

function selectTab(name) {
  const tabs = [...document.querySelectorAll("section.tab")].map((s) => s.id);
  if (!tabs.includes(name)) name = "overview";
  for (const id of tabs) $(id).hidden = id !== name;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (name === "oauth") loadTokens();
}

// ---- loading -------------------------------------------------------------------------------------

async function loadAll() {
  try {
    const [cfg, status, presets] = await Promise.all([
      api("GET", "/api/config"), api("GET", "/api/status"), api("GET", "/api/presets"),
    ]);
    state.presets = presets.presets;
    applyConfig(cfg);
    applyStatus(status);
    renderPresets();
    show("banner", "");
  } catch (e) {
    show("banner", e.message);
  }
}

async function refreshStatus() {
  try { applyStatus(await api("GET", "/api/status")); } catch (e) { show("banner", e.message); }
}

function applyConfig(data) {
  state.config = data.config;
  show("file-error", data.file_error ? `The config file does not load (the previous config keeps serving): ${data.file_error}` : "");
  renderProviders();
  renderModels();
  refreshMappingSelects();
  renderRouterForm();
  renderServerForm();
  renderTestChoices();
  $("config-json").textContent = JSON.stringify(data.config, null, 2);
}

// A write answered with the new state: show it, and refresh the status that depends on it.
function applyWrite(data) {
  applyConfig(data);
  refreshStatus();
  if (data.reloaded === false) show("banner", "Saved, but the running config was not reloaded; see the server log.");
  else show("banner", "");
}

// ---- overview ------------------------------------------------------------------------------------

function applyStatus(s) {
  state.status = s;
  const info = $("server-info");
  info.replaceChildren();
  const rows = [
    ["Version", s.version],
    ["Uptime", fmtDuration(s.uptime_s)],
    ["Config file", s.config_path || "(embedded default)"],
    ["Config loaded", new Date(s.config_loaded_at * 1000).toLocaleString()],
    ["Serving at", location.host],
    ["Configured listen", `${s.listen.host}:${s.listen.port} (applies at start)`],
    ["Open streams", s.active_streams],
    ["Requests since start", s.requests_seen],
  ];
  for (const [k, v] of rows) info.append(el("dt", {}, k), el("dd", {}, v));

  const rb = $("routing-body");
  rb.replaceChildren();
  for (const r of s.routing) {
    const targets = r.targets.length
      ? r.targets.map((t) => `${t.priority}. ${t.provider} → ${t.model}${t.cooldown_s > 0 ? ` (cooling ${t.cooldown_s}s)` : ""}`).join("  ·  ")
      : "provider model patterns";
    rb.append(el("tr", {}, el("td", {}, r.route), el("td", {}, r.model), el("td", {}, targets)));
  }

  const hb = $("health-body");
  hb.replaceChildren();
  for (const p of s.providers) {
    let st = p.enabled ? (p.healthy ? "healthy" : "cooling down") : "disabled";
    const cls = p.enabled ? (p.healthy ? "good" : "warn") : "muted";
    const cool = p.cooldowns.map((c) => `${c.family}: ${c.cooldown_remaining_s}s after ${c.failures} failure(s)`).join("; ");
    hb.append(el("tr", { dataset: { provider: p.name } },
      el("td", {}, p.name), el("td", {}, p.dialect), el("td", { class: "url" }, p.base_url || ""),
      el("td", {}, p.auth_type), el("td", {}, el("span", { class: `pill ${cls}`, title: cool }, st))));
  }

  const tb = $("token-body");
  tb.replaceChildren();
  if (s.tokens_error) tb.append(el("tr", {}, el("td", { colspan: 3, class: "error" }, s.tokens_error)));
  else if (!s.tokens || !s.tokens.length) tb.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "no OAuth logins")));
  else for (const t of s.tokens) tb.append(tokenRow(t, false));
}

function tokenState(t) {
  if (t.is_expired) return ["expired", "bad"];
  if (t.needs_refresh) return ["refresh due", "warn"];
  return ["valid", "good"];
}

function tokenRow(t, withButtons) {
  const [label, cls] = tokenState(t);
  const exp = t.expires_at ? `${new Date(t.expires_at).toLocaleString()}` : "";
  const cells = [el("td", {}, t.provider_id), el("td", {}, exp), el("td", {}, el("span", { class: `pill ${cls}` }, label))];
  if (withButtons) {
    cells.push(el("td", {},
      el("button", { type: "button", class: "secondary", onclick: () => refreshToken(t.provider_id) }, "Refresh"),
      el("button", { type: "button", class: "danger", onclick: () => deleteToken(t.provider_id) }, "Delete")));
  }
  return el("tr", { dataset: { provider: t.provider_id } }, ...cells);
}

function requestRow(r) {
  const attempts = r.attempts || [];
  const detail = attempts.map((a, i) => `${i + 1}. ${a.provider} ${a.model}: ${a.status ?? "–"}${a.error ? " " + a.error : ""}`).join("\n");
  const served = r.provider ? `${r.provider} → ${r.model}` : "–";
  const bad = r.status >= 400;
  const u = r.usage || {};
  return el("tr", { dataset: { requestId: r.request_id }, class: bad ? "bad" : "" },
    el("td", {}, fmtTime(r.time)), el("td", {}, r.route), el("td", {}, r.client_model),
    el("td", {}, served), el("td", {}, r.status + (r.stream ? " ⇢" : "")),
    el("td", {}, fmtMs(r.ttfb_ms)), el("td", {}, fmtMs(r.total_ms)),
    el("td", {}, u.input_tokens !== undefined ? `${u.input_tokens}/${u.output_tokens ?? "–"}` : "–"),
    el("td", { title: detail }, attempts.length));
}

async function loadRecent() {
  try {
    const data = await api("GET", "/api/requests?limit=100");
    const body = $("recent-body");
    body.replaceChildren(...data.requests.map(requestRow));
    $("recent-count").textContent = "(newest first, updated live)";
  } catch (e) { show("banner", e.message); }
}

let feedTimer = null;
let statusTimer = null;
async function connectFeed() {
  clearTimeout(feedTimer);
  try {
    const resp = await fetch("/api/requests/stream", { headers: headers(), cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    setConn("live", "good");
    await readSSE(resp, (name, data) => {
      if (name !== "request") return;
      const r = JSON.parse(data);
      const body = $("recent-body");
      body.prepend(requestRow(r));
      while (body.children.length > 200) body.lastChild.remove();
      clearTimeout(statusTimer);
      statusTimer = setTimeout(refreshStatus, 300);
    });
  } catch (_) { /* reconnect below */ }
  setConn("reconnecting", "warn");
  feedTimer = setTimeout(connectFeed, 2000);
}

function setConn(text, cls) {
  const c = $("conn");
  c.textContent = text;
  c.className = `pill ${cls}`;
}

// ---- providers -----------------------------------------------------------------------------------

function renderPresets() {
  const sel = $("pf-preset");
  sel.replaceChildren(el("option", { value: "" }, "(choose a preset)"));
  const dl = $("preset-names");
  dl.replaceChildren();
  for (const p of state.presets) {
    sel.append(el("option", { value: p.name }, `${p.name} (${p.dialect})`));
    dl.append(el("option", { value: p.name }));
  }
}

function presetByName(name) { return state.presets.find((p) => p.name === name); }

function renderProviders() {
  const body = $("provider-list");
  body.replaceChildren();
  for (const p of state.config.providers) {
    body.append(el("tr", { dataset: { provider: p.name } },
      el("td", {}, p.name), el("td", {}, p.provider_type),
      el("td", {}, p.dialect || (presetByName(p.provider_type) ? presetByName(p.provider_type).dialect : "?")),
      el("td", { class: "url" }, p.base_url || "(preset)"), el("td", {}, p.auth_type),
      el("td", {}, p.api_key || "–"), el("td", {}, p.enabled ? "yes" : "no"),
      el("td", {},
        el("button", { type: "button", class: "secondary", onclick: () => editProvider(p.name) }, "Edit"),
        el("button", { type: "button", class: "danger", onclick: () => deleteProvider(p.name) }, "Delete"))));
  }
  const oa = $("oauth-providers");
  oa.replaceChildren(...state.config.providers.filter((p) => p.auth_type === "oauth")
    .map((p) => el("option", { value: p.oauth_provider || p.name })));
}

function resetProviderForm() {
  state.editingProvider = null;
  $("provider-form").reset();
  $("pf-title").textContent = "Add a provider";
  $("pf-name").disabled = false;
  $("pf-enabled").checked = true;
  $("pf-base-url").placeholder = "preset default";
  $("pf-key").placeholder = "$ENV_VAR or the key";
  show("pf-error", "");
}

function editProvider(name) {
  const p = state.config.providers.find((x) => x.name === name);
  if (!p) return;
  state.editingProvider = name;
  $("pf-title").textContent = `Edit provider ${name}`;
  $("pf-preset").value = presetByName(p.provider_type) ? p.provider_type : "";
  $("pf-name").value = p.name;
  $("pf-type").value = p.provider_type;
  $("pf-base-url").value = p.base_url || "";
  $("pf-dialect").value = p.dialect || "";
  $("pf-auth").value = p.auth_type;
  $("pf-key").value = p.api_key || "";
  $("pf-models").value = (p.models || []).join(", ");
  $("pf-enabled").checked = p.enabled;
  show("pf-error", "");
  selectTab("providers");
  $("pf-name").focus();
}

async function saveProvider(ev) {
  ev.preventDefault();
  const editing = state.editingProvider;
  const body = {
    name: $("pf-name").value.trim(),
    provider_type: $("pf-type").value.trim() || $("pf-preset").value || "anthropic",
    base_url: $("pf-base-url").value.trim() || null,
    dialect: $("pf-dialect").value || null,
    auth_type: $("pf-auth").value,
    enabled: $("pf-enabled").checked,
  };
  const key = $("pf-key").value.trim();
  if (key) body.api_key = key;
  else if (editing) body.api_key = null;
  const models = $("pf-models").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (models.length || editing) body.models = models;
  if (!editing) for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
  try {
    const data = editing
      ? await api("PUT", `/api/providers/${encodeURIComponent(editing)}`, body)
      : await api("POST", "/api/providers", body);
    applyWrite(data);
    resetProviderForm();
    flash("pf-ok", "pf-error", `Saved provider ${body.name}${data.reloaded ? " and applied it" : ""}.`);
  } catch (e) { show("pf-ok", ""); show("pf-error", e.message); }
}

async function deleteProvider(name) {
  if (!confirm(`Delete provider ${name}?`)) return;
  try {
    applyWrite(await api("DELETE", `/api/providers/${encodeURIComponent(name)}`));
    show("provider-list-error", "");
  } catch (e) { show("provider-list-error", e.message); }
}

function onPresetChange() {
  const p = presetByName($("pf-preset").value);
  if (!p) return;
  $("pf-type").value = p.name;
  $("pf-base-url").placeholder = p.base_url;
  if (!$("pf-name").value && !state.editingProvider) $("pf-name").value = p.name.replace(/[^A-Za-z0-9_.-]/g, "-");
  if (!p.needs_key && $("pf-auth").value === "apikey") $("pf-key").placeholder = "not needed for this preset";
  else $("pf-key").placeholder = "$ENV_VAR or the key";
}

// ---- models --------------------------------------------------------------------------------------

function renderModels() {
  const body = $("model-list");
  body.replaceChildren();
  for (const m of state.config.models) {
    const maps = [...m.mappings].sort((a, b) => a.priority - b.priority)
      .map((mp) => `${mp.priority}. ${mp.provider} / ${mp.actual_model}`).join("  ·  ");
    body.append(el("tr", { dataset: { model: m.name } },
      el("td", {}, m.name), el("td", {}, maps || "(no mappings)"),
      el("td", {},
        el("button", { type: "button", class: "secondary", onclick: () => editModel(m.name) }, "Edit"),
        el("button", { type: "button", class: "danger", onclick: () => deleteModel(m.name) }, "Delete"))));
  }
  const names = new Set(state.config.models.map((m) => m.name));
  $("model-names").replaceChildren(...[...names].map((n) => el("option", { value: n })));
}

// Keep the provider choices of the mapping rows in step with the config (a provider may just have been added).
function refreshMappingSelects() {
  const providers = state.config.providers.map((p) => p.name);
  for (const sel of document.querySelectorAll("#mf-mappings .mp-provider")) {
    const current = sel.value;
    sel.replaceChildren(...providers.map((n) => el("option", { value: n }, n)));
    if (current && !providers.includes(current)) sel.append(el("option", { value: current }, current));
    if (current) sel.value = current;
  }
}

function mappingRow(mp) {
  const providers = state.config ? state.config.providers.map((p) => p.name) : [];
  const sel = el("select", { class: "mp-provider" }, ...providers.map((n) => el("option", { value: n }, n)));
  if (mp && mp.provider) {
    if (!providers.includes(mp.provider)) sel.append(el("option", { value: mp.provider }, mp.provider));
    sel.value = mp.provider;
  }
  const tr = el("tr", {},
    el("td", {}, el("input", { class: "mp-priority", type: "number", min: 0, value: mp ? mp.priority : $("mf-mappings").children.length + 1 })),
    el("td", {}, sel),
    el("td", {}, el("input", { class: "mp-model", value: mp ? mp.actual_model : "", placeholder: "upstream model id", required: true })),
    el("td", {}, el("button", { type: "button", class: "danger", onclick: () => tr.remove() }, "Remove")));
  return tr;
}

function resetModelForm() {
  state.editingModel = null;
  $("model-form").reset();
  $("mf-title").textContent = "Add a model";
  $("mf-mappings").replaceChildren(mappingRow(null));
  show("mf-error", "");
}

function editModel(name) {
  const m = state.config.models.find((x) => x.name === name);
  if (!m) return;
  state.editingModel = name;
  $("mf-title").textContent = `Edit model ${name}`;
  $("mf-name").value = m.name;
  $("mf-ctx").value = m.context_window || "";
  $("mf-mappings").replaceChildren(...m.mappings.map(mappingRow));
  show("mf-error", "");
  selectTab("models");
}

async function saveModel(ev) {
  ev.preventDefault();
  const editing = state.editingModel;
  const mappings = [...$("mf-mappings").children].map((tr) => ({
    provider: tr.querySelector(".mp-provider").value,
    actual_model: tr.querySelector(".mp-model").value.trim(),
    priority: parseInt(tr.querySelector(".mp-priority").value || "1", 10),
  }));
  const ctx = $("mf-ctx").value.trim();
  const body = { name: $("mf-name").value.trim(), mappings };
  if (ctx) body.context_window = parseInt(ctx, 10);
  else if (editing) body.context_window = null;
  try {
    const data = editing
      ? await api("PUT", `/api/models/${encodeURIComponent(editing)}`, body)
      : await api("POST", "/api/models", body);
    applyWrite(data);
    resetModelForm();
    flash("mf-ok", "mf-error", `Saved model ${body.name}${data.reloaded ? " and applied it" : ""}.`);
  } catch (e) { show("mf-ok", ""); show("mf-error", e.message); }
}

async function deleteModel(name) {
  if (!confirm(`Delete model ${name}?`)) return;
  try {
    applyWrite(await api("DELETE", `/api/models/${encodeURIComponent(name)}`));
    show("model-list-error", "");
  } catch (e) { show("model-list-error", e.message); }
}

// ---- router and server ---------------------------------------------------------------------------

const ROUTER_TEXT = [...ROUTES, "auto_map_regex", "background_regex"];

function renderRouterForm() {
  const r = state.config.router;
  for (const k of ROUTER_TEXT) $(`rf-${k}`).value = r[k] || "";
  $("rf-long_context_threshold").value = r.long_context_threshold;
  $("rf-auto_map").checked = !!r.auto_map;
}

async function saveRouter(ev) {
  ev.preventDefault();
  const body = {};
  for (const k of ROUTER_TEXT) body[k] = $(`rf-${k}`).value.trim() || null;
  const thr = $("rf-long_context_threshold").value.trim();
  body.long_context_threshold = thr ? parseInt(thr, 10) : null;
  body.auto_map = $("rf-auto_map").checked;
  try {
    applyWrite(await api("PUT", "/api/config/router", body));
    flash("rf-ok", "rf-error", "Saved and applied.");
  } catch (e) { show("rf-ok", ""); show("rf-error", e.message); }
}

function renderServerForm() {
  const s = state.config.server;
  $("sf-host").value = s.host;
  $("sf-port").value = s.port;
  $("sf-log_level").value = s.log_level === "warning" ? "warn" : s.log_level;
}

async function saveServer(ev) {
  ev.preventDefault();
  const body = {
    host: $("sf-host").value.trim(),
    port: parseInt($("sf-port").value, 10),
    log_level: $("sf-log_level").value,
  };
  try {
    applyWrite(await api("PUT", "/api/config/server", body));
    flash("sf-ok", "sf-error", "Saved. Host and port apply at the next start.");
  } catch (e) { show("sf-ok", ""); show("sf-error", e.message); }
}

async function reloadFile() {
  try {
    applyWrite(await api("POST", "/api/reload", {}));
    flash("sf-ok", "sf-error", "Reloaded from the file.");
  } catch (e) { show("sf-ok", ""); show("sf-error", e.message); }
}

// ---- test console --------------------------------------------------------------------------------

function renderTestChoices() {
  const sel = $("tc-provider");
  const current = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "any (routing decides)"),
    ...state.config.providers.filter((p) => p.enabled).map((p) => el("option", { value: p.name }, p.name)));
  sel.value = [...sel.options].some((o) => o.value === current) ? current : "";
  if (!$("tc-model").value) $("tc-model").value = state.config.router.default;
}

function renderTestSummary(s) {
  const meta = $("tc-meta");
  meta.replaceChildren();
  const rows = [
    ["Status", s.status || "–"],
    ["Route", s.route || "–"],
    ["Provider", s.provider || "–"],
    ["Upstream model", s.headers["x-ccm-model"] || "–"],
    ["Stop reason", s.stop_reason || "–"],
    ["Latency", `${fmtMs(s.latency_ms)} (first byte ${fmtMs(s.ttfb_ms)})`],
    ["Tokens in/out", s.usage && s.usage.input_tokens !== undefined ? `${s.usage.input_tokens}/${s.usage.output_tokens}` : "–"],
    ["Request id", s.headers["x-ccm-request-id"] || "–"],
  ];
  for (const [k, v] of rows) meta.append(el("dt", {}, k), el("dd", { dataset: { field: k.toLowerCase().replace(/ /g, "-") } }, v));
  const att = $("tc-attempts");
  att.replaceChildren();
  const attempts = s.record ? s.record.attempts : [];
  attempts.forEach((a, i) => att.append(el("tr", {},
    el("td", {}, i + 1), el("td", {}, a.provider), el("td", {}, a.model), el("td", {}, a.status ?? "–"), el("td", {}, a.error || ""))));
  if (s.error) show("tc-error", s.error);
}

async function sendTest(ev) {
  ev.preventDefault();
  show("tc-error", "");
  $("tc-output").textContent = "";
  $("tc-meta").replaceChildren();
  $("tc-attempts").replaceChildren();
  $("tc-send").disabled = true;
  const body = {
    model: $("tc-model").value.trim(),
    message: $("tc-message").value,
    max_tokens: parseInt($("tc-max-tokens").value || "256", 10),
    stream: $("tc-stream").checked,
  };
  const provider = $("tc-provider").value;
  if (provider) body.provider = provider;
  try {
    const resp = await fetch("/api/test", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(body),
    });
    if (!resp.ok) {
      let msg = `HTTP ${resp.status}`;
      try { const d = await resp.json(); if (d.error) msg = d.error.message; } catch (_) { /* keep */ }
      throw new Error(msg);
    }
    await readSSE(resp, (name, data) => {
      const d = JSON.parse(data);
      if (name === "meta") $("tc-output").dataset.status = d.status;
      else if (name === "text") $("tc-output").textContent += d.text;
      else if (name === "error") show("tc-error", d.message);
      else if (name === "done") {
        if (!$("tc-output").textContent && d.text) $("tc-output").textContent = d.text;
        renderTestSummary(d);
      }
    });
  } catch (e) {
    show("tc-error", e.message);
  } finally {
    $("tc-send").disabled = false;
  }
}

// ---- OAuth (endpoints served by the OAuth API module) ------------------------------------------

let oauthState = null;

async function oauthLogin() {
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

async function oauthSubmit() {
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

async function loadTokens() {
  const body = $("oa-tokens");
  try {
    const d = await api("GET", "/api/oauth/tokens");
    const rows = Array.isArray(d) ? d : (d.tokens || []);
    body.replaceChildren(...rows.map((t) => tokenRow(t, true)));
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no OAuth logins")));
    show("oa-tokens-error", "");
  } catch (e) { body.replaceChildren(); show("oa-tokens-error", e.message); }
}

async function refreshToken(id) {
  try { await api("POST", "/api/oauth/tokens/refresh", { provider_id: id }); flash("oa-ok", "oa-tokens-error", `Refreshed ${id}.`); loadTokens(); refreshStatus(); }
  catch (e) { show("oa-tokens-error", e.message); }
}

async function deleteToken(id) {
  if (!confirm(`Delete the login ${id}?`)) return;
  try { await api("DELETE", `/api/oauth/tokens/${encodeURIComponent(id)}`, {}); loadTokens(); refreshStatus(); }
  catch (e) { show("oa-tokens-error", e.message); }
}

// ---- start ---------------------------------------------------------------------------------------

function init() {
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  window.addEventListener("hashchange", () => selectTab(location.hash.slice(1)));
  const keyInput = $("admin-key");
  keyInput.value = sessionStorage.getItem("ccm-admin-key") || "";
  keyInput.addEventListener("change", () => {
    if (keyInput.value) sessionStorage.setItem("ccm-admin-key", keyInput.value);
    else sessionStorage.removeItem("ccm-admin-key");
    loadAll(); loadRecent(); connectFeed();
  });
  $("provider-form").addEventListener("submit", saveProvider);
  $("pf-cancel").addEventListener("click", resetProviderForm);
  $("pf-preset").addEventListener("change", onPresetChange);
  $("model-form").addEventListener("submit", saveModel);
  $("mf-cancel").addEventListener("click", resetModelForm);
  $("mf-add-mapping").addEventListener("click", () => $("mf-mappings").append(mappingRow(null)));
  $("router-form").addEventListener("submit", saveRouter);
  $("server-form").addEventListener("submit", saveServer);
  $("sf-reload").addEventListener("click", reloadFile);
  $("test-form").addEventListener("submit", sendTest);
  $("oa-login").addEventListener("click", oauthLogin);
  $("oa-submit").addEventListener("click", oauthSubmit);
  selectTab(location.hash.slice(1));
  loadAll().then(() => { if (!$("mf-mappings").children.length) resetModelForm(); });
  loadRecent();
  connectFeed();
  setInterval(refreshStatus, 15000);
}

init();
