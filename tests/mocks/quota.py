"""Per-account subscription quotas for the mock Anthropic API, as the real API reports them.

Each account (known by its OAuth bearer or API key) has a 5-hour window, a 7-day window and per-family weekly
windows (``7d-opus``, ``7d-sonnet``…). Every ``/v1/messages`` answer for a known account carries the
``anthropic-ratelimit-unified-*`` headers computed from the account's counters; each served request adds
``per_request`` to the 5h and 7d windows and to its family's weekly window. At or over 1.0 the account is
``rejected``: a 429 ``rate_limit_error`` with the same headers (no retry-after: the real API often sends none).

Control (JSON): ``POST /_mock/quota`` ``{"account": TOKEN, "window": "5h", "utilization": 0.95}`` sets a
counter; ``POST /_mock/quota/reset`` ``{"account": TOKEN, "window": "5h"}`` (window optional = all) moves that
window to its reset: utilization 0 and a new reset time. ``GET /_mock/quota`` shows every account.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

_P = "anthropic-ratelimit-unified-"
_LENGTH = {"5h": 5 * 3600.0}
_WEEK = 7 * 86400.0
_CLAIM = {"5h": "five_hour", "7d": "seven_day"}


def family_of(model: str) -> str:
    low = model.lower()
    for fam in ("opus", "sonnet", "haiku"):
        if fam in low:
            return fam
    return "other"


@dataclass
class AccountQuota:
    per_request: float = 0.01
    warn_at: float = 0.8
    util: dict[str, float] = field(default_factory=dict)
    resets: dict[str, float] = field(default_factory=dict)
    served: int = 0

    def _reset_of(self, window: str, now: float) -> float:
        r = self.resets.get(window)
        if r is not None and r <= now:  # the window has reset: empty again
            self.util[window] = 0.0
        if r is None or r <= now:
            r = self.resets[window] = now + _LENGTH.get(window, _WEEK)
        return r

    def windows_for(self, family: str) -> list[str]:
        return ["5h", "7d", f"7d-{family}"]

    def rejected(self, family: str) -> str | None:
        """The first window at or over 1.0 for this family, or None."""
        for w in self.windows_for(family):
            if self.util.get(w, 0.0) >= 1.0:
                return w
        return None

    def charge(self, family: str) -> None:
        self.served += 1
        for w in self.windows_for(family):
            self.util[w] = round(self.util.get(w, 0.0) + self.per_request, 6)

    def usage_body(self, now: float) -> dict[str, Any]:
        """What ``GET /api/oauth/usage`` answers: utilization in percent, ``resets_at`` in ISO 8601."""
        import datetime as _dt

        out: dict[str, Any] = {}
        for w in ["5h", "7d", *sorted(k for k in self.util if k.startswith("7d-"))]:
            reset = self._reset_of(w, now)
            name = _CLAIM.get(w) or "seven_day_" + w.split("-", 1)[1]
            out[name] = {
                "utilization": round(self.util.get(w, 0.0) * 100, 2),
                "resets_at": _dt.datetime.fromtimestamp(reset, _dt.UTC).isoformat(),
            }
        return out

    def headers(self, family: str, now: float) -> dict[str, str]:
        out: dict[str, str] = {}
        worst: tuple[float, str] = (-1.0, "5h")
        statuses: list[str] = []
        for w in self.windows_for(family):
            u = self.util.get(w, 0.0)
            reset = self._reset_of(w, now)
            st = "rejected" if u >= 1.0 else "allowed_warning" if u >= self.warn_at else "allowed"
            statuses.append(st)
            out[f"{_P}{w}-utilization"] = f"{u:.4g}"
            out[f"{_P}{w}-reset"] = str(int(reset))
            out[f"{_P}{w}-status"] = st
            if u > worst[0]:
                worst = (u, w)
        overall = (
            "rejected" if "rejected" in statuses else "allowed_warning" if "allowed_warning" in statuses else "allowed"
        )
        w = worst[1]
        out[_P + "status"] = overall
        out[_P + "reset"] = str(int(self._reset_of(w, now)))
        out[_P + "representative-claim"] = _CLAIM.get(w) or "seven_day_" + w.split("-", 1)[1]
        out[_P + "overage-status"] = "rejected"
        out[_P + "overage-disabled-reason"] = "org_level_disabled"
        return out


@dataclass
class Quotas:
    """Accounts by token; unknown tokens carry no quota (API keys without a plan)."""

    accounts: dict[str, AccountQuota] = field(default_factory=dict)
    clock: Any = time.time

    def add(self, token: str, per_request: float = 0.01) -> AccountQuota:
        acc = self.accounts[token] = AccountQuota(per_request=per_request)
        return acc

    def control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        if path == "/_mock/quota/reset":
            acc = self.accounts[str(body["account"])]
            windows = [body["window"]] if body.get("window") else list(acc.util)
            for w in windows:
                acc.util[w] = 0.0
                acc.resets[w] = now + _LENGTH.get(w, _WEEK)
        elif path == "/_mock/quota" and body:
            token = str(body["account"])
            acc = self.accounts.get(token) or self.add(token)
            if "per_request" in body:
                acc.per_request = float(body["per_request"])
            if "window" in body:
                acc.util[str(body["window"])] = float(body["utilization"])
        return {
            t[:12]: {"served": a.served, "util": dict(a.util), "resets": dict(a.resets)}
            for t, a in self.accounts.items()
        }
