"""Each Claude Code session's last request, in ``HOME/last_requests.json``, for ``ccm statusline``.

:class:`LastRequestWriter` is an observer: called with each finished request record, it updates an
in-memory table (the last record and per-model token totals of the most recent sessions; the ``last`` entry is
built from a session's newest record when the file is written, not per request) and writes the file
atomically at most every ``interval_s`` seconds, from a worker thread (``loop.call_later`` +
``asyncio.to_thread``), never on the request path. :func:`read_last` is the reader; it is stdlib-only and
tolerates a missing, partial or foreign file.

File format (version 1); ``last`` keeps request_id, time, route, client_model, provider, model, status,
stream, ttfb_ms, total_ms, attempts (a count), session_id, usage, and for a pooled provider the ``account`` that
served and (set by the server's ``annotate`` hook) ``quota_5h``, that account's 5-hour utilization (0-1)::

    {"version": 1, "updated": 1767000000.0, "latest": "SESSION",
     "sessions": {"SESSION": {
        "last": {...},
        "totals": {"requests": 3, "by_model": {"MODEL": {
            "client_model": "...", "requests": 3, "input_tokens": 0, "output_tokens": 0,
            "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}}}}}

Records without a session id are kept under ``""``. The session id is what the server extracted from
``metadata.user_id``; a raw ``user_id`` (a JSON string holding ``session_id``, or ``…_session_<id>``) is
normalised here too, so the key always equals the ``session_id`` Claude Code gives its statusline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from claude_code_mux.observe.record import RequestRecord

FILE_NAME = "last_requests.json"
MAX_SESSIONS = 64
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_KEEP = (
    "request_id",
    "time",
    "route",
    "client_model",
    "provider",
    "model",
    "status",
    "stream",
    "ttfb_ms",
    "total_ms",
    "account",
)
log = logging.getLogger("claude_code_mux.last_request")


def session_key(value: Any) -> str:
    """The session id of a record's ``session_id`` (also accepts a raw ``metadata.user_id``)."""
    if not isinstance(value, str) or not value:
        return ""
    if value.startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value[:128]
        sid = parsed.get("session_id") if isinstance(parsed, dict) else None
        return str(sid) if sid else ""
    if "_session_" in value:
        return value.rsplit("_session_", 1)[1]
    return value[:128]


def _count(v: Any) -> int:
    if type(v) is int:
        return v
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else 0


def _slim(rec: dict[str, Any], sid: str) -> dict[str, Any]:
    out = {k: rec.get(k) for k in _KEEP}
    attempts = rec.get("attempts")
    out["attempts"] = len(attempts) if isinstance(attempts, list | tuple) else _count(attempts)
    out["session_id"] = sid or None
    usage = rec.get("usage")
    out["usage"] = {k: _count(usage.get(k)) for k in USAGE_KEYS if k in usage} if isinstance(usage, dict) else {}
    return out


