// Applying what the server returns: the config (each tab registers its renderer) and the status.

import { api } from "./api.js";
import { $, show } from "./dom.js";
import { applyStatus, refreshAccounts } from "./overview.js";
import { state } from "./state.js";

const renderers = [];

// Register a function that redraws part of the page from state.config.
export function onConfig(fn) { renderers.push(fn); }

export function applyConfig(data) {
  state.config = data.config;
  show("file-error", data.file_error ? `The config file does not load (the previous config keeps serving): ${data.file_error}` : "");
  for (const render of renderers) render();
  $("config-json").textContent = JSON.stringify(data.config, null, 2);
}

// A write answered with the new state: show it, and refresh the status that depends on it.
export function applyWrite(data) {
  applyConfig(data);
  refreshStatus();
  if (data.reloaded === false) show("banner", "Saved, but the running config was not reloaded; see the server log.");
  else show("banner", "");
}

export async function refreshStatus() {
  try { applyStatus(await api("GET", "/api/status")); } catch (e) { show("banner", e.message); }
  refreshAccounts();
}
