"""Values produced by routing: the decision (which rule fired and why) and the upstream candidates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Which rule fired, why, and the model name it chose (a ``[[models]]`` name or provider model)."""

    rule: str
    reason: str
    model: str
    # The request body after documented edits (subagent tag removed, prompt-rule strip, hygiene),
    # or None when the body is forwarded unchanged except ``model``.
    edited_body: dict[str, Any] | None = None
    # Restrict candidates to this provider (X-Provider header or "provider,model" syntax).
    provider: str | None = None
    trace: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        """What ``x-ccm-route`` shows, e.g. ``long_context:72431>60000``."""
        return f"{self.rule}:{self.reason}" if self.reason else self.rule


@dataclass(frozen=True, slots=True)
class Candidate:
    """One upstream target: a provider name and the model id to send it."""

    provider: str
    upstream_model: str
    priority: int = 1
    # The credential of a pooled provider (an OAuth login id or a key's name); None: the provider's only one.
    account: str | None = None
