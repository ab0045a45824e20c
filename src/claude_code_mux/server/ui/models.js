// The models tab: list, add, edit (with mapping rows), delete.

import { api } from "./api.js";
import { applyWrite } from "./core.js";
import { $, el, flash, show } from "./dom.js";
import { state } from "./state.js";

let select = () => {};
export function setTabSelector(fn) { select = fn; }

export function renderModels() {
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

export function refreshMappingSelects() {
  const providers = state.config.providers.map((p) => p.name);
  for (const sel of document.querySelectorAll("#mf-mappings .mp-provider")) {
    const current = sel.value;
    sel.replaceChildren(...providers.map((n) => el("option", { value: n }, n)));
    if (current && !providers.includes(current)) sel.append(el("option", { value: current }, current));
    if (current) sel.value = current;
  }
}

export function mappingRow(mp) {
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

export function resetModelForm() {
  state.editingModel = null;
  $("model-form").reset();
  $("mf-title").textContent = "Add a model";
  $("mf-mappings").replaceChildren(mappingRow(null));
  show("mf-error", "");
}

export function editModel(name) {
  const m = state.config.models.find((x) => x.name === name);
  if (!m) return;
  state.editingModel = name;
  $("mf-title").textContent = `Edit model ${name}`;
  $("mf-name").value = m.name;
  $("mf-ctx").value = m.context_window || "";
  $("mf-mappings").replaceChildren(...m.mappings.map(mappingRow));
  show("mf-error", "");
  select("models");
}

export async function saveModel(ev) {
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

export async function deleteModel(name) {
  if (!confirm(`Delete model ${name}?`)) return;
  try {
    applyWrite(await api("DELETE", `/api/models/${encodeURIComponent(name)}`));
    show("model-list-error", "");
  } catch (e) { show("model-list-error", e.message); }
}
