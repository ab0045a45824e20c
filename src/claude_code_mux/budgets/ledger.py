"""Where budget spend is read from and added to.

:class:`SpendLedger` is the seam: ``spent(scope, since)`` and ``add(scope, since, usd)``. :class:`SqliteLedger`
reads the usage store (``usage.db``, whose rows carry ``key_name``, ``project``, ``session_id`` and
``cost_usd``) once per scope and period, then keeps adding what this process settles, so a restart resumes from
the recorded spend without double counting. A shared ledger for several routers (Redis: ``INCRBYFLOAT`` on
``ccm:budget:<scope>:<period start>``; PostgreSQL: the usage table) implements the same two methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# scope kind -> usage.db column
_COLUMN = {"key": "key_name", "project": "project", "session": "session_id"}


@dataclass(frozen=True, slots=True)
class Scope:
    """One concrete thing a budget counts: ``key:alice``, ``project:myrepo``, ``session:0b6c…``."""

    kind: str  # "key" | "project" | "session"
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class SpendLedger(Protocol):
    async def spent(self, scope: Scope, since: float) -> float:
        """USD spent by ``scope`` since epoch ``since`` (the start of a budget period)."""
        ...

    async def add(self, scope: Scope, since: float, usd: float) -> None:
        """Record ``usd`` more for ``scope`` in the period starting at ``since``."""
        ...


def read_spent(path: Path, scope: Scope, since: float) -> float:
    """Blocking: the recorded spend of ``scope`` since ``since`` in a usage.db (0 without the file)."""
    if not path.exists():
        return 0.0
    col = _COLUMN[scope.kind]
    sql = f"SELECT coalesce(sum(cost_usd), 0) FROM usage WHERE ts >= ? AND {col} = ?"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
        try:
            row = conn.execute(sql, (since, scope.value)).fetchone()
        except sqlite3.OperationalError as exc:  # an old file without the column: nothing recorded per scope
            if "no such column" in str(exc) or "no such table" in str(exc):
                return 0.0
            raise
    return float(row[0] or 0.0)


class SqliteLedger:
    """Recorded spend from ``usage.db`` plus what this process has settled since it read it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._base: dict[tuple[Scope, float], float] = {}
        self._added: dict[tuple[Scope, float], float] = {}
        self._locks: dict[tuple[Scope, float], asyncio.Lock] = {}

    async def spent(self, scope: Scope, since: float) -> float:
        k = (scope, since)
        if k not in self._base:
            lock = self._locks.setdefault(k, asyncio.Lock())
            async with lock:  # one read per scope and period, however many requests arrive together
                if k not in self._base:
                    self._base[k] = await asyncio.to_thread(read_spent, self.path, scope, since)
            self._locks.pop(k, None)
            self._forget_old(since)
        return self._base[k] + self._added.get(k, 0.0)

    async def add(self, scope: Scope, since: float, usd: float) -> None:
        k = (scope, since)
        self._added[k] = self._added.get(k, 0.0) + usd

    def _forget_old(self, newest: float) -> None:
        """Bound memory: drop periods of the same scope kind that are over (a new day made yesterday moot)."""
        if len(self._base) <= 10_000:
            return
        for k in [k for k in self._base if k[1] < newest and k[1] != 0.0]:
            self._base.pop(k, None)
            self._added.pop(k, None)
