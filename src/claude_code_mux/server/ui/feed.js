// The recent-requests list and its live feed. One feed at a time: reconnecting (or a new admin key) aborts
// the previous connection through its AbortController, so rows are never doubled.

import { api, headers, readSSE } from "./api.js";
import { $, show } from "./dom.js";
import { requestRow } from "./overview.js";

const MAX_ROWS = 200;
let feedTimer = null;
let statusTimer = null;
let feedAbort = null;
let onRecord = () => {};

// Called (debounced) after new records arrive, e.g. to refresh the status.
export function whenRecords(fn) { onRecord = fn; }

function addRow(r, atTop) {
  const body = $("recent-body");
  if (r.request_id && body.querySelector(`tr[data-request-id="${CSS.escape(r.request_id)}"]`)) return;
  if (atTop) body.prepend(requestRow(r)); else body.append(requestRow(r));
  while (body.children.length > MAX_ROWS) body.lastChild.remove();
}

export async function loadRecent() {
  try {
    const data = await api("GET", "/api/requests?limit=100");
    $("recent-body").replaceChildren();
    for (const r of data.requests) addRow(r, false);
    $("recent-count").textContent = "(newest first, updated live)";
  } catch (e) { show("banner", e.message); }
}

export function stopFeed() {
  clearTimeout(feedTimer);
  if (feedAbort) feedAbort.abort();
  feedAbort = null;
}

export async function connectFeed() {
  stopFeed();
  const ctl = new AbortController();
  feedAbort = ctl;
  try {
    const resp = await fetch("/api/requests/stream", { headers: headers(), cache: "no-store", signal: ctl.signal });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    setConn("live", "good");
    await readSSE(resp, (name, data) => {
      if (name !== "request" || ctl.signal.aborted) return;
      addRow(JSON.parse(data), true);
      clearTimeout(statusTimer);
      statusTimer = setTimeout(onRecord, 300);
    });
  } catch (_) { /* reconnect below */ }
  if (ctl.signal.aborted) return; // replaced by a newer connection
  setConn("reconnecting", "warn");
  feedTimer = setTimeout(connectFeed, 2000);
}

function setConn(text, cls) {
  const c = $("conn");
  c.textContent = text;
  c.className = `pill ${cls}`;
}
