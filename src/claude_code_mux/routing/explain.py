"""A human-readable routing trace (``ccm route explain``): every rule, the decision, edits and candidates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claude_code_mux.config.schema import Config
from claude_code_mux.errors import HttpError
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.routing.health import Health
from claude_code_mux.routing.plan import plan
from claude_code_mux.routing.rules import decide, header_safe


def explain(body: dict[str, Any], headers: Mapping[str, str], cfg: Config, health: Health | None = None) -> str:
    """The full decision trace for a request, without sending anything. Never raises on routing errors."""
    r = cfg.router
    model = body.get("model")
    lines = [
        f"request model: {model!r}",
        f"x-provider:    {headers.get('x-provider') or '-'}",
        f"estimate:      {estimate_tokens(body)} input tokens (long_context_threshold {r.long_context_threshold})",
        f"rule order:    {', '.join(x for x in r.order if x not in r.disabled) or '-'}"
        + (f" (disabled: {', '.join(r.disabled)})" if r.disabled else ""),
        "rules:",
    ]
    try:
        decision = decide(body, headers, cfg, full_trace=True)
    except HttpError as exc:
        lines.append(f"  error {exc.status} {exc.error_type}: {header_safe(exc.message, 1000)}")
        lines.append("decision: none (the request would be rejected)")
        return "\n".join(lines) + "\n"
    lines.extend(f"  {line}" for line in decision.trace)
    lines.append(f"decision: x-ccm-route: {decision.label}")
    lines.append(f"  model:    {decision.model!r}")
    if decision.provider:
        lines.append(f"  provider: {decision.provider!r} (X-Provider restricts the candidates)")
    lines.append(f"  body:     {'edited (see edit: lines above)' if decision.edited_body else 'unchanged'}")
    try:
        cands = plan(decision, cfg, health)
    except HttpError as exc:
        lines.append(f"candidates: error {exc.status} {exc.error_type}: {exc.message}")
        return "\n".join(lines) + "\n"
    lines.append("candidates (tried in order):")
    for i, c in enumerate(cands, 1):
        cooling = health.cooling(c.provider, c.upstream_model) if health is not None else 0.0
        extra = f", cooling down {cooling:.1f}s" if cooling > 0 else ""
        lines.append(f"  {i}. {c.provider} -> {c.upstream_model} (priority {c.priority}{extra})")
    return "\n".join(lines) + "\n"
