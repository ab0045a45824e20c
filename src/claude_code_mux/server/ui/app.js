// claude-code-mux admin UI: native ES modules, no build step, no CDN. Every change is saved to the server
// (which writes config.toml and applies it at once); the page only ever shows what the server returns.
// This module is the entry point: tabs, first load, and wiring the forms to the tab modules.

import { api } from "./api.js";
import { sendTest, renderTestChoices } from "./console.js";
import { applyConfig, onConfig, refreshStatus } from "./core.js";
import { $, show } from "./dom.js";
import { connectFeed, loadRecent, whenRecords } from "./feed.js";
import * as models from "./models.js";
import { initOAuth, loadTokens, oauthLogin, oauthSubmit } from "./oauth.js";
import { applyAccounts, applyStatus } from "./overview.js";
import * as providers from "./providers.js";
import { reloadFile, renderRouterForm, renderServerForm, saveRouter, saveServer } from "./settings.js";
import { state } from "./state.js";
import { createKey, loadUsage } from "./usage.js";

function selectTab(name) {
  const tabs = [...document.querySelectorAll("section.tab")].map((s) => s.id);
  if (!tabs.includes(name)) name = "overview";
  for (const id of tabs) $(id).hidden = id !== name;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (name === "oauth") loadTokens();
  if (name === "usage") loadUsage();
}

async function loadAll() {
  try {
    const [cfg, status, presets, accounts] = await Promise.all([
      api("GET", "/api/config"), api("GET", "/api/status"), api("GET", "/api/presets"), api("GET", "/api/accounts"),
    ]);
    state.presets = presets.presets;
    applyConfig(cfg);
    applyStatus(status);
    applyAccounts(accounts);
    providers.renderPresets();
    show("banner", "");
  } catch (e) {
    show("banner", e.message);
  }
}

function init() {
  onConfig(providers.renderProviders);
  onConfig(models.renderModels);
  onConfig(models.refreshMappingSelects);
  onConfig(renderRouterForm);
  onConfig(renderServerForm);
  onConfig(renderTestChoices);
  providers.setTabSelector(selectTab);
  models.setTabSelector(selectTab);
  whenRecords(refreshStatus);

  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  window.addEventListener("hashchange", () => selectTab(location.hash.slice(1)));
  const keyInput = $("admin-key");
  keyInput.value = sessionStorage.getItem("ccm-admin-key") || "";
  keyInput.addEventListener("change", () => {
    if (keyInput.value) sessionStorage.setItem("ccm-admin-key", keyInput.value);
    else sessionStorage.removeItem("ccm-admin-key");
    loadAll(); loadRecent(); connectFeed(); // connectFeed aborts the feed opened with the previous key
  });
  $("provider-form").addEventListener("submit", providers.saveProvider);
  $("pf-cancel").addEventListener("click", providers.resetProviderForm);
  $("pf-preset").addEventListener("change", providers.onPresetChange);
  $("model-form").addEventListener("submit", models.saveModel);
  $("mf-cancel").addEventListener("click", models.resetModelForm);
  $("mf-add-mapping").addEventListener("click", () => $("mf-mappings").append(models.mappingRow(null)));
  $("router-form").addEventListener("submit", saveRouter);
  $("server-form").addEventListener("submit", saveServer);
  $("sf-reload").addEventListener("click", reloadFile);
  $("test-form").addEventListener("submit", sendTest);
  $("oa-login").addEventListener("click", oauthLogin);
  $("oa-submit").addEventListener("click", oauthSubmit);
  initOAuth();
  $("uk-form").addEventListener("submit", createKey);
  $("us-since").addEventListener("change", loadUsage);
  selectTab(location.hash.slice(1));
  loadAll().then(() => { if (!$("mf-mappings").children.length) models.resetModelForm(); });
  loadRecent();
  connectFeed();
  setInterval(refreshStatus, 15000);
}

init();
