"""The one object the HTTP server calls for keys, budgets and cost. Framework-free; one per server process.

The request path, in order (``headers`` with lower-case names):

1. ``identity = gate.authenticate(headers)`` instead of ``check_client_auth`` (401 :class:`AuthenticationFailed`)
2. ``gate.check_model(identity, body_model)`` (403 :class:`PermissionDenied`)
3. ``gate.rate_limit(identity)`` -> ``(client, rps, burst)`` or None, for the per-client token bucket
4. routing as today: ``decision = decide(...)``, ``candidates = plan(decision, cfg, health)``
5. ``decision, candidates, ticket = await gate.admit(identity, headers, session_id, decision, candidates,
   input_tokens, max_tokens, replan)`` (429 :class:`RateLimited` / 403 :class:`PermissionDenied` when a budget
   blocks; a downgraded decision has the label ``budget:downgrade`` and re-planned candidates)
6. dispatch
7. always, also after a failure: ``await gate.settle(ticket, usage, provider, model, client_model)``
8. the request's record: ``RequestRecord(client=identity.client, extra=gate.record_extra(identity, headers))``
   so the usage row gets ``key_name`` and ``project``

Lifecycle: ``await gate.start()`` after the app starts (reads keys.db, then watches it), ``gate.update(cfg)``
on every config reload, ``await gate.close()`` on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from claude_code_mux.access.identity import Identity, KeyRing, check_model, rate_limit
from claude_code_mux.access.keystore import FILENAME, KeyStore
from claude_code_mux.budgets.engine import BudgetEngine, Subject, Ticket, apply
from claude_code_mux.budgets.estimate import estimate_usd
from claude_code_mux.budgets.ledger import SpendLedger, SqliteLedger
from claude_code_mux.config.schema import Config
from claude_code_mux.pricing import PriceBook, book, record_cost
from claude_code_mux.routing.types import Candidate, RouteDecision

USAGE_DB = "usage.db"


class AccessGate:
    """Keys, budgets and prices for one router process (see the module docstring for the call order)."""

    def __init__(
        self,
        cfg: Config,
        home: Path,
        *,
        ledger: SpendLedger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = KeyRing(KeyStore(home / FILENAME), clock=clock)
        self.engine = BudgetEngine(cfg.budgets, ledger or SqliteLedger(home / USAGE_DB, clock=clock), clock=clock)
        self.prices: PriceBook = book(cfg.prices)
        self._cfg = cfg
        self._watch: asyncio.Task[None] | None = None

    async def start(self, *, watch_interval_s: float = 1.0) -> None:
        await self.keys.refresh()
        self._watch = asyncio.get_running_loop().create_task(self.keys.watch(watch_interval_s))

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None

    def update(self, cfg: Config) -> None:
        """A reloaded config: new budgets and prices; spend, reservations and warnings carry over."""
        self._cfg = cfg
        self.engine = self.engine.with_budgets(cfg.budgets)
        self.prices = book(cfg.prices)

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        key = self._cfg.server.api_key
        if key is None and not self.keys.snapshot.by_hash:
            return None  # an open router that has never had a key: nothing to check (the hot path's common case)
        return self.keys.authenticate(headers, key.get_secret_value() if key else None)

    @staticmethod
    def check_model(identity: Identity | None, model: str) -> None:
        check_model(identity, model)

    @staticmethod
    def rate_limit(identity: Identity | None) -> tuple[str, float, int] | None:
        return rate_limit(identity)

    def budgeted(self, identity: Identity | None) -> bool:
        """Whether a request of ``identity`` has budgets to check (False: skip ``admit`` and ``settle``; the
        server then spends nothing on estimates — the common case of no budgets configured)."""
        return self.engine.applies(identity)

    async def admit(
        self,
        identity: Identity | None,
        headers: Mapping[str, str],
        session_id: str | None,
        decision: RouteDecision,
        candidates: Sequence[Candidate],
        input_tokens: int,
        max_tokens: int | None,
        replan: Callable[[RouteDecision], list[Candidate]],
    ) -> tuple[RouteDecision, list[Candidate], Ticket]:
        """Check the budgets that apply; returns the (possibly downgraded) decision, its candidates and the
        ticket to settle. Raises the budget's refusal before any upstream call."""
        if not self.engine.applies(identity):
            return decision, list(candidates), Ticket("allow", decision.model)
        subject = Subject.of(identity, headers, session_id)
        cost = estimate_usd(self.prices, self._cfg, candidates, input_tokens, max_tokens)
        ticket = await self.engine.check(identity, subject, decision.model, cost)
        if ticket.action != "downgrade":
            return decision, list(candidates), ticket
        routed = apply(decision, ticket)
        try:
            return routed, replan(routed), ticket
        except BaseException:
            await self.engine.settle(ticket, None)
            raise

    async def settle(
        self,
        ticket: Ticket,
        usage: Mapping[str, Any],
        provider: str | None,
        model: str | None,
        client_model: str | None = None,
    ) -> float | None:
        """Charge what the request really cost (None when its model has no price) and return it."""
        pc = self._cfg.provider(provider) if provider else None
        cost = record_cost(self.prices, usage, model, client_model, pc.provider_type if pc else None)
        await self.engine.settle(ticket, cost)
        return cost

    @staticmethod
    def record_extra(identity: Identity | None, headers: Mapping[str, str]) -> dict[str, str]:
        """``key_name`` and ``project`` for the request's record (and so its usage row)."""
        subject = Subject.of(identity, headers)
        out: dict[str, str] = {}
        if subject.key:
            out["key_name"] = subject.key
        if subject.project:
            out["project"] = subject.project
        return out
