"""Expanding a route's candidates over each provider's accounts, sticky by session, quota-aware.

``AccountRouter`` holds the account book (quota readings), each pooled provider's :class:`Pool`, and the
sticky-session table. For one request it turns ``[Candidate(provider, model)]`` into candidates that name an
account, pinned session first; after the request it is told which account served (to pin the session) and
every answer's headers (to keep the readings). No I/O: the caller passes the time and the headers.

Pins are kept only for pooled providers (subscription accounts, key pools). A session served by a plain
mapping (e.g. the API-key fallback) is not pinned, so it returns to the subscription when its window resets.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from claude_code_mux.accounts.book import HARD, AccountBook, AccountState, local_hhmm
from claude_code_mux.accounts.pool import Pool
from claude_code_mux.accounts.quota import QuotaReading, parse_headers
from claude_code_mux.accounts.sticky import Pin, StickyTable
from claude_code_mux.errors import RateLimited
from claude_code_mux.routing.types import Candidate


def health_key(provider: str, account: str | None) -> str:
    """Cooldowns of a pooled provider are per account: one account's 529 does not cool the others."""
    return provider if account is None else f"{provider}#{account}"


@dataclass(frozen=True, slots=True)
class Expansion:
    candidates: list[Candidate]
    session: str | None
    pin: Pin | None  # the session's pin before this request
    moved_reason: str | None = None  # why the pinned account is not first ("quota", "removed")


@dataclass
class AccountRouter:
    pools: dict[str, Pool]
    book: AccountBook
    sticky: StickyTable
    log: Callable[[str], None] = lambda _msg: None
    clock_fmt: Callable[[float], str] = local_hhmm
    clock: Callable[[], float] = time.time  # epoch seconds: reset times are wall-clock
    # Told of every quota reading and pin made here (to share them with a fleet).
    on_reading: Callable[[str, str, Mapping[str, str], float], None] | None = None
    on_pin: Callable[[str, str, str, float], None] | None = None

    def expand(
        self,
        cands: Sequence[Candidate],
        session: str | None,
        now: float,
        cooling: Callable[[str, str], float] | None = None,
    ) -> Expansion:
        """Candidates with accounts: the session's pinned account first, hard-limited accounts left out, and
        accounts cooling down after a failure (``cooling(health_key, model) > 0``) after the healthy ones."""
        pin = self.sticky.get(session, now) if session else None
        out: list[Candidate] = []
        moved: str | None = None
        blocked: list[tuple[str, AccountState]] = []
        for cand in cands:
            pool = self.pools.get(cand.provider)
            if pool is None:
                out.append(cand)
                continue
            accounts = pool.order(self.book, cand.upstream_model, now, new_session=True)
            if pin is not None and pin.provider == cand.provider:
                if pin.account not in pool.accounts:
                    moved = "removed"
                elif self.book.state(pin.account, cand.upstream_model, now).state == HARD:
                    moved = "quota"
                else:
                    accounts = [pin.account, *(a for a in accounts if a != pin.account)]
            if cooling is not None:
                warm = [a for a in accounts if cooling(health_key(cand.provider, a), cand.upstream_model) <= 0]
                accounts = warm + [a for a in accounts if a not in warm]
            for acc in pool.accounts:
                if acc not in accounts:
                    blocked.append((acc, self.book.state(acc, cand.upstream_model, now)))
            out.extend(dataclasses.replace(cand, account=a) for a in accounts)
        if not out and blocked:
            soonest = min((st.until for _, st in blocked if st.until), default=now + 60)
            names = ", ".join(sorted({a for a, _ in blocked}))
            raise RateLimited(
                f"every subscription account for this model is over its limit ({names}); the first window resets "
                f"at {self.clock_fmt(soonest)} — add an API-key mapping to keep working until then",
                headers={"retry-after": str(max(1, math.ceil(soonest - now)))},
            )
        return Expansion(out, session, pin, moved)

    def served(self, exp: Expansion, cand: Candidate, now: float) -> str:
        """Pin the session to the account that answered; the ``x-ccm-sticky`` value (empty: no pool)."""
        if cand.account is None or cand.provider not in self.pools:
            return ""
        if exp.session is not None:
            made = self.sticky.pin(exp.session, cand.provider, cand.account, now)
            if self.on_pin is not None:
                self.on_pin(exp.session, made.provider, made.account, made.expires)
        pin = exp.pin
        if pin is None or pin.provider != cand.provider:
            return "new"
        if pin.account == cand.account:
            return "hit"
        reason = exp.moved_reason or "failover"
        if exp.session is not None:
            self.log(f"session {exp.session[:16]} moved from {pin.account} to {cand.account} ({reason})")
        return f"moved:{reason}"

    def observe(self, cand: Candidate, headers: Mapping[str, str], now: float) -> None:
        """Keep the quota reading an answer carried (success or failure), logging state changes."""
        if cand.account is None:
            return
        reading = parse_headers(headers, now)
        if reading is None:
            return
        self.apply_reading(cand.account, cand.upstream_model, reading)
        if self.on_reading is not None:
            unified = {k: v for k, v in headers.items() if k.startswith("anthropic-ratelimit-unified-")}
            self.on_reading(cand.account, cand.upstream_model, unified, now)

    def apply_reading(self, account: str, model: str, reading: QuotaReading) -> None:
        """Keep a reading (made here or by another instance), logging a change of state once."""
        changed = self.book.record(account, model, reading)
        if changed is not None:
            self.log(changed.describe(account, self.clock_fmt))
