"""Provider health: cooldowns after failures, so a failing target is skipped while a healthy one exists."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


def model_family(model: str) -> str:
    """Anthropic rate limits are per model family (opus/sonnet/haiku); others per model."""
    low = model.lower()
    for fam in ("opus", "sonnet", "haiku"):
        if fam in low:
            return fam
    return low


@dataclass
class Health:
    clock: Callable[[], float] = time.monotonic
    base_cooldown_s: float = 5.0
    max_cooldown_s: float = 300.0
    _until: dict[tuple[str, str], float] = field(default_factory=dict)
    _failures: dict[tuple[str, str], int] = field(default_factory=dict)
    # Told of every cooldown set here (provider key, family, seconds), e.g. to share it with a fleet.
    on_cooldown: Callable[[str, str, float], None] | None = None

    def _key(self, provider: str, model: str | None) -> tuple[str, str]:
        return (provider, model_family(model) if model else "*")

    def record_failure(self, provider: str, model: str | None, retry_after_s: float | None = None) -> float:
        """Cool a target down; repeated failures back off exponentially. Returns the cooldown."""
        key = self._key(provider, model)
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        cool = retry_after_s if retry_after_s else min(self.base_cooldown_s * 2 ** (n - 1), self.max_cooldown_s)
        cool = min(cool, self.max_cooldown_s)
        self._until[key] = self.clock() + cool
        if self.on_cooldown is not None:
            self.on_cooldown(key[0], key[1], cool)
        return cool

    def apply_cooldown(self, provider: str, family: str, seconds: float) -> None:
        """A cooldown another instance set (never re-announced); the longer of the two wins."""
        key = (provider, family)
        until = self.clock() + max(seconds, 0.0)
        if until > self._until.get(key, 0.0):
            self._until[key] = until
            self._failures[key] = max(self._failures.get(key, 0), 1)

    def record_success(self, provider: str, model: str | None) -> None:
        if not self._failures:  # the usual case: nothing to forget
            return
        key = self._key(provider, model)
        if key in self._failures:
            self._failures.pop(key, None)
            self._until.pop(key, None)
        pkey = (provider, "*")
        if pkey in self._failures:
            self._failures.pop(pkey, None)
            self._until.pop(pkey, None)

    def cooling(self, provider: str, model: str | None) -> float:
        """Seconds left of this target's cooldown (0 when healthy)."""
        now = self.clock()
        left = 0.0
        for key in ((provider, "*"), self._key(provider, model)):
            until = self._until.get(key)
            if until is not None:
                left = max(left, until - now)
        return max(left, 0.0)

    def snapshot(self) -> list[dict[str, object]]:
        now = self.clock()
        out: list[dict[str, object]] = []
        for (prov, fam), until in sorted(self._until.items()):
            out.append(
                {
                    "provider": prov,
                    "family": fam,
                    "failures": self._failures.get((prov, fam), 0),
                    "cooldown_remaining_s": round(max(until - now, 0.0), 3),
                }
            )
        return out
