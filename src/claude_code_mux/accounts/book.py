"""The account book: the latest quota reading per account and model family, and what it means for routing.

An account is in one of three states for a model family:

- ``ok``: take any traffic;
- ``soft``: a window's utilization reached ``soft_limit``: no *new* sessions, pinned sessions stay;
- ``hard``: a window reached ``hard_limit`` or Anthropic said ``rejected``: no traffic at all, pinned sessions move.

A state other than ``ok`` lasts until the binding window's reset time (never a ``retry-after``), then lifts on
its own. Limits are per family: a rejected Opus weekly window leaves Sonnet usable. No I/O; time is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from claude_code_mux.accounts.quota import QuotaReading, Window, window_family
from claude_code_mux.routing.health import model_family

OK, SOFT, HARD = "ok", "soft", "hard"


@dataclass(frozen=True, slots=True)
class Limits:
    soft: float = 0.9
    hard: float = 0.98


@dataclass(frozen=True, slots=True)
class AccountState:
    state: str  # ok / soft / hard
    until: float | None = None  # when it lifts (epoch s)
    window: str | None = None  # the binding window, e.g. "5h"
    utilization: float | None = None  # of that window

    def describe(self, account: str, clock_fmt: Callable[[float], str]) -> str:
        if self.state == OK:
            return f"{account}: back in service"
        what = f"{self.window} at {round((self.utilization or 0) * 100)} %" if self.window else "rejected"
        if self.utilization is None and self.window:
            what = f"{self.window} rejected"
        goes = "new sessions go elsewhere" if self.state == SOFT else "all traffic goes elsewhere"
        until = f" until {clock_fmt(self.until)}" if self.until else ""
        return f"{account}: {what} → {goes}{until}"


def local_hhmm(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


@dataclass
class AccountBook:
    """Readings per (account, family); global windows (5h, 7d) are shared by every family of an account."""

    limits: Limits = field(default_factory=Limits)
    per_account: dict[str, Limits] = field(default_factory=dict)
    _readings: dict[tuple[str, str], QuotaReading] = field(default_factory=dict)
    _last_state: dict[tuple[str, str], str] = field(default_factory=dict)
    _seq: dict[tuple[str, str], int] = field(default_factory=dict)  # order of arrival: ties in time go to the later
    _n: int = 0

    def limits_for(self, account: str) -> Limits:
        return self.per_account.get(account, self.limits)

    def record(self, account: str, model: str, reading: QuotaReading) -> AccountState | None:
        """Keep a reading; returns the new state when it changed for this family (for one log line)."""
        fam = model_family(model)
        self._readings[(account, fam)] = reading
        self._n += 1
        self._seq[(account, fam)] = self._n
        st = self.state(account, model, reading.at)
        key = (account, fam)
        if self._last_state.get(key, OK) != st.state:
            self._last_state[key] = st.state
            return st
        return None

    def readings(self, account: str) -> dict[str, QuotaReading]:
        return {fam: r for (acc, fam), r in self._readings.items() if acc == account}

    def windows(self, account: str, family: str | None, now: float) -> dict[str, Window]:
        """The current windows that apply to ``family`` (all when None): the newest reading of each wins."""
        out: dict[str, tuple[tuple[float, int], Window]] = {}
        for (acc, fam_key), r in self._readings.items():
            if acc != account:
                continue
            order = (r.at, self._seq.get((acc, fam_key), 0))
            for name, w in r.windows.items():
                wf = window_family(name)
                if family is not None and wf is not None and wf != family:
                    continue
                if w.reset is not None and w.reset <= now:
                    continue  # that window has reset since
                prev = out.get(name)
                if prev is None or prev[0] < order:
                    out[name] = (order, w)
        return {k: v for k, (_, v) in out.items()}

    def state(self, account: str, model: str, now: float) -> AccountState:
        fam = model_family(model)
        lim = self.limits_for(account)
        worst = AccountState(OK)
        # An explicit rejection binds until its reset.
        for (acc, _f), r in self._readings.items():
            if acc != account:
                continue
            until = r.rejected_until(fam)
            if until is not None and until > now:
                cand = AccountState(HARD, until, r.claim, None)
                if worst.state != HARD or (worst.until or 0) < until:
                    worst = cand
        for name, w in self.windows(account, fam, now).items():
            u = w.utilization
            if w.status == "rejected" and w.reset is not None and w.reset > now:
                st = HARD
            elif u is None:
                continue
            elif u >= lim.hard:
                st = HARD
            elif u >= lim.soft:
                st = SOFT
            else:
                continue
            rank = {OK: 0, SOFT: 1, HARD: 2}
            if rank[st] > rank[worst.state] or (st == worst.state and (w.reset or 0) > (worst.until or 0)):
                worst = AccountState(st, w.reset, name, u)
        return worst

    def utilization(self, account: str, model: str, now: float) -> float:
        """The fullest applicable window (0 when nothing is known): what ``least_utilized`` sorts by."""
        fam = model_family(model)
        vals = [w.utilization for w in self.windows(account, fam, now).values() if w.utilization is not None]
        return max(vals, default=0.0)
