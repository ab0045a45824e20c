// The test console: one real request through the router. On failure it shows every attempt with its own
// cause (not only the last candidate's). A client key can be given for passthrough providers.

import { headers, readSSE } from "./api.js";
import { $, el, fmtMs, show } from "./dom.js";
import { state } from "./state.js";

export function renderTestChoices() {
  const sel = $("tc-provider");
  const current = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "any (routing decides)"),
    ...state.config.providers.filter((p) => p.enabled).map((p) => el("option", { value: p.name }, p.name)));
  sel.value = [...sel.options].some((o) => o.value === current) ? current : "";
  if (!$("tc-model").value) $("tc-model").value = state.config.router.default;
}

export function renderTestSummary(s) {
  const rec = s.record || {};
  const meta = $("tc-meta");
  meta.replaceChildren();
  const rows = [
    ["Status", s.status || "–"],
    ["Route", s.route || "–"],
    ["Provider", s.provider || "–"],
    ["Upstream model", s.headers["x-ccm-model"] || rec.model || "–"],
    ["Stop reason", s.stop_reason || "–"],
    ["Latency", `${fmtMs(s.latency_ms)} (first byte ${fmtMs(s.ttfb_ms)})`],
    ["Tokens in/out", s.usage && s.usage.input_tokens !== undefined ? `${s.usage.input_tokens}/${s.usage.output_tokens}` : "–"],
    ["Request id", s.headers["x-ccm-request-id"] || rec.request_id || "–"],
  ];
  for (const [k, v] of rows) meta.append(el("dt", {}, k), el("dd", { dataset: { field: k.toLowerCase().replace(/ /g, "-") } }, v));
  const att = $("tc-attempts");
  att.replaceChildren();
  const attempts = rec.attempts || [];
  attempts.forEach((a, i) => att.append(el("tr", { class: a.error ? "bad" : "" },
    el("td", {}, i + 1), el("td", {}, a.provider), el("td", {}, a.model), el("td", {}, a.status ?? "–"), el("td", {}, a.error || ""))));
  if (!attempts.length) att.append(el("tr", {}, el("td", { colspan: 5, class: "muted" },
    s.record ? "no upstream attempt (refused before routing)" : "no record of this request")));
  if (s.error) show("tc-error", s.error);
}

export async function sendTest(ev) {
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
  const clientKey = $("tc-client-key").value.trim();
  if (clientKey) body.client_key = clientKey;
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
