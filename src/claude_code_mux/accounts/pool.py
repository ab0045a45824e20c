"""Choosing among a provider's credentials: priority, round robin (weighted), or least utilized.

A pool orders its accounts for one request. Accounts over their hard limit are left out; for a *new* session,
accounts over their soft limit go after the others (they still serve if nothing else can). What comes back is
the order to try; an empty list means the pool cannot serve now and the request fails over to the next
mapping. Pure: the book and the time are passed in; the round-robin position is the pool's only state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from claude_code_mux.accounts.book import HARD, SOFT, AccountBook

STRATEGIES = ("priority", "round_robin", "least_utilized")


@dataclass
class Pool:
    """One provider's accounts in configured order, with optional integer weights."""

    accounts: Sequence[str]
    strategy: str = "priority"
    weights: Sequence[int] = ()
    _current: dict[str, int] = field(default_factory=dict)  # smooth weighted round robin (as nginx does)

    def weight(self, i: int) -> int:
        return max(int(self.weights[i]), 1) if i < len(self.weights) else 1

    def _rotation(self) -> list[str]:
        """The next round-robin order: the account chosen now first, the rest by their credit."""
        total = 0
        for i, acc in enumerate(self.accounts):
            w = self.weight(i)
            total += w
            self._current[acc] = self._current.get(acc, 0) + w
        best = max(self.accounts, key=lambda a: self._current[a])
        self._current[best] -= total
        rest = sorted((a for a in self.accounts if a != best), key=lambda a: -self._current[a])
        return [best, *rest]

    def order(self, book: AccountBook, model: str, now: float, *, new_session: bool = True) -> list[str]:
        if not self.accounts:
            return []
        if self.strategy == "round_robin":
            base = self._rotation()
        elif self.strategy == "least_utilized":
            pos = {a: i for i, a in enumerate(self.accounts)}
            base = sorted(self.accounts, key=lambda a: (book.utilization(a, model, now), pos[a]))
        else:
            base = list(self.accounts)
        good: list[str] = []
        soft: list[str] = []
        for acc in base:
            st = book.state(acc, model, now).state
            if st == HARD:
                continue
            (soft if st == SOFT and new_session else good).append(acc)
        return good + soft
