// The Usage tab: spend per day stacked by model, tokens per day stacked by route, the cache hit ratio (SVG drawn
// here, no library), and the virtual keys (create — the key is shown once —, rotate, revoke).

import { api } from "./api.js";
import { $, el, flash, show } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#4f46e5", "#0d9488", "#d97706", "#db2777", "#2563eb", "#65a30d", "#9333ea", "#dc2626", "#6b7280"];
const W = 640, H = 200, PAD_L = 48, PAD_B = 22, PAD_T = 8;

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

function axis(svg, max, fmt, days) {
  const bottom = H - PAD_B;
  svg.append(svgEl("line", { x1: PAD_L, y1: bottom, x2: W, y2: bottom, class: "axis" }));
  for (const f of [0, 0.5, 1]) {
    const y = bottom - f * (bottom - PAD_T);
    svg.append(svgEl("text", { x: PAD_L - 4, y: y + 4, "text-anchor": "end", class: "tick" }, fmt(max * f)));
  }
  const step = Math.max(1, Math.ceil(days.length / 8));
  const slot = (W - PAD_L) / Math.max(days.length, 1);
  days.forEach((d, i) => {
    if (i % step) return;
    svg.append(svgEl("text", { x: PAD_L + slot * (i + 0.5), y: H - 6, "text-anchor": "middle", class: "tick" }, d.slice(5)));
  });
}

// One <path> per series: a rectangle per day, stacked on the series before it.
export function stackedBars(svg, days, series, fmt) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const names = Object.keys(series);
  const totals = days.map((_, i) => names.reduce((s, n) => s + (series[n][i] || 0), 0));
  const max = Math.max(...totals, 0);
  axis(svg, max, fmt, days);
  if (!days.length || max <= 0) return [];
  const slot = (W - PAD_L) / days.length, bar = Math.max(2, slot * 0.7), span = H - PAD_B - PAD_T;
  const base = days.map(() => H - PAD_B);
  const legend = [];
  names.forEach((name, k) => {
    let d = "";
    days.forEach((_, i) => {
      const h = ((series[name][i] || 0) / max) * span;
      if (h <= 0) return;
      const x = PAD_L + slot * i + (slot - bar) / 2;
      base[i] -= h;
      d += `M${x.toFixed(1)} ${base[i].toFixed(1)}h${bar.toFixed(1)}v${h.toFixed(1)}h${(-bar).toFixed(1)}Z`;
    });
    const color = PALETTE[k % PALETTE.length];
    if (d) svg.append(svgEl("path", { d, fill: color, "data-series": name }, svgEl("title", {}, name)));
    legend.push([name, color]);
  });
  return legend;
}

export function ratioLine(svg, days, values) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  axis(svg, 1, (v) => `${Math.round(v * 100)}%`, days);
  const slot = (W - PAD_L) / Math.max(days.length, 1), span = H - PAD_B - PAD_T;
  let d = "";
  let pen = "M";
  values.forEach((v, i) => {
    if (v === null || v === undefined) { pen = "M"; return; }
    const x = PAD_L + slot * (i + 0.5), y = H - PAD_B - v * span;
    d += `${pen}${x.toFixed(1)} ${y.toFixed(1)}`;
    if (pen === "M") d += `h0.01`; // a lone day still draws a dot
    pen = "L";
  });
  if (d) svg.append(svgEl("path", { d, fill: "none", stroke: PALETTE[1], "stroke-width": 2.5, "stroke-linecap": "round", "data-series": "cache" }));
}

function legendOf(id, items) {
  $(id).replaceChildren(...items.map(([name, color]) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = color; // CSSOM, which the page's CSP allows (a style attribute it would not)
    return el("span", { class: "legend-item" }, swatch, name);
  }));
}

const usd = (v) => (v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(v >= 0.01 ? 3 : 4)}`);
const tok = (v) => (v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(0)}k` : `${Math.round(v)}`);

export async function loadUsage() {
  const since = $("us-since").value || "30d";
  try {
    const d = await api("GET", `/api/usage/daily?since=${encodeURIComponent(since)}`);
    legendOf("us-spend-legend", stackedBars($("us-spend"), d.days, d.spend_by_model, usd));
    legendOf("us-tokens-legend", stackedBars($("us-tokens"), d.days, d.tokens_by_route, tok));
    ratioLine($("us-cache"), d.days, d.cache_hit_ratio);
    const total = Object.values(d.spend_by_model).flat().reduce((a, b) => a + b, 0);
    $("us-summary").textContent = d.days.length
      ? `${usd(total)} over ${d.days.length} day(s)${d.unpriced ? `; ${d.unpriced} request(s) with no price` : ""}`
      : "no usage recorded in this period";
    show("us-error", "");
  } catch (e) { show("us-error", e.message); }
  loadKeys();
}

function keyRow(k) {
  const budget = k.budget_usd ? `$${k.budget_usd}/${k.budget_period}` : "";
  const expires = k.expires ? new Date(k.expires * 1000).toLocaleDateString() : "";
  const active = k.state === "active";
  return el("tr", { "data-key": k.name, class: active ? "" : "muted" },
    el("td", {}, k.name), el("td", {}, el("code", {}, k.hint || "")), el("td", {}, k.state),
    el("td", {}, (k.models || []).join(", ") || "any"), el("td", {}, k.rps ?? ""), el("td", {}, budget),
    el("td", {}, expires),
    el("td", {}, active ? [
      el("button", { type: "button", class: "secondary", onclick: () => rotateKey(k.name) }, "Rotate"),
      el("button", { type: "button", class: "danger", onclick: () => revokeKey(k.name) }, "Revoke"),
    ] : []));
}

export async function loadKeys() {
  try {
    const d = await api("GET", "/api/keys");
    const body = $("uk-list");
    body.replaceChildren(...d.keys.map(keyRow));
    if (!d.keys.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "no keys (ccm keys create NAME, or the form below)")));
    show("uk-list-error", "");
  } catch (e) { show("uk-list-error", e.message); }
}

function showNewKey(d, verb) {
  $("uk-new-key").textContent = d.key;
  $("uk-new").hidden = false;
  flash("uk-ok", "uk-error", `${verb} key ${d.name}: copy it now, it is not shown again.`);
}

export async function createKey(ev) {
  ev.preventDefault();
  const body = { name: $("uk-name").value.trim() };
  const models = $("uk-models").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (models.length) body.models = models;
  if ($("uk-budget").value.trim()) body.budget = $("uk-budget").value.trim();
  if ($("uk-rps").value) body.rps = Number($("uk-rps").value);
  if ($("uk-expires").value.trim()) body.expires = $("uk-expires").value.trim();
  try {
    showNewKey(await api("POST", "/api/keys", body), "Created");
    $("uk-form").reset();
    loadKeys();
  } catch (e) { show("uk-error", e.message); }
}

async function rotateKey(name) {
  if (!confirm(`Rotate ${name}? The current key stops working at once.`)) return;
  try { showNewKey(await api("POST", `/api/keys/${encodeURIComponent(name)}/rotate`), "Rotated"); loadKeys(); }
  catch (e) { show("uk-error", e.message); }
}

async function revokeKey(name) {
  if (!confirm(`Revoke ${name}? Requests with it are refused at once.`)) return;
  try { await api("DELETE", `/api/keys/${encodeURIComponent(name)}`); $("uk-new").hidden = true; loadKeys(); }
  catch (e) { show("uk-error", e.message); }
}
