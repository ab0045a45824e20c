"""Usage rows in PostgreSQL (``[usage] database = "postgresql://…"``): batched, off the hot path, never blocking.

The observer call only turns the record into a row (the same columns and values the SQLite writer stores) and
appends it to a bounded in-memory buffer. One background task flushes the buffer every ``interval_s`` or as soon as
``batch_rows`` rows wait, with one ``COPY`` per batch through a small :mod:`psycopg_pool` pool. When the database
is down the rows stay buffered and the task retries with exponential backoff; a row is dropped (and counted in
:attr:`PgUsageWriter.dropped`) only when the buffer is full. Migrations (:mod:`.pg_migrations`) run before the
first write. Delivery is at-least-once: a batch whose commit was acknowledged but lost in transit is sent again.
A row PostgreSQL refuses as data (not for being down) is dropped alone and counted; the rest of its batch is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection, DataError, IntegrityError, sql
from psycopg_pool import AsyncConnectionPool

from claude_code_mux.observe.pg_migrations import migrate
from claude_code_mux.observe.record import RequestRecord
from claude_code_mux.observe.usage import COLUMNS

_COPY = sql.SQL("COPY usage ({}) FROM STDIN").format(sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS))
_LOG_EVERY_S = 30.0  # while failing or dropping, repeat the warning at most this often


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class PgUsageWriter:
    """An observer that buffers usage rows and writes them to PostgreSQL from a background task."""

    backend = "postgresql"

    def __init__(
        self,
        row: Callable[[RequestRecord], tuple[Any, ...]],
        url: str,
        logger: logging.Logger,
        *,
        display: str,
        buffer_rows: int = 100_000,
        batch_rows: int = 1_000,
        interval_s: float = 1.0,
        pool_size: int = 2,
        connect_timeout_s: float = 5.0,
        op_timeout_s: float = 30.0,
        max_backoff_s: float = 30.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        self._row = row
        self._url = url
        self._logger = logger
        self.display = display  # the URL without its password
        self._max = buffer_rows
        self._batch = batch_rows
        self._interval = interval_s
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout_s
        self._op_timeout = op_timeout_s
        self._max_backoff = max_backoff_s
        self._close_timeout = close_timeout_s
        self._pending: deque[tuple[Any, ...]] = deque()
        self._pool: AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one flush at a time: two would send the same left-end batch twice
        self._closing = False
        self._ok = False
        self._migrated = False
        self._opened = False
        self._failing_since: float | None = None
        self._last_warned = 0.0
        self._last_drop_log = 0.0
        self.dropped = 0  # rows lost because the buffer was full (or still pending when shutdown gave up)
        self.written = 0  # rows committed to PostgreSQL by this writer

    def __repr__(self) -> str:
        return f"PgUsageWriter({self.display!r}, pending={len(self._pending)}, dropped={self.dropped})"

    def __call__(self, rec: RequestRecord) -> None:
        # PostgreSQL's TEXT cannot hold NUL (SQLite's can); a client-chosen model name must not poison a batch.
        row = tuple(v.replace("\x00", "") if isinstance(v, str) and "\x00" in v else v for v in self._row(rec))
        if self._closing:
            self._drop(1, "the writer is closed")
            return
        if len(self._pending) >= self._max:
            self._drop(1, f"the buffer is full ({self._max} rows)")
            return
        self._pending.append(row)
        if self._task is None:
            self.start()
        elif self._ok and len(self._pending) >= self._batch:
            self._wake.set()

    def status(self) -> dict[str, Any]:
        """Readiness detail for ``/health``: reached on the last attempt, rows waiting, rows lost."""
        return {"backend": self.backend, "ok": self._ok, "pending": len(self._pending), "dropped": self.dropped}

    def start(self) -> None:
        """Open the pool and start the flusher (needs a running loop); applies migrations right away."""
        if self._task is not None:
            return
        self._pool = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            timeout=self._connect_timeout,
            kwargs={"connect_timeout": max(1, round(self._connect_timeout)), "application_name": "claude-code-mux"},
            check=AsyncConnectionPool.check_connection,
            name="ccm-usage",
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ccm-usage-pg")

    async def _run(self) -> None:
        delay = 0.0
        while True:
            closing = self._closing
            ok = await self._flush_once()
            if closing:
                return
            delay = 0.0 if ok else min(self._max_backoff, max(0.5, delay * 2))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval if ok else delay)
            self._wake.clear()

    async def _flush_once(self) -> bool:
        """Apply migrations if not yet done, then write everything pending in batches. Never raises."""
        async with self._lock:
            return await self._flush_locked()

    async def _flush_locked(self) -> bool:
        assert self._pool is not None
        try:
            if not self._opened:  # here, not in _run: a flush() may come before the task's first step
                await self._pool.open(wait=False)
                self._opened = True
            if not self._migrated:
                async with asyncio.timeout(self._op_timeout), self._pool.connection() as conn:
                    applied = await migrate(conn)
                self._migrated = True
                if applied:
                    self._logger.info("usage: applied PostgreSQL migration(s) %s on %s", applied, self.display)
            while self._pending:
                batch = list(itertools.islice(self._pending, self._batch))
                try:
                    async with asyncio.timeout(self._op_timeout):
                        await self._copy(batch)
                except (DataError, IntegrityError):
                    # A row PostgreSQL refuses (e.g. a number beyond BIGINT from a hostile upstream) must not
                    # hold back every row after it: write them one by one and drop only the refused ones.
                    await self._copy_one_by_one(batch)
                # New rows only ever join on the right, so the left end is still this batch.
                for _ in batch:
                    self._pending.popleft()
                self.written += len(batch)
        except Exception as exc:  # any failure of the database or the network: keep the rows and retry
            self._failed(exc)
            return False
        if self._failing_since is not None:
            self._logger.warning(
                "usage: PostgreSQL %s is reachable again after %.0f s; buffered rows written",
                self.display,
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
        self._ok = True
        return True

    async def _copy(self, batch: list[tuple[Any, ...]]) -> None:
        assert self._pool is not None
        async with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            async with cur.copy(_COPY) as copy:
                for row in batch:
                    await copy.write_row(row)

    async def _copy_one_by_one(self, batch: list[tuple[Any, ...]]) -> None:
        for row in batch:
            try:
                async with asyncio.timeout(self._op_timeout):
                    await self._copy([row])
            except (DataError, IntegrityError) as exc:
                self._drop(1, f"PostgreSQL refused a row ({_one_line(exc)})")

    def _failed(self, exc: BaseException) -> None:
        self._ok = False
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._last_warned < _LOG_EVERY_S:
            return
        self._last_warned = now
        self._logger.warning(
            "usage: cannot write to PostgreSQL %s (%s); %d row(s) buffered, retrying",
            self.display,
            _one_line(exc),
            len(self._pending),
        )

    def _drop(self, n: int, why: str) -> None:
        self.dropped += n
        now = time.monotonic()
        if now - self._last_drop_log >= _LOG_EVERY_S or self.dropped == n:
            self._last_drop_log = now
            self._logger.error("usage: dropped %d row(s) so far: %s", self.dropped, why)

    async def flush(self) -> None:
        """Write what is pending now (tests and shutdown); failures leave the rows buffered."""
        if self._task is None and self._pending:
            self.start()
        if self._pool is not None:
            await self._flush_once()

    async def aclose(self) -> None:
        """Stop the flusher after one last attempt (bounded in time); rows still pending then count as dropped."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._close_timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._pending:
            n = len(self._pending)
            self._pending.clear()
            self._drop(n, f"PostgreSQL {self.display} was not reachable at shutdown")
        if self._pool is not None:
            await self._pool.close(timeout=self._close_timeout)
