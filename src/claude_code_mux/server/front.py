"""The lean HTTP/1.1 front: ``POST /v1/messages`` served straight off the socket, everything else to aiohttp.

Every connection starts here. httptools parses each request head; a plain ``POST /v1/messages`` (HTTP/1.1,
``Content-Length``, no ``Expect``/upgrade, within ``server.max_body_bytes``) is handled by
:func:`serve_messages` with responses written directly to the transport. Anything else — another path,
a chunked upload, HTTP/1.0 — hands the connection to aiohttp for good: the bytes received since that request
began are replayed into an aiohttp protocol attached to the same transport, so aiohttp sees exactly what the
client sent. Requests on one connection are answered in order (pipelining included).

Why: aiohttp's request and response machinery was about a fifth of the router's CPU per streamed request;
this path does only what a Claude Code request needs. What aiohttp did for these requests is kept: the error
envelope, the limits, keep-alive with an idle timeout, cancelling the handler when the client goes away.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools
from aiohttp import web

from claude_code_mux.errors import HttpError, error_body
from claude_code_mux.server.exchange import Inbound
from claude_code_mux.server.front_out import JSON, FrontOut, probe_answer, response_head
from claude_code_mux.server.limits import LIMITER, admit
from claude_code_mux.server.messages import serve_messages
from claude_code_mux.server.state import HOLDER

_PATH = b"/v1/messages"
_KEEP_ALIVE_S = 75.0
_MAX_QUEUED = 8
_MAX_HEAD = 64 * 1024  # request line + headers (aiohttp allows 8190 bytes per line)


class _StopParsing(Exception):
    """Raised from a parser callback to stop parsing: at a request aiohttp is to serve, or one refused."""


@dataclass(slots=True)
class _Request:
    kind: str  # "messages", or "head" / "health": answered here without a handler
    path: str
    query: str
    headers: dict[str, str]
    body_start: int
    length: int
    body: bytes = b""
    keep_alive: bool = True


class Front:
    """The protocol factory for the listening socket, and the set of connections it serves."""

    def __init__(self, app: web.Application, fallback: Callable[[], asyncio.Protocol]) -> None:
        self.app = app
        self.holder = app[HOLDER]
        self.fallback = fallback
        self.conns: set[_Conn] = set()
        self.closing = False

    def __call__(self) -> asyncio.Protocol:
        return _Conn(self)

    @property
    def logger(self) -> logging.Logger:
        return self.holder.logger

    def close(self) -> None:
        """Stop keeping connections alive: idle ones close now, busy ones after their response."""
        self.closing = True
        for conn in list(self.conns):
            conn.close_when_idle()


class _Conn(asyncio.Protocol):
    """One client connection while the front serves it."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.raw = bytearray()  # bytes received from the start of the oldest request not yet consumed
        self.url = b""
        self.header_list: list[tuple[bytes, bytes]] = []
        self.current: _Request | None = None
        self.queue: collections.deque[_Request] = collections.deque()
        self.task: asyncio.Task[None] | None = None
        self.handover_at: int | None = None
        self.refusal: tuple[int, str] | None = None
        self.paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.idle: asyncio.TimerHandle | None = None
        self.remote: str | None = None

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self.front.conns.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.front.conns.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        if self.task is not None:
            self.task.cancel()  # the client went away: the handler's `finally` closes the upstream
        self._wake(ConnectionResetError("client disconnected"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake(None)

    def data_received(self, data: bytes) -> None:
        # The idle timer keeps running until a whole request head has arrived (a client that sends a partial
        # head and stops is closed like an idle one); on_headers_complete cancels it.
        if self.refusal is not None:
            return  # answered (in turn) and closed; nothing more is read
        self.raw += data
        if self.handover_at is not None:
            # Parsing stopped; aiohttp gets these bytes with the rest once the requests before it are answered.
            if self.transport is not None:
                self.transport.pause_reading()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if self.handover_at is None and self.refusal is None:
                raise
        except httptools.HttpParserError as exc:
            self._refuse(400, f"malformed HTTP request: {exc}")
        else:
            if self.current is None and len(self.raw) > _MAX_HEAD:
                self._refuse(431, f"request head larger than {_MAX_HEAD} bytes")
        self._next()

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        self.url = b""
        self.header_list = []
        # The parser skips empty lines before a request line; drop them here too, so the buffer starts exactly
        # at this request (its head end, its body and any hand-over replay are found from offset 0).
        n = 0
        raw = self.raw
        while n < len(raw) and raw[n] in b"\r\n":
            n += 1
        if n:
            del raw[:n]

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_list.append((name, value))

    def on_headers_complete(self) -> None:
        headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in self.header_list}
        path, _, query = self.url.partition(b"?")
        head_end = self.raw.find(b"\r\n\r\n")
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        if len(self.raw) > _MAX_HEAD and self.raw.find(b"\r\n\r\n", 0, _MAX_HEAD) < 0:
            self._refuse(431, f"request head larger than {_MAX_HEAD} bytes")
            raise _StopParsing  # the refusal is answered in turn
        p = self.parser
        method = p.get_method()
        # Claude Code opens every run with `HEAD /` as a preconnect: answering it here keeps that connection,
        # which it then reuses for /v1/messages, on this front.
        probe = (method == b"HEAD" and path == b"/") or (method == b"GET" and path == b"/health")
        length = headers.get("content-length", "0" if probe else "")
        if (
            not (probe or (path == _PATH and method == b"POST"))
            or p.get_http_version() != "1.1"
            or not length.isdigit()
            or (probe and length != "0")
            or int(length) > self.front.holder.current.config.server.max_body_bytes
            or "transfer-encoding" in headers
            or "expect" in headers
            or p.should_upgrade()
            or head_end < 0
            or self.front.closing
        ):
            self.handover_at = 0
            raise _StopParsing
        kind = "messages" if not probe else "head" if method == b"HEAD" else "health"
        self.current = _Request(
            kind, path.decode("latin-1"), query.decode("latin-1"), headers, head_end + 4, int(length)
        )

    def on_message_complete(self) -> None:
        req = self.current
        assert req is not None
        self.current = None
        end = req.body_start + req.length
        req.body = bytes(self.raw[req.body_start : end])
        req.keep_alive = self.parser.should_keep_alive()
        del self.raw[:end]  # the next request (if pipelined) starts at offset 0 now
        self.queue.append(req)
        if len(self.queue) > _MAX_QUEUED and self.transport is not None:
            self.transport.pause_reading()  # a client pipelining far ahead waits for its answers

    # ------------------------------------------------------------------ serving

    def _next(self) -> None:
        if self.task is not None or self.closed:
            return
        if self.queue:
            req = self.queue.popleft()
            if len(self.queue) == _MAX_QUEUED and self.transport is not None:
                self.transport.resume_reading()
            self.task = asyncio.get_running_loop().create_task(self._serve(req))
            self.task.add_done_callback(self._served)
        elif self.handover_at is not None:
            self._hand_over()
        elif self.refusal is not None:
            status, why = self.refusal
            body = error_body("invalid_request_error", why)
            self.write(response_head(status, JSON, f"content-length: {len(body)}\r\n", False) + body)
            self._close()

    def _served(self, task: asyncio.Task[None]) -> None:
        self.task = None
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            if not isinstance(exc, ConnectionError):  # a client that went away is not an error
                self.front.logger.error("front: request failed after its response started", exc_info=exc)
            self._close()
            return
        if self.closed:
            return
        if self.queue or self.handover_at is not None or self.refusal is not None:
            self._next()
        elif self.front.closing:
            self._close()
        else:
            self._arm_idle()

    async def _serve(self, req: _Request) -> None:
        t0 = time.perf_counter()
        front = self.front
        keep_alive = req.keep_alive and not front.closing
        out = FrontOut(self, keep_alive)
        if req.kind != "messages":
            self.write(probe_answer(req.kind, keep_alive))
            if not keep_alive:
                self._close()
            return
        inbound = Inbound("POST", req.path, req.query, req.headers, self.remote)
        release: Callable[[], None] | None = None
        try:
            limiter = front.app.get(LIMITER)
            if limiter is not None:
                s = front.holder.current.config.server
                release = admit(limiter, s, "POST", req.path, req.headers, self.remote)
            await serve_messages(front.holder, inbound, req.body, out, t0)
            if not out.started:  # every path answers; never leave a client waiting if one does not
                raise RuntimeError("the messages handler returned without a response")
        except HttpError as err:
            if out.started:
                raise
            await out.send(err.status, {**err.headers, **JSON}, err.body())
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            if out.started:
                raise
            rid = uuid.uuid4().hex[:12]
            front.logger.exception("internal error request_id=%s path=%s", rid, req.path)
            msg = f"internal error in claude-code-mux (request id {rid}); see the log"
            await out.send(500, JSON, error_body("api_error", msg))
        finally:
            if release is not None:
                release()
        if not keep_alive:
            self._close()

    def _hand_over(self) -> None:
        """Give the connection to aiohttp, replaying the bytes of the request it is to serve first."""
        assert self.transport is not None and self.handover_at is not None
        rest = bytes(self.raw[self.handover_at :])
        self.raw = bytearray()
        self.front.conns.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        proto = self.front.fallback()
        self.transport.set_protocol(proto)
        proto.connection_made(self.transport)
        if self.paused:  # the client is not reading: aiohttp must know before it writes
            proto.pause_writing()
        # Reading was paused while the hand-over waited; resume before the replay so that aiohttp's own flow
        # control (which may pause again while it takes the replayed bytes) has the last word.
        self.transport.resume_reading()
        if rest:
            proto.data_received(rest)

    def _refuse(self, status: int, why: str) -> None:
        """Stop reading; answer ``status`` once the requests before this one are answered, then close."""
        self.refusal = (status, why)
        self.raw = bytearray()
        if self.transport is not None:
            self.transport.pause_reading()

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("client disconnected")
        self.transport.write(data)

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("client disconnected")
        if not self.paused:
            return
        waiter = self.drain_waiter = asyncio.get_running_loop().create_future()
        await waiter

    def _wake(self, exc: Exception | None) -> None:
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    def _arm_idle(self) -> None:
        if self.idle is None and not self.closed:
            self.idle = asyncio.get_running_loop().call_later(_KEEP_ALIVE_S, self._close)

    def close_when_idle(self) -> None:
        if self.task is None and not self.queue:
            self._close()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
