// DOM and formatting helpers shared by every module of the admin UI.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs, ...children) {
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

export function show(id, text) {
  const node = $(id);
  if (!node) return;
  node.textContent = text || "";
  node.hidden = !text;
}

export function flash(okId, errId, text) {
  show(errId, "");
  show(okId, text);
  setTimeout(() => { if ($(okId).textContent === text) show(okId, ""); }, 4000);
}

export function fmtTime(t) {
  if (!t) return "";
  return new Date(t * 1000).toLocaleTimeString();
}

export function fmtMs(v) { return v === null || v === undefined ? "–" : `${Math.round(v)} ms`; }
export function fmtDuration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? `${d}d ` : "") + (h ? `${h}h ` : "") + `${m}m ${s % 60}s`;
}
