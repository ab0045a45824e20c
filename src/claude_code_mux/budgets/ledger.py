"""Where budget spend is read from and added to.

:class:`SpendLedger` is the seam: ``spent(scope, since)`` and ``add(scope, since, usd)``. :class:`SqliteLedger`
reads the usage store (``usage.db``, whose rows carry ``key_name``, ``project``, ``session_id`` and
``cost_usd``) per scope and period, re-read every 30 s, plus what this process settled since, so a restart
or a second worker on the same home sees the recorded spend. A shared ledger for several routers (Redis:
``INCRBYFLOAT`` on ``ccm:budget:<scope>:<period start>``; PostgreSQL: the usage table) implements the same two
methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
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
    """Recorded spend from ``usage.db`` plus what this process has settled since it last read it.

    The file is re-read every ``refresh_s`` so that other processes on the same home (``ccm start --workers N``,
    a restarted router) are seen. What this process settled more than ``flush_margin_s`` before a read is
    in the file by then (the usage writer flushes every second) and is dropped from the local part; newer
    amounts are kept, so spend is never under-counted and at worst briefly over-counted.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        refresh_s: float = 30.0,
        flush_margin_s: float = 5.0,
    ) -> None:
        self.path = path
        self.clock = clock
        self.refresh_s = refresh_s
        self.flush_margin_s = flush_margin_s
        self._base: dict[tuple[Scope, float], tuple[float, float]] = {}  # -> (spent in the file, read at)
        self._added: dict[tuple[Scope, float], list[tuple[float, float]]] = {}  # -> [(settled at, usd)]
        self._locks: dict[tuple[Scope, float], asyncio.Lock] = {}

    def _fresh(self, k: tuple[Scope, float]) -> bool:
        got = self._base.get(k)
        return got is not None and self.clock() - got[1] < self.refresh_s

    async def spent(self, scope: Scope, since: float) -> float:
        k = (scope, since)
        if not self._fresh(k):
            lock = self._locks.setdefault(k, asyncio.Lock())
            async with lock:  # one read per scope and period, however many requests arrive together
                if not self._fresh(k):
                    read_at = self.clock()
                    value = await asyncio.to_thread(read_spent, self.path, scope, since)
                    self._base[k] = (value, read_at)
                    cutoff = read_at - self.flush_margin_s
                    self._added[k] = [(t, usd) for t, usd in self._added.get(k, []) if t >= cutoff]
            self._locks.pop(k, None)
            self._forget_old(since)
        return self._base[k][0] + sum(usd for _, usd in self._added.get(k, []))

    async def add(self, scope: Scope, since: float, usd: float) -> None:
        self._added.setdefault((scope, since), []).append((self.clock(), usd))

    def _forget_old(self, newest: float) -> None:
        """Bound memory: drop periods that are over (a new day made yesterday's totals moot)."""
        if len(self._base) <= 10_000:
            return
        for k in [k for k in self._base if k[1] < newest and k[1] != 0.0]:
            self._base.pop(k, None)
            self._added.pop(k, None)
