"""Usage records in SQLite (``~/.claude-code-mux/usage.db``), written off the hot path in batches.

Each request that reached the router becomes one row — refused and failed ones too, with their status and error
type: time, session, route, provider, model, status, tokens (cache reads and writes included), latency, the
client key's name, the project, and the cost from :mod:`claude_code_mux.pricing` (the shipped table;
``[prices."model"]`` overrides). A model without a price stores a NULL cost ("no price"), never 0. The schema and
its migrations live in :mod:`.usage_db`; :func:`usage_row` is shared with the PostgreSQL writer
(:mod:`.usage_pg`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from claude_code_mux.config.schema import PriceConfig
from claude_code_mux.observe.record import RequestRecord
from claude_code_mux.observe.usage_db import WRITER_COLUMN_NAMES, connect
from claude_code_mux.pricing import Price, PriceBook, book, counts_cost, record_cost
from claude_code_mux.pricing.table import MEMO_MAX, memo_key_ok

if TYPE_CHECKING:
    from claude_code_mux.config.schema import Config

COLUMNS = WRITER_COLUMN_NAMES
_MISS = object()
_INSERT = f"INSERT INTO usage ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def estimate_cost(
    prices: Mapping[str, PriceConfig],
    usage: Mapping[str, int],
    model: str | None,
    client_model: str | None = None,
    provider_type: str | None = None,
) -> float | None:
    """USD for ``usage`` of upstream ``model`` (config prices first, then the shipped table); None: no price."""
    return record_cost(book(prices), usage, model, client_model, provider_type)


def usage_row(rec: RequestRecord, cfg: Config) -> tuple[Any, ...]:
    """``rec`` as a usage row, in :data:`COLUMNS` order (both the SQLite and the PostgreSQL writer store it)."""
    return Rows(lambda: cfg)(rec)


class Rows:
    """Builds usage rows (:func:`usage_row`) with what is fixed per config looked up once: the price book (which
    remembers each model's price) and each provider's type. ``config`` gives the current config; a reload is
    seen at the next row."""

    def __init__(self, config: Callable[[], Config]) -> None:
        self._config = config
        self._cfg: Config | None = None
        self._book: PriceBook | None = None
        self._types: dict[str, str] = {}
        # (provider, model, client_model) -> price (None: no price), for the current config; bounded as the book's.
        self._prices: dict[tuple[str | None, str | None, str | None], Price | None] = {}

    def __call__(self, rec: RequestRecord) -> tuple[Any, ...]:
        usage = rec.usage
        get = usage.get
        inp, out, read, write = (
            get("input_tokens", 0),
            get("output_tokens", 0),
            get("cache_read_input_tokens", 0),
            get("cache_creation_input_tokens", 0),
        )
        cost: float | None = None
        if usage:
            cfg = self._config()
            if cfg is not self._cfg or self._book is None:
                self._book = book(cfg.prices)
                self._types = {}
                for p in cfg.providers:  # the first of a name, as Config.provider finds it
                    self._types.setdefault(p.name, p.provider_type)
                self._prices = {}
                self._cfg = cfg
            key = (rec.provider, rec.model, rec.client_model)
            price = self._prices.get(key, _MISS)
            if price is _MISS:
                provider_type = self._types.get(rec.provider) if rec.provider else None
                price = self._book.lookup_record(rec.model, rec.client_model, provider_type)
                if memo_key_ok(rec.model, rec.client_model):
                    if len(self._prices) >= MEMO_MAX:
                        self._prices.clear()
                    self._prices[key] = price
            cost = counts_cost(cast("Price | None", price), usage, inp, out, read, write)
        extra = rec.extra
        return (
            rec.time,
            rec.request_id,
            rec.session_id,
            rec.route or "",
            rec.provider,
            rec.model,
            rec.client_model,
            rec.status,
            inp,
            out,
            read,
            write,
            rec.total_ms,
            rec.ttfb_ms,
            cost,
            extra.get("key_name"),
            extra.get("project"),
            rec.endpoint,
            rec.error_type,
        )


class UsageWriter:
    """An observer that batches rows and writes them from a worker thread."""

    def __init__(
        self,
        config: Callable[[], Config],
        path: Path,
        logger: logging.Logger,
        *,
        interval_s: float = 1.0,
    ) -> None:
        self._row = Rows(config)
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
        self._rows.append(self._row(rec))
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
            # A usage log needs no fsync per batch: WAL with synchronous=NORMAL stays consistent after a crash
            # (the last batches may be lost on power loss) and costs ~1 ms less CPU per batch than the default
            # rollback journal with synchronous=FULL; readers (ccm usage, budgets, other workers) never block it.
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
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
