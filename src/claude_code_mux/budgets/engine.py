"""The budget engine: before a request, allow / block / downgrade; after it, settle the real cost.

Budgets come from ``[[budgets]]`` in the config and from keys created with ``--budget`` (scope ``key:NAME``,
action ``block``). A budget applies to a request when its scope names the request's key, project
(``x-ccm-project``) or session (``x-claude-code-session-id``); ``*`` (``session:*``) gives every key, project
or session its own budget.

``check`` compares what the scope has spent this period, plus what its requests in flight have reserved, plus
this request's estimate, with the limit. When that would cross the limit: ``block`` refuses with a 429 (403
for a ``total`` budget, which never resets) whose message names the budget, the spend and the reset time, and
``x-should-retry: false`` so Claude Code shows it at once instead of retrying; ``downgrade`` lets the request
through on ``downgrade_to`` (route label ``budget:downgrade``). ``settle`` replaces the reservation with the real
cost, and logs once per period when spend crosses ``warn_at`` of the limit.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from claude_code_mux.access.identity import Identity
from claude_code_mux.budgets.ledger import Scope, SpendLedger
from claude_code_mux.budgets.periods import period_end, period_start, span, when
from claude_code_mux.config.schema import BudgetConfig
from claude_code_mux.errors import HttpError, PermissionDenied, RateLimited
from claude_code_mux.routing.types import RouteDecision

PROJECT_HEADER = "x-ccm-project"
SESSION_HEADER = "x-claude-code-session-id"
_MAX_VALUE = 200  # longest project or session name we key spend by


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose spend a request is: its key name, project and Claude Code session (each optional)."""

    key: str | None = None
    project: str | None = None
    session: str | None = None

    @classmethod
    def of(cls, identity: Identity | None, headers: Mapping[str, str], session: str | None = None) -> Subject:
        """From the identity and the request headers (lower-case names); ``session`` falls back to the one
        the server found in the body's metadata."""

        def clean(v: str | None) -> str | None:
            v = (v or "").strip()
            return v[:_MAX_VALUE] if v and v.isprintable() else None

        return cls(
            key=identity.name if identity else None,
            project=clean(headers.get(PROJECT_HEADER)),
            session=clean(headers.get(SESSION_HEADER)) or clean(session),
        )

    def value(self, kind: str) -> str | None:
        return {"key": self.key, "project": self.project, "session": self.session}.get(kind)


@dataclass(frozen=True, slots=True)
class Rule:
    """One budget, from the config or from a key."""

    kind: str  # "key" | "project" | "session"
    value: str  # a name, or "*"
    limit_usd: float
    period: str
    action: Literal["block", "downgrade"] = "block"
    downgrade_to: str | None = None
    warn_at: float = 0.8

    @classmethod
    def of(cls, b: BudgetConfig) -> Rule:
        kind, _, value = b.scope.partition(":")
        return cls(kind, value, b.limit_usd, b.period, b.action, b.downgrade_to, b.warn_at)

    def scope_for(self, subject: Subject) -> Scope | None:
        got = subject.value(self.kind)
        if got is None or (self.value != "*" and self.value != got):
            return None
        return Scope(self.kind, got)

    def describe(self, scope: Scope) -> str:
        per = "in total" if self.period == "total" else f"per {self.period}"
        return f"budget {scope} (${self.limit_usd:g} {per})"


@dataclass(frozen=True, slots=True)
class Hold:
    """One rule's share of a ticket: the scope and period charged, and the amount reserved."""

    rule: Rule
    scope: Scope
    since: float
    reserved: float


@dataclass(frozen=True, slots=True)
class Ticket:
    """What ``check`` decided; hand it back to ``settle`` when the request is over."""

    action: Literal["allow", "downgrade"]
    model: str  # the model to route to (``downgrade_to`` when downgraded)
    holds: tuple[Hold, ...] = ()
    reason: str = ""  # for a downgrade: which budget

    @property
    def label(self) -> str | None:
        """``budget:downgrade`` for a downgraded request (the ``x-ccm-route`` value), else None."""
        return "budget:downgrade" if self.action == "downgrade" else None


