"""Usage records in SQLite (``~/.claude-code-mux/usage.db``), written off the hot path in batches.

Each finished request becomes one row: time, session, route, provider, model, status, tokens (cache reads and
writes included), latency, the client key's name, the project, and the cost from :mod:`claude_code_mux.pricing`
(the shipped table under ``[prices."model"]`` overrides). A model without a price stores a NULL cost ("no price"),
never 0. Older ``usage.db`` files gain the new columns on open (:func:`.usage_db.migrate`).
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
from claude_code_mux.observe.usage_db import COLUMNS, connect
from claude_code_mux.pricing import book, record_cost
from claude_code_mux.server.state import HOLDER, RuntimeHolder


def estimate_cost(
    prices: Mapping[str, PriceConfig],
    usage: Mapping[str, int],
    model: str | None,
    client_model: str | None = None,
    provider_type: str | None = None,
) -> float | None:
    """USD for ``usage`` of upstream ``model`` (config prices first, then the shipped table); None: no price."""
    return record_cost(book(prices), usage, model, client_model, provider_type)


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
        cfg = self._holder.current.config
        provider = cfg.provider(rec["provider"]) if rec.get("provider") else None
        cost = estimate_cost(
            cfg.prices, usage, rec.get("model"), rec.get("client_model"), provider.provider_type if provider else None
        )
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
                rec.get("key_name"),
                rec.get("project"),
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
            self._conn.executemany(f"INSERT INTO usage ({COLUMNS}) VALUES ({','.join('?' * 17)})", rows)

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
