"""The fleet's request feed: every instance appends its finished requests to one capped Redis stream, so the
admin UI (``GET /api/requests``, the live feed) of any instance shows the whole fleet.

:class:`FleetFeed` is an observer: ``__call__`` only queues the record's (already redacted) dict; one background
task writes the queue in pipelined ``XADD … MAXLEN ~ 1000`` batches. The queue is bounded: while Redis is down the
oldest entries are dropped (counted) and this instance's own recent list still serves its admin UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from claude_code_mux.observe.record import RequestRecord
from claude_code_mux.state.redis_link import RedisLink

STREAM_MAXLEN = 1000
QUEUE_MAX = 1000
_BLOCK_MS = 1000  # one XREAD waits at most this long, under the link's socket timeout


def instance_name(port: int | None = None) -> str:
    """How this instance is named in the feed: host and port (or pid)."""
    return f"{socket.gethostname()}:{port if port is not None else os.getpid()}"


class FleetFeed:
    def __init__(
        self, link: RedisLink, clean: Callable[[RequestRecord], dict[str, Any]], instance: str | None = None
    ) -> None:
        self.link = link
        self.clean = clean
        self.instance = instance or instance_name()
        self.key = link.key("feed")
        self.dropped = 0
        self.written = 0
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, record: RequestRecord) -> None:
        entry = self.clean(record)
        entry["instance"] = self.instance
        if len(self._queue) >= QUEUE_MAX:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(orjson.dumps(entry))
        self._wake.set()
        if self._task is None:
            with contextlib.suppress(RuntimeError):  # no running loop (never on the server)
                self._task = asyncio.get_running_loop().create_task(self._writer(), name="fleet-feed")

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            if self._queue:  # Redis is down: try again a little later, keeping the newest entries
                await asyncio.sleep(self.link.probe_s)
                self._wake.set()

    async def flush(self) -> None:
        if not self._queue:
            return
        batch, self._queue = self._queue, deque()

        async def write() -> bool:
            pipe = self.link.client.pipeline(transaction=False)
            for data in batch:
                pipe.xadd(self.key, {"r": data}, maxlen=STREAM_MAXLEN, approximate=True)
            await pipe.execute()
            return True

        if await self.link.call(write, "request feed") is None:
            # Not written: back in front of what arrived meanwhile, the oldest dropped beyond the bound.
            batch.extend(self._queue)
            while len(batch) > QUEUE_MAX:
                batch.popleft()
                self.dropped += 1
            self._queue = batch
            return
        self.written += len(batch)

    async def recent(self, limit: int) -> list[dict[str, Any]] | None:
        """The newest ``limit`` entries of the whole fleet, newest first; None when Redis cannot answer."""
        rows = await self.link.call(lambda: self.link.client.xrevrange(self.key, count=limit), "request feed")
        if rows is None:
            return None
        return [e for e in (_entry(fields) for _id, fields in rows) if e is not None]

    async def tail(self) -> AsyncIterator[dict[str, Any] | None]:
        """New entries as they arrive from any instance; ``None`` every idle second (or while Redis is down), so
        the caller can send heartbeats and notice a closed client."""
        newest = await self.link.call(lambda: self.link.client.xrevrange(self.key, count=1), "request feed")
        last = _id(newest[0][0]) if newest else "$"
        while True:
            block = min(_BLOCK_MS, int(self.link.timeout_s * 500))
            got: Any = await self.link.call(self._xread_from(last, block), "request feed")
            if not got:
                if got is None:
                    await asyncio.sleep(self.link.probe_s)
                yield None
                continue
            for _stream, entries in got:
                for entry_id, fields in entries:
                    last = _id(entry_id)
                    e = _entry(fields)
                    if e is not None:
                        yield e

    def _xread_from(self, last: str, block: int) -> Callable[[], Awaitable[Any]]:
        return lambda: self.link.client.xread({self.key: last}, count=100, block=block)

    async def aclose(self) -> None:
        """Write what is queued (bounded by the link's timeout), then stop."""
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _id(entry_id: Any) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def _entry(fields: Any) -> dict[str, Any] | None:
    raw = fields.get(b"r") if isinstance(fields, dict) else None
    if not isinstance(raw, bytes):
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
