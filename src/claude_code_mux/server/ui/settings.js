// The router and settings tabs, and reloading the file.

import { api } from "./api.js";
import { applyWrite } from "./core.js";
import { $, flash, show } from "./dom.js";
import { ROUTES, state } from "./state.js";

const ROUTER_TEXT = [...ROUTES, "auto_map_regex", "background_regex"];

export function renderRouterForm() {
  const r = state.config.router;
  for (const k of ROUTER_TEXT) $(`rf-${k}`).value = r[k] || "";
  $("rf-long_context_threshold").value = r.long_context_threshold;
  $("rf-auto_map").checked = !!r.auto_map;
}

export async function saveRouter(ev) {
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

export function renderServerForm() {
  const s = state.config.server;
  $("sf-host").value = s.host;
  $("sf-port").value = s.port;
  $("sf-log_level").value = s.log_level === "warning" ? "warn" : s.log_level;
}

export async function saveServer(ev) {
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

export async function reloadFile() {
  try {
    applyWrite(await api("POST", "/api/reload"));
    flash("sf-ok", "sf-error", "Reloaded from the file.");
  } catch (e) { show("sf-ok", ""); show("sf-error", e.message); }
}
