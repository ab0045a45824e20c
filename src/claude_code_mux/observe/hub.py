"""The observer hub: every finished request's :class:`RequestRecord` goes to each observer, the recent list and
the live-feed subscribers.

``Observers.emit`` is called by the server once per request, on the event loop, after the reply is done. It never
raises: a broken observer is logged (once per failure, redacted by the logger's filter) and the others still run.
Live-feed subscribers get bounded queues; a slow subscriber drops records instead of growing memory.
:func:`build_observers` wires the standard set (log line, metrics, usage, trace, statusline file) from the config;
this package imports neither a web framework nor ``server/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from claude_code_mux.observe.last_request import LastRequestWriter
from claude_code_mux.observe.logging import RedactingFilter, Redactor
from claude_code_mux.observe.metrics import Metrics
from claude_code_mux.observe.record import Observer, RequestRecord
from claude_code_mux.observe.request_log import RequestLog
from claude_code_mux.observe.trace import TraceWriter
from claude_code_mux.observe.usage import Rows, UsageWriter

if TYPE_CHECKING:
    from claude_code_mux.config.schema import Config
    from claude_code_mux.observe.usage_pg import PgUsageWriter

RECENT_MAX = 200
SUBSCRIBER_QUEUE_MAX = 500


class Subscription:
    """One live-feed subscriber: a bounded queue of records; ``None`` means the hub closed."""

    def __init__(self, maxsize: int = SUBSCRIBER_QUEUE_MAX) -> None:
        self.queue: asyncio.Queue[RequestRecord | None] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def put(self, record: RequestRecord | None) -> None:
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1

    async def get(self) -> RequestRecord | None:
        return await self.queue.get()


class Observers:
    """Delivers each record to the observers, keeps the last :data:`RECENT_MAX` and feeds subscribers."""

    def __init__(
        self, logger: logging.Logger, observers: list[Observer] | None = None, *, config: Config | None = None
    ) -> None:
        self.logger = logger
        self.config: Config | None = config  # the current config (reloads set it), for observers that read it
        self.metrics: Metrics | None = None  # the Prometheus observer, for the /metrics endpoint
        self.usage: UsageWriter | PgUsageWriter | None = None  # its status() is the usage database's readiness
        self.observers: list[Observer] = list(observers or [])
        self.recent: deque[RequestRecord] = deque(maxlen=RECENT_MAX)
        self.seen = 0  # records emitted since the hub was created (at server start)
        self.created_at = time.time()
        self._subscribers: set[Subscription] = set()
        self.closed = False  # the server is shutting down: feeds that poll elsewhere (the fleet's) end too
        # Called at shutdown (flush usage rows, the statusline file, the trace).
        self.closers: list[Callable[[], Awaitable[None]]] = []

    def add(self, observer: Observer) -> None:
        self.observers.append(observer)

    def emit(self, record: RequestRecord) -> None:
        """Hand ``record`` to everyone; never raises."""
        self.recent.append(record)
        self.seen += 1
        for observer in self.observers:
            try:
                observer(record)
            except Exception:  # a broken observer must never break a request or the others
                with contextlib.suppress(Exception):
                    self.logger.exception("observer %s failed on request %s", _name(observer), record.request_id)
        if self._subscribers:
            for sub in list(self._subscribers):
                sub.put(record)

    def find(self, request_id: str | None) -> RequestRecord | None:
        if not request_id:
            return None
        newest_first: Iterator[RequestRecord] = reversed(self.recent)
        for rec in newest_first:
            if rec.request_id == request_id:
                return rec
        return None

    def subscribe(self, maxsize: int = SUBSCRIBER_QUEUE_MAX) -> Subscription:
        sub = Subscription(maxsize)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def close_subscribers(self) -> None:
        """Tell every live-feed subscriber to end (server shutdown)."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.put(None)

    async def aclose(self) -> None:
        """End the feed and flush the observers that buffer (usage, trace, statusline file)."""
        self.close_subscribers()
        for close in self.closers:
            try:
                await close()
            except Exception:
                self.logger.exception("observer shutdown failed")


def _redactor_of(logger: logging.Logger) -> Redactor:
    """The redactor the server's log handler filters with (it knows the configured secrets), else a new one."""
    for handler in logger.handlers:
        for f in handler.filters:
            if isinstance(f, RedactingFilter):
                return f.redactor
    return Redactor()


def _name(observer: object) -> str:
    return getattr(observer, "__qualname__", None) or type(observer).__name__


def _usage_writer(
    cfg: Config, current: Callable[[], Config], home: Path | None, logger: logging.Logger, redactor: Redactor
) -> UsageWriter | PgUsageWriter | None:
    """PostgreSQL when ``[usage] database`` is set (read at start: changing it needs a restart), else
    ``home/usage.db``, else none."""
    u = cfg.usage
    url = u.database_url()
    if url is None:
        return None if home is None else UsageWriter(current, Path(home) / "usage.db", logger)
    from claude_code_mux.observe.usage_pg import PgUsageWriter  # psycopg loads only for teams that use it

    redactor.add(u.database_password())
    redactor.add(url)
    writer = PgUsageWriter(
        Rows(current),
        url,
        logger,
        display=u.display_database() or "",
        buffer_rows=u.buffer_rows,
        batch_rows=u.batch_rows,
        interval_s=u.flush_interval_s,
        pool_size=u.pool_size,
    )
    with contextlib.suppress(RuntimeError):  # no running loop yet: the first row starts it
        writer.start()
    return writer


def build_observers(
    cfg: Config, home: Path | None, logger: logging.Logger, *, redactor: Redactor | None = None
) -> Observers:
    """The standard observers: the request log line, Prometheus metrics, usage rows (in ``home/usage.db``, or
    PostgreSQL with ``[usage] database``), the JSONL trace and the statusline's last-request file (only with a
    ``home``).

    Settings that a reload may change (prices, ``server.trace_path``) are read from :attr:`Observers.config` at
    each request: whoever reloads the config sets ``observers.config = new_config`` (server-api: in
    ``Server.reload``, next to ``holder.swap``). The trace is redacted with ``redactor``, by default the one the
    logger's handler filters with (:func:`~claude_code_mux.observe.logging.setup_logging`).
    """
    redactor = redactor or _redactor_of(logger)
    hub = Observers(logger, config=cfg)

    def current() -> Config:
        return hub.config or cfg

    hub.add(RequestLog(logger))
    hub.metrics = Metrics()
    hub.add(hub.metrics)
    hub.add(TraceWriter(lambda: (hub.config or cfg).server, redactor))  # read per request: one call, not two
    hub.usage = _usage_writer(cfg, current, home, logger, redactor)
    if hub.usage is not None:
        hub.add(hub.usage)
        hub.closers.append(hub.usage.aclose)
    if home is not None:
        last = LastRequestWriter(Path(home))
        hub.add(last)
        hub.closers.append(last.flush)
    trace = next(o for o in hub.observers if isinstance(o, TraceWriter))
    hub.closers.append(trace.flush)
    return hub