@dataclass
class BudgetEngine:
    """Budgets for one router process; a reload swaps in :meth:`with_budgets`, keeping ledger and reservations."""

    budgets: Sequence[BudgetConfig]
    ledger: SpendLedger
    clock: Callable[[], float] = time.time
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("claude_code_mux.budgets"))
    _rules: tuple[Rule, ...] = ()
    _reserved: dict[tuple[Scope, float], float] = field(default_factory=dict)
    _warned: set[tuple[str, Scope, float]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rules = tuple(Rule.of(b) for b in self.budgets)

    def with_budgets(self, budgets: Sequence[BudgetConfig]) -> BudgetEngine:
        """The engine for a reloaded config: new rules, the same ledger, reservations and warnings."""
        return dataclasses.replace(self, budgets=budgets, _reserved=self._reserved, _warned=self._warned)

    def applies(self, identity: Identity | None) -> bool:
        """Whether any budget can apply to a request of ``identity`` (False: nothing to check or settle)."""
        return bool(self._rules) or (identity is not None and identity.kind == "key" and identity.budget is not None)

    def rules_for(self, identity: Identity | None) -> list[Rule]:
        rules = list(self._rules)
        if identity is not None and identity.kind == "key" and identity.budget is not None:
            usd, period = identity.budget
            rules.append(Rule("key", identity.name, usd, period))
        return rules

    async def check(self, identity: Identity | None, subject: Subject, model: str, estimate_usd: float) -> Ticket:
        """Allow, downgrade, or raise the refusal (:class:`RateLimited` 429 / :class:`PermissionDenied` 403)."""
        now = self.clock()
        holds: list[Hold] = []
        downgrade: tuple[Rule, Scope, float] | None = None
        for rule in self.rules_for(identity):
            scope = rule.scope_for(subject)
            if scope is None:
                continue
            since = period_start(rule.period, now)
            spent = await self.ledger.spent(scope, since)
            pending = self._reserved.get((scope, since), 0.0)
            if spent + pending + estimate_usd > rule.limit_usd:
                if rule.action == "block":
                    self._release(holds)
                    raise self._refusal(rule, scope, spent, estimate_usd, now)
                if downgrade is None:
                    downgrade = (rule, scope, spent)
            holds.append(Hold(rule, scope, since, estimate_usd))
            self._reserved[(scope, since)] = pending + estimate_usd
        if downgrade is not None:
            rule, scope, spent = downgrade
            target = rule.downgrade_to or model
            reason = f"{rule.describe(scope)}: ${spent:.4f} spent, routed to {target}"
            return Ticket("downgrade", target, tuple(holds), reason)
        return Ticket("allow", model, tuple(holds))

    async def settle(self, ticket: Ticket, cost_usd: float | None) -> None:
        """Charge the real cost (None: the model has no price, nothing is charged) and drop the reservation."""
        self._release(list(ticket.holds))
        cost = cost_usd or 0.0
        charged: set[tuple[Scope, float]] = set()
        for h in ticket.holds:
            if cost > 0 and (h.scope, h.since) not in charged:  # two budgets on one scope and period: once
                charged.add((h.scope, h.since))
                await self.ledger.add(h.scope, h.since, cost)
            spent = await self.ledger.spent(h.scope, h.since)
            mark = (f"{h.rule.kind}:{h.rule.value}:{h.rule.limit_usd}", h.scope, h.since)
            if spent >= h.rule.warn_at * h.rule.limit_usd and mark not in self._warned:
                if len(self._warned) > 10_000:  # session:* makes one per session: forget, at worst warn again
                    self._warned.clear()
                self._warned.add(mark)
                self.logger.warning(
                    "%s: $%.4f spent (%.0f%%), %s",
                    h.rule.describe(h.scope),
                    spent,
                    100 * spent / h.rule.limit_usd,
                    self._resets(h.rule, self.clock()),
                )

    async def status(self, identity: Identity | None, subject: Subject) -> list[dict[str, object]]:
        """The budgets that apply to ``subject`` and their spend (for the statusline and the admin UI)."""
        now = self.clock()
        out: list[dict[str, object]] = []
        for rule in self.rules_for(identity):
            scope = rule.scope_for(subject)
            if scope is None:
                continue
            since = period_start(rule.period, now)
            spent = await self.ledger.spent(scope, since)
            out.append(
                {
                    "scope": str(scope),
                    "limit_usd": rule.limit_usd,
                    "period": rule.period,
                    "spent_usd": spent,
                    "resets_at": period_end(rule.period, now),
                    "warn": spent >= rule.warn_at * rule.limit_usd,
                    "action": rule.action,
                }
            )
        return out

    def _release(self, holds: list[Hold]) -> None:
        for h in holds:
            k = (h.scope, h.since)
            left = self._reserved.get(k, 0.0) - h.reserved
            if left > 1e-12:
                self._reserved[k] = left
            else:
                self._reserved.pop(k, None)

    @staticmethod
    def _resets(rule: Rule, now: float) -> str:
        end = period_end(rule.period, now)
        return "it never resets" if end is None else f"it resets at {when(end)} (in {span(end - now)})"

    def _refusal(self, rule: Rule, scope: Scope, spent: float, estimate: float, now: float) -> HttpError:
        end = period_end(rule.period, now)
        this = "" if rule.period == "total" else f" this {rule.period}"
        state = "is used up" if spent >= rule.limit_usd else f"would be exceeded by this request (~${estimate:.4f})"
        fix = (
            "ask for a larger --budget on the key"
            if rule.kind == "key" and rule.value != "*"
            else ("raise limit_usd in [[budgets]]")
        )
        msg = (
            f"claude-code-mux: {rule.describe(scope)} {state}: ${spent:.4f} spent{this}; "
            f"{self._resets(rule, now)}. To go on now, {fix}."
        )
        if end is None:
            return PermissionDenied(msg, headers={"x-should-retry": "false"})
        retry = max(1, int(end - now))
        return RateLimited(msg, headers={"retry-after": str(retry), "x-should-retry": "false"})


def apply(decision: RouteDecision, ticket: Ticket) -> RouteDecision:
    """The decision to route: unchanged, or sent to ``downgrade_to`` with rule ``budget`` (``budget:downgrade``)."""
    if ticket.action != "downgrade":
        return decision
    return dataclasses.replace(
        decision, rule="budget", reason="downgrade", model=ticket.model, trace=(*decision.trace, ticket.reason)
    )
