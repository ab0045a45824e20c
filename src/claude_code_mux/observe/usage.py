"""Usage records in SQLite (``~/.claude-code-mux/usage.db``), written off the hot path in batches.

Each finished request becomes one row — refused and failed ones too, with their status and error type: time,
session, route, provider, model, status, tokens (cache reads and writes included), latency and an estimated cost
from the ``[prices."model"]`` table of the config.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from claude_code_mux.config.schema import PriceConfig
from claude_code_mux.observe.record import RequestRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
  ts REAL NOT NULL,
  request_id TEXT,
  session_id TEXT,
  route TEXT,
  provider TEXT,
  model TEXT,
  client_model TEXT,
  status INTEGER,
  input_tokens INTEGER DEFAULT 0,
  output_tokens INTEGER DEFAULT 0,
  cache_read_tokens INTEGER DEFAULT 0,
  cache_write_tokens INTEGER DEFAULT 0,
  latency_ms REAL,
  ttfb_ms REAL,
  cost_usd REAL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage(ts);
"""
# Columns added since the first schema (an older usage.db gains them on open).
ADDED_COLUMNS = (("endpoint", "TEXT"), ("error_type", "TEXT"))
COLUMNS = (
    "ts",
    "request_id",
    "session_id",
    "route",
    "provider",
    "model",
    "client_model",
    "status",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "latency_ms",
    "ttfb_ms",
    "cost_usd",
    "endpoint",
    "error_type",
)
_INSERT = f"INSERT INTO usage ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def estimate_cost(prices: Mapping[str, PriceConfig], usage: Mapping[str, int], *models: str | None) -> float:
    """USD for ``usage`` at the first of ``models`` that has a price (per million tokens)."""
    price = next((prices[m] for m in models if m and m in prices), None)
    if price is None:
        return 0.0
    return (
        usage.get("input_tokens", 0) * price.input
        + usage.get("output_tokens", 0) * price.output
        + usage.get("cache_read_input_tokens", 0) * price.cache_read
        + usage.get("cache_creation_input_tokens", 0) * price.cache_write
    ) / 1_000_000


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10)
    conn.executescript(SCHEMA)
    have = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
    for name, kind in ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE usage ADD COLUMN {name} {kind}")
    conn.commit()
    return conn


def usage_row(rec: RequestRecord, prices: Mapping[str, PriceConfig]) -> tuple[Any, ...]:
    """``rec`` as a usage row, in :data:`COLUMNS` order (both the SQLite and the PostgreSQL writer store it)."""
    usage = rec.usage
    cost = estimate_cost(prices, usage, rec.model, rec.client_model)
    return (
        rec.time,
        rec.request_id,
        rec.session_id,
        rec.route or "",
        rec.provider,
        rec.model,
        rec.client_model,
        rec.status,
        usage.get("input_tokens", 0),
        usage.get("output_tokens", 0),
        usage.get("cache_read_input_tokens", 0),
        usage.get("cache_creation_input_tokens", 0),
        rec.total_ms,
        rec.ttfb_ms,
        cost,
        rec.endpoint,
        rec.error_type,
    )


class UsageWriter:
    """An observer that batches rows and writes them from a worker thread."""

    def __init__(
        self,
        prices: Callable[[], Mapping[str, PriceConfig]],
        path: Path,
        logger: logging.Logger,
        *,
        interval_s: float = 1.0,
    ) -> None:
        self._prices = prices
        self._logger = logger
        self.path = path
        self._rows: list[tuple[Any, ...]] = []
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None
        # One worker thread owns one connection: no per-flush connect or schema work.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccm-usage")
        self._conn: sqlite3.Connection | None = None
        self._ok = True  # the last write succeeded (or none was tried yet)
        self._dropped = 0  # rows lost to failed writes

    def __call__(self, rec: RequestRecord) -> None:
        self._rows.append(usage_row(rec, self._prices()))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._interval)
        await self.flush()

    async def flush(self) -> None:
        task, current = self._task, asyncio.current_task()
        if task is not None and task is not current and not task.done():
            task.cancel()
        rows, self._rows = self._rows, []
        if rows:
            try:
                await asyncio.get_running_loop().run_in_executor(self._pool, self._write, rows)
            except sqlite3.Error:
                self._ok, self._dropped = False, self._dropped + len(rows)
                self._logger.exception("usage: could not write %d row(s) to %s", len(rows), self.path)

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        if self._conn is None:
            self._conn = connect(self.path)
        with self._conn:
            self._conn.executemany(_INSERT, rows)
        self._ok = True

    def status(self) -> dict[str, Any]:
        """Readiness detail for ``/health``: last write succeeded, rows waiting, rows lost to failed writes."""
        return {"backend": "sqlite", "ok": self._ok, "pending": len(self._rows), "dropped": self._dropped}

    async def aclose(self) -> None:
        """Write what is pending, then close the connection and the worker thread."""
        await self.flush()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._pool.submit(_close)
        self._pool.shutdown(wait=True)
