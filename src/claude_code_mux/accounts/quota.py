"""Subscription quota readings: what Anthropic says about an account's windows, parsed without I/O.

Every OAuth-authenticated answer (200 or 429) carries ``anthropic-ratelimit-unified-*`` headers:

- ``-status`` (``allowed`` / ``allowed_warning`` / ``rejected``), ``-reset`` (epoch s) and
  ``-representative-claim`` (``five_hour``, ``seven_day``, ``seven_day_opus``, …): the binding window;
- per window ``-<w>-utilization`` (fraction 0–1), ``-<w>-reset``, ``-<w>-status`` for ``5h``, ``7d`` and the
  per-family weekly windows ``7d-<family>`` (``7d-sonnet``, ``7d-opus``, …; read generically);
- ``-overage-status`` / ``-overage-utilization``: pay-as-you-go extra usage, not a window.

``GET /api/oauth/usage`` answers the same in JSON (``five_hour``, ``seven_day``, ``seven_day_<family>``, each
``{utilization (percent), resets_at (ISO 8601)}``). Both become a :class:`QuotaReading`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_PREFIX = "anthropic-ratelimit-unified-"
_WINDOW_HEADER = re.compile(r"^anthropic-ratelimit-unified-(5h|7d(?:-[a-z0-9_]+)?)-(utilization|reset|status)$")
# The representative claim's spelling -> our window name.
_CLAIMS = {"five_hour": "5h", "seven_day": "7d"}


def claim_window(claim: str) -> str:
    """``five_hour`` -> ``5h``, ``seven_day`` -> ``7d``, ``seven_day_opus`` -> ``7d-opus``."""
    claim = claim.strip().lower()
    if claim in _CLAIMS:
        return _CLAIMS[claim]
    if claim.startswith("seven_day_"):
        return "7d-" + claim[len("seven_day_") :]
    if claim.startswith("five_hour_"):
        return "5h-" + claim[len("five_hour_") :]
    return claim


def window_family(window: str) -> str | None:
    """The model family a window limits (``7d-opus`` -> ``opus``), None for a window over every model."""
    _, _, fam = window.partition("-")
    return fam or None


@dataclass(frozen=True, slots=True)
class Window:
    """One rate-limit window: how full it is and when it resets."""

    utilization: float | None = None  # fraction 0-1
    reset: float | None = None  # epoch seconds
    status: str | None = None  # allowed / allowed_warning / rejected


@dataclass(frozen=True, slots=True)
class QuotaReading:
    """The latest word on one account: overall status and each window."""

    at: float  # when it was read (epoch s)
    status: str | None = None
    reset: float | None = None
    claim: str | None = None  # our window name of the representative claim, e.g. "5h"
    windows: Mapping[str, Window] = field(default_factory=dict)
    overage_status: str | None = None
    overage_utilization: float | None = None

    def applies_to(self, window: str, family: str) -> bool:
        fam = window_family(window)
        return fam is None or fam == family

    def rejected_until(self, family: str) -> float | None:
        """When a ``rejected`` status that binds ``family`` lifts (None: not rejected for it)."""
        out: float | None = None
        if self.status == "rejected":
            binding = self.claim or "5h"
            if self.applies_to(binding, family):
                out = self.reset or (self.windows.get(binding) or Window()).reset
                if out is None:
                    out = self.at + 60.0  # rejected with no reset time: look again in a minute
        for name, w in self.windows.items():
            if w.status == "rejected" and self.applies_to(name, family):
                until = w.reset or self.at + 60.0
                out = until if out is None else max(out, until)
        return out


def _float(v: str | None) -> float | None:
    if v is None:
        return None
    try:
        f = float(v.strip())
    except ValueError:
        return None
    return f if f == f else None  # NaN is no reading


def parse_headers(headers: Mapping[str, str], now: float) -> QuotaReading | None:
    """The reading carried by one answer's headers (names lower-cased), None when it carries none."""
    if not any(k.startswith(_PREFIX) for k in headers):
        return None
    parts: dict[str, dict[str, str]] = {}
    for name, value in headers.items():
        m = _WINDOW_HEADER.match(name)
        if m:
            parts.setdefault(m.group(1), {})[m.group(2)] = value
    windows = {
        w: Window(_util(p.get("utilization")), _float(p.get("reset")), (p.get("status") or "").strip() or None)
        for w, p in parts.items()
    }
    claim = headers.get(_PREFIX + "representative-claim")
    status = (headers.get(_PREFIX + "status") or "").strip() or None
    return QuotaReading(
        at=now,
        status=status,
        reset=_float(headers.get(_PREFIX + "reset")),
        claim=claim_window(claim) if claim else None,
        windows=windows,
        overage_status=(headers.get(_PREFIX + "overage-status") or "").strip() or None,
        overage_utilization=_util(headers.get(_PREFIX + "overage-utilization")),
    )


def _util(v: str | None) -> float | None:
    f = _float(v)
    if f is None:
        return None
    return max(0.0, min(f, 10.0))


def parse_usage_body(data: Any, now: float) -> QuotaReading | None:
    """A reading from ``GET /api/oauth/usage`` (utilization in percent, ``resets_at`` ISO 8601)."""
    if not isinstance(data, dict):
        return None
    windows: dict[str, Window] = {}
    for key, val in data.items():
        if not isinstance(val, dict) or not isinstance(key, str):
            continue
        if key not in _CLAIMS and not key.startswith(("seven_day_", "five_hour_")):
            continue
        util = val.get("utilization")
        resets = val.get("resets_at")
        u = float(util) / 100.0 if isinstance(util, int | float) and not isinstance(util, bool) else None
        windows[claim_window(key)] = Window(u, _iso(resets), None)
    if not windows:
        return None
    return QuotaReading(at=now, windows=windows)


def _iso(v: Any) -> float | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
