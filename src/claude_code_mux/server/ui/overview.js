// The overview tab: server facts, routing table, provider health, OAuth logins, account quota bars, recent
// request rows.

import { api } from "./api.js";
import { $, el, fmtDuration, fmtMs, fmtTime } from "./dom.js";
import { state } from "./state.js";

export function applyStatus(s) {
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
  else for (const t of s.tokens) tb.append(tokenRow(t, null));
}

export function tokenState(t) {
  if (t.is_expired) return ["expired", "bad"];
  if (t.needs_refresh) return ["refresh due", "warn"];
  return ["valid", "good"];
}

// actions: {refresh(id), remove(id)} to show the buttons of the OAuth tab, or null.
export function tokenRow(t, actions) {
  const [label, cls] = tokenState(t);
  const exp = t.expires_at ? `${new Date(t.expires_at).toLocaleString()}` : "";
  const cells = [el("td", {}, t.provider_id), el("td", {}, exp), el("td", {}, el("span", { class: `pill ${cls}` }, label))];
  if (actions) {
    cells.push(el("td", {},
      el("button", { type: "button", class: "secondary", onclick: () => actions.refresh(t.provider_id) }, "Refresh"),
      el("button", { type: "button", class: "danger", onclick: () => actions.remove(t.provider_id) }, "Delete")));
  }
  return el("tr", { dataset: { provider: t.provider_id } }, ...cells);
}

export function requestRow(r) {
  const attempts = r.attempts || [];
  const detail = attempts.map((a, i) => `${i + 1}. ${a.provider} ${a.model}: ${a.status ?? "–"}${a.error ? " " + a.error : ""}`).join("\n");
  const served = (r.provider ? `${r.provider} → ${r.model}` : "–") + (r.account ? ` (${r.account})` : "");
  const bad = r.status >= 400;
  const u = r.usage || {};
  return el("tr", { dataset: { requestId: r.request_id }, class: bad ? "bad" : "" },
    el("td", {}, fmtTime(r.time)), el("td", {}, r.route), el("td", {}, r.client_model),
    el("td", { title: r.instance ? `served by ${r.instance}` : "" }, served), el("td", {}, r.status + (r.stream ? " ⇢" : "")),
    el("td", {}, fmtMs(r.ttfb_ms)), el("td", {}, fmtMs(r.total_ms)),
    el("td", {}, u.input_tokens !== undefined ? `${u.input_tokens}/${u.output_tokens ?? "–"}` : "–"),
    el("td", { title: detail }, attempts.length));
}

// Account pools (GET /api/accounts): one row per account, one bar per quota window with a reset countdown.
const STATE_CLASS = { ok: "good", soft: "warn", hard: "bad" };
let accountsClock = null;

export function fmtCountdown(s) {
  if (s <= 0) return "resetting";
  s = Math.ceil(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

function windowBar(name, w) {
  const pct = typeof w.utilization === "number" ? Math.max(0, Math.min(100, w.utilization * 100)) : null;
  const level = pct === null ? "" : pct >= 90 ? "bad" : pct >= 70 ? "warn" : "good";
  const fill = el("div", { class: `fill ${level}` });
  fill.style.width = `${pct ?? 0}%`;
  const reset = w.reset ? new Date(w.reset * 1000).toLocaleString() : "";
  return el("div", { class: "window", dataset: { window: name }, title: reset ? `resets ${reset}` : "" },
    el("span", { class: "wname" }, name),
    el("div", { class: "bar", role: "meter", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct ?? "" }, fill),
    el("span", { class: "pct" }, pct === null ? "–" : `${Math.round(pct)} %`),
    el("span", { class: "countdown", dataset: { reset: w.reset || "" } }, ""));
}

function tickCountdowns() {
  const now = Date.now() / 1000;
  for (const c of document.querySelectorAll("#accounts-body .countdown")) {
    const reset = Number(c.dataset.reset);
    c.textContent = reset ? `resets in ${fmtCountdown(reset - now)}` : "";
  }
}

export function applyAccounts(data) {
  const rows = (data && data.accounts) || [];
  $("accounts-card").hidden = rows.length === 0;
  const body = $("accounts-body");
  body.replaceChildren();
  for (const a of rows) {
    const at = { weekday: "short", hour: "2-digit", minute: "2-digit" };
    const until = a.until ? ` until ${new Date(a.until * 1000).toLocaleString([], at)}` : "";
    const windows = Object.entries(a.windows || {});
    body.append(el("div", { class: "account", dataset: { account: a.account } },
      el("div", { class: "ahead" },
        el("strong", {}, a.account), el("span", { class: "muted" }, ` ${a.provider} · ${a.sessions} session(s) pinned `),
        el("span", { class: `pill ${STATE_CLASS[a.state] || ""}` }, a.state + (a.state === "ok" ? "" : until))),
      windows.length ? windows.map(([n, w]) => windowBar(n, w)) : el("div", { class: "muted" }, "no reading yet")));
  }
  tickCountdowns();
  if (rows.length && accountsClock === null) accountsClock = setInterval(tickCountdowns, 1000);
}

export async function refreshAccounts() {
  try { applyAccounts(await api("GET", "/api/accounts")); } catch (_) { /* the status banner reports errors */ }
}