def _slim_record(rec: RequestRecord, sid: str) -> dict[str, Any]:
    """:func:`_slim` of ``rec.to_dict()``, built from the record without the dict of everything first."""
    usage = rec.usage
    return {
        "request_id": rec.request_id,
        "time": rec.time,
        "route": rec.route,
        "client_model": rec.client_model,
        "provider": rec.provider,
        "model": rec.model,
        "status": rec.status,
        "stream": rec.stream,
        "ttfb_ms": rec.ttfb_ms,
        "total_ms": rec.total_ms,
        "account": rec.account,
        "attempts": len(rec.attempts),
        "session_id": sid or None,
        "usage": {k: _count(usage[k]) for k in USAGE_KEYS if k in usage},
    }


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name per write: several writers (workers, threads) may share the file.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class LastRequestWriter:
    """A request listener keeping the last record per session and writing ``last_requests.json`` lazily."""

    def __init__(
        self,
        home: Path | str,
        *,
        interval_s: float = 0.5,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(home) / FILE_NAME
        self._interval = interval_s
        self._max = max_sessions
        self._clock = clock
        # Insertion order is recency: an updated session moves to the end; the oldest is dropped first.
        self._sessions: dict[str, dict[str, Any]] = {}
        # Sessions whose ``last`` is still to be built from their newest record (and its annotation).
        self._pending: dict[str, tuple[RequestRecord, Mapping[str, Any] | None]] = {}
        self._sids: dict[str | None, str] = {}  # a record's session_id -> its key (the same ids recur)
        self._latest: str | None = None
        self._dirty = False
        self._last_write = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        # Set by the server: extra fields for ``last`` (the serving account's 5h utilization), from what only
        # the server knows. Must be cheap: it runs once per request, on the loop.
        self.annotate: Callable[[RequestRecord], Mapping[str, Any]] | None = None

    def __call__(self, record: RequestRecord | dict[str, Any]) -> None:
        sessions = self._sessions
        if isinstance(record, RequestRecord):
            raw = record.session_id
            sid = self._sids.get(raw)
            if sid is None:
                sid = session_key(raw)
                if raw is not None and len(raw) <= 256:  # a session id is ~36 characters; no huge key is kept
                    if len(self._sids) >= MAX_SESSIONS * 4:
                        self._sids.clear()
                    self._sids[raw] = sid
            # ``last`` is built when the file is written (see :meth:`_materialise`): of the records a session gets
            # between two writes only its newest is ever read. The quota annotation is of now, so it is taken now.
            extra = self.annotate(record) if self.annotate is not None else None
            self._pending[sid] = (record, extra)
            entry = sessions.pop(sid, None) or {"totals": {"requests": 0, "by_model": {}}, "last": None}
            totals = entry["totals"]
            totals["requests"] += 1
            client_model = record.client_model
            model = str(record.model or client_model or "?")
            by_model = totals["by_model"]
            t = by_model.get(model)
            if t is None:
                t = by_model[model] = {"client_model": None, "requests": 0}
            t["client_model"] = client_model
            t["requests"] += 1
            usage = record.usage
            if usage:
                for k in USAGE_KEYS:
                    if k in usage:
                        v = usage[k]
                        t[k] = t.get(k, 0) + (v if type(v) is int else _count(v))
        else:
            sid = session_key(record.get("session_id"))
            last = _slim(record, sid)
            if sid in self._pending:  # this record is the newest
                del self._pending[sid]
            old = sessions.pop(sid, None)
            entry = {"totals": {"requests": 0, "by_model": {}}} if old is None else old
            entry["last"] = last
            totals = entry["totals"]
            totals["requests"] += 1
            model = str(last.get("model") or last.get("client_model") or "?")
            by_model = totals["by_model"]
            t = by_model.get(model)
            if t is None:
                t = by_model[model] = {"client_model": None, "requests": 0}
            t["client_model"] = last.get("client_model")
            t["requests"] += 1
            for k, v in last["usage"].items():
                t[k] = t.get(k, 0) + v
        sessions[sid] = entry
        while len(sessions) > self._max:
            oldest = next(iter(sessions))
            del sessions[oldest]
            if oldest in self._pending:  # pending records stay within the kept sessions: bounded
                del self._pending[oldest]
        self._latest = sid
        self._dirty = True
        if self._timer is None:
            self._schedule()

    def _materialise(self) -> None:
        """Set ``last`` of each session that got a record since the previous write."""
        pending, self._pending = self._pending, {}
        sessions = self._sessions
        for sid, (record, extra) in pending.items():
            entry = sessions.get(sid)
            if entry is None:  # only if a call failed half-way: sessions leave the table with their pending record
                continue
            last = _slim_record(record, sid)
            if extra:
                last.update(extra)
            entry["last"] = last

    def snapshot(self) -> bytes:
        self._materialise()
        doc = {"version": 1, "updated": time.time(), "latest": self._latest, "sessions": self._sessions}
        return json.dumps(doc, default=str, separators=(",", ":")).encode()

    def _schedule(self) -> None:
        if self._timer is not None or (self._task is not None and not self._task.done()):
            return  # a write is pending or running; it re-checks the dirty flag when it ends
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the server (tests, tools): write now
            self._write_sync()
            return
        delay = max(0.0, self._last_write + self._interval - self._clock())
        self._timer = loop.call_later(delay, self._start_write, loop)

    def _start_write(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._task = loop.create_task(self._write())

    async def _write(self) -> None:
        data = self.snapshot()  # serialised on the loop: the table is only touched there
        self._dirty = False
        try:
            await asyncio.to_thread(write_atomic, self.path, data)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)
        finally:
            self._last_write = self._clock()
        if self._dirty:
            self._task = None
            self._schedule()

    def _write_sync(self) -> None:
        data = self.snapshot()
        self._dirty = False
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)
        self._last_write = self._clock()

    async def flush(self) -> None:
        """Write pending changes now (at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            await self._task
        if self._timer is not None:  # the write that just ended may have scheduled the next one
            self._timer.cancel()
            self._timer = None
        if self._dirty:
            self._task = None
            await self._write()


def read_last(home: Path | str, session_id: str | None) -> dict[str, Any] | None:
    """The last record of ``session_id`` (the newest session's when None) plus its ``totals``, or None."""
    try:
        doc = json.loads((Path(home) / FILE_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    sessions = doc.get("sessions") if isinstance(doc, dict) else None
    if not isinstance(sessions, dict):
        return None
    key = session_key(session_id) if session_id else doc.get("latest")
    entry = sessions.get(key) if isinstance(key, str) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("last"), dict):
        return None
    out = dict(entry["last"])
    totals = entry.get("totals")
    out["totals"] = totals if isinstance(totals, dict) else {}
    return out
