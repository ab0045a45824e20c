"""Usage records in SQLite (``~/.claude-code-mux/usage.db``), written off the hot path in batches.

Each finished request becomes one row: time, session, route, provider, model, status, tokens (cache reads and
writes included), latency and an estimated cost from the ``[prices."model"]`` table of the config.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from claude_code_mux.config.schema import PriceConfig
from claude_code_mux.server.state import HOLDER, RuntimeHolder

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
    return conn


class UsageWriter:
    """A request listener that batches rows and writes them from a worker thread."""

    def __init__(self, holder: RuntimeHolder, path: Path, *, interval_s: float = 1.0) -> None:
        self._holder = holder
        self.path = path
        self._rows: list[tuple[Any, ...]] = []
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None
        # One worker thread owns one connection: no per-flush connect or schema work.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccm-usage")
        self._conn: sqlite3.Connection | None = None

    def __call__(self, rec: dict[str, Any]) -> None:
        if rec.get("provider") is None and not rec.get("usage"):
            return
        usage = rec.get("usage") or {}
        prices = self._holder.current.config.prices
        cost = estimate_cost(prices, usage, rec.get("model"), rec.get("client_model"))
        rec["cost_usd"] = cost
        self._rows.append(
            (
                rec.get("time", time.time()),
                rec.get("request_id"),
                rec.get("session_id"),
                str(rec.get("route", "")),
                rec.get("provider"),
                rec.get("model"),
                rec.get("client_model"),
                rec.get("status"),
                usage.get("input_tokens", 0),
                usage.get("output_tokens", 0),
                usage.get("cache_read_input_tokens", 0),
                usage.get("cache_creation_input_tokens", 0),
                rec.get("total_ms"),
                rec.get("ttfb_ms"),
                cost,
            )
        )
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
                self._holder.logger.exception("usage: could not write %d row(s) to %s", len(rows), self.path)

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        if self._conn is None:
            self._conn = connect(self.path)
        with self._conn:
            self._conn.executemany("INSERT INTO usage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._pool.submit(_close)
        self._pool.shutdown(wait=True)


USAGE: web.AppKey[UsageWriter] = web.AppKey("usage", UsageWriter)


def setup(app: web.Application) -> None:
    holder = app[HOLDER]
    if holder.home is None:
        return
    writer = UsageWriter(holder, Path(holder.home) / "usage.db")
    app[USAGE] = writer
    holder.listeners.append(writer)

    async def _flush(_: web.Application) -> None:
        await writer.flush()
        writer.close()

    app.on_cleanup.append(_flush)
