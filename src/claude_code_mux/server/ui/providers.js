// The providers tab: list, add, edit, delete.

import { api } from "./api.js";
import { applyWrite } from "./core.js";
import { $, el, flash, show } from "./dom.js";
import { state } from "./state.js";

let select = () => {};
export function setTabSelector(fn) { select = fn; }

export function renderPresets() {
  const sel = $("pf-preset");
  sel.replaceChildren(el("option", { value: "" }, "(choose a preset)"));
  const dl = $("preset-names");
  dl.replaceChildren();
  for (const p of state.presets) {
    sel.append(el("option", { value: p.name }, `${p.name} (${p.dialect})`));
    dl.append(el("option", { value: p.name }));
  }
}

export function presetByName(name) { return state.presets.find((p) => p.name === name); }

export function renderProviders() {
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

export function resetProviderForm() {
  state.editingProvider = null;
  $("provider-form").reset();
  $("pf-title").textContent = "Add a provider";
  $("pf-name").disabled = false;
  $("pf-enabled").checked = true;
  $("pf-base-url").placeholder = "preset default";
  $("pf-key").placeholder = "$ENV_VAR or the key";
  show("pf-error", "");
}

export function editProvider(name) {
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
  $("pf-oauth").value = p.oauth_provider || "";
  $("pf-project").value = p.project || "";
  $("pf-location").value = p.location || "";
  $("pf-credentials").value = p.credentials_file || "";
  $("pf-proxy").value = p.proxy || "";  // masked ("********" keeps the stored one)
  $("pf-models").value = (p.models || []).join(", ");
  $("pf-enabled").checked = p.enabled;
  show("pf-error", "");
  select("providers");
  $("pf-name").focus();
}

export async function saveProvider(ev) {
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
  for (const [id, field] of [["pf-oauth", "oauth_provider"], ["pf-project", "project"], ["pf-location", "location"],
    ["pf-credentials", "credentials_file"], ["pf-proxy", "proxy"]]) {
    body[field] = $(id).value.trim() || null;
  }
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

export async function deleteProvider(name) {
  if (!confirm(`Delete provider ${name}?`)) return;
  try {
    applyWrite(await api("DELETE", `/api/providers/${encodeURIComponent(name)}`));
    show("provider-list-error", "");
  } catch (e) { show("provider-list-error", e.message); }
}

export function onPresetChange() {
  const p = presetByName($("pf-preset").value);
  if (!p) return;
  $("pf-type").value = p.name;
  $("pf-base-url").placeholder = p.base_url;
  if (!$("pf-name").value && !state.editingProvider) $("pf-name").value = p.name.replace(/[^A-Za-z0-9_.-]/g, "-");
  if (!p.needs_key && $("pf-auth").value === "apikey") $("pf-key").placeholder = "not needed for this preset";
  else $("pf-key").placeholder = "$ENV_VAR or the key";
}
