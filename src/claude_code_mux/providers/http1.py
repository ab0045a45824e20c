"""A lean HTTP/1.1 upstream client on raw asyncio protocols and httptools (plain ``http://`` only).

aiohttp's client costs a lot of CPU per request (ClientSession._request, ClientRequest, the connector,
StreamReader).  A passthrough proxy needs far less: write one request, parse one response, hand the body
bytes on as they arrive, keep the connection for the next request.  ``https://`` URLs stay on aiohttp
(see :meth:`Http1Pool.supports`).

Usage::

    pool = Http1Pool()
    resp = await pool.request("POST", url, headers=h, body=b, connect_timeout=10, read_timeout=300)
    try:
        async for chunk in resp.iter_any():
            ...
    finally:
        resp.release()  # back to the pool if the body was read to the end, else the socket is closed
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from functools import lru_cache
from types import TracebackType
from typing import Final, NamedTuple
from urllib.parse import urlsplit

import httptools

__all__ = [
    "Http1Pool",
    "Http1Response",
    "UpstreamDisconnected",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
]

HIGH_WATER: Final = 1 << 20  # pause reading from the socket above this many buffered body bytes
_SKIP_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding"})


class UpstreamError(OSError):
    """Base of the errors raised by this client (connection refused etc. come as plain OSError)."""


class UpstreamTimeout(UpstreamError, TimeoutError):
    """No connection within connect_timeout, or no response bytes within read_timeout."""


class UpstreamDisconnected(UpstreamError, ConnectionError):
    """The upstream closed the connection before the response (headers or body) was complete."""


class UpstreamProtocolError(UpstreamError):
    """The upstream sent something that is not a valid HTTP/1.x response."""


class _Target(NamedTuple):
    key: tuple[str, str, int]
    host: str
    port: int
    host_header: str
    path: str


@lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Http1Pool handles only http:// and https:// URLs, got {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    netloc = parts.netloc.rpartition("@")[2]
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return _Target((scheme, parts.hostname, port), parts.hostname, port, netloc, path)


def _head(method: str, t: _Target, headers: dict[str, str], length: int) -> bytes:
    lines = [f"{method} {t.path} HTTP/1.1\r\nHost: {t.host_header}\r\nContent-Length: {length}\r\n"]
    for k, v in headers.items():
        if k.lower() in _SKIP_HEADERS:
            continue
        if "\r" in v or "\n" in v or "\r" in k or "\n" in k or ":" in k:
            raise ValueError(f"invalid header {k!r}")
        lines.append(f"{k}: {v}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


class _Conn(asyncio.Protocol):
    """One TCP connection and the state of the response in flight on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.active = False
        # One lazily re-armed timer per connection instead of a call_later per wait: it fires at
        # timer_at, and only times out the pending waiter if that waiter's own deadline has passed.
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.deadline = 0.0
        self.limit_s = 0.0
        self._reset(False)

    def _reset(self, head_only: bool) -> None:
        self.head_only = head_only
        self.received = False  # any byte of the response arrived
        self.informational = False
        self.headers_done = False
        self.done = False  # the whole message is parsed
        self.keep_alive = False
        self.until_eof = False  # body delimited by connection close
        self.status = 0
        self.reason = b""
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.paused = False
        self.exc: UpstreamError | None = None
        self.waiter: asyncio.Future[None] | None = None

    def start(self, method: str) -> None:
        if self.paused and self.transport is not None:
            self.transport.resume_reading()
        self._reset(method == "HEAD")
        self.active = True

    def abort(self) -> None:
        self.closed = True
        self.active = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.active and not self.done and self.exc is None:
            if self.headers_done and self.until_eof and exc is None:
                self.done = True
            else:
                where = "mid-body" if self.headers_done else "before the response headers"
                err = UpstreamDisconnected(f"upstream closed the connection {where}")
                err.__cause__ = exc
                self.exc = err
        self._wake()

    def data_received(self, data: bytes) -> None:
        if not self.active:  # unsolicited bytes on an idle connection: never reuse it
            self.abort()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            if self.done:  # junk after a complete response: keep the response, drop the connection
                self.keep_alive = False
                return
            err = UpstreamProtocolError(f"invalid HTTP response from upstream: {e}")
            err.__cause__ = e
            self.exc = err
            self.abort()
            self._wake()

    def on_message_begin(self) -> None:
        if self.done:  # a second response to one request
            self.keep_alive = False

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers_done:  # chunked trailers
            return
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = val if old is None else old + ", " + val

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # interim response (we never send Expect): wait for the real one
            self.informational = True
            self.headers = {}
            self.reason = b""
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        h = self.headers
        self.until_eof = (
            "content-length" not in h
            and "chunked" not in h.get("transfer-encoding", "").lower()
            and status not in (204, 304)
        )
        self.headers_done = True
        if self.head_only:  # httptools cannot be told that a HEAD response has no body
            self.done = True
            self.keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.done:
            return
        self.chunks.append(body)
        self.size += len(body)
        if self.size > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        w = self.waiter  # _wake(), inlined: this runs for every body chunk
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        self.done = True
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    async def wait(self, limit_s: float) -> None:
        """Wait for the next parser event; on timeout, error or cancellation the connection is aborted."""
        loop = self.loop
        w = loop.create_future()
        self.waiter = w
        self.limit_s = limit_s
        self.deadline = deadline = loop.time() + limit_s
        if self.timer is None or deadline < self.timer_at:
            if self.timer is not None:
                self.timer.cancel()
            self.timer_at = deadline
            self.timer = loop.call_at(deadline, self._on_timer)
        try:
            await w
        except BaseException:
            self.abort()
            raise
        finally:
            self.waiter = None

    def _on_timer(self) -> None:
        self.timer = None
        w = self.waiter
        if w is None or w.done():
            return  # nobody waiting: the next wait() arms a new timer
        if self.loop.time() >= self.deadline - 0.001:  # timers may fire up to a clock tick early
            w.set_exception(UpstreamTimeout(f"no data from upstream within {self.limit_s:g}s"))
        else:
            self.timer_at = self.deadline
            self.timer = self.loop.call_at(self.deadline, self._on_timer)

    async def wait_headers(self, limit_s: float) -> None:
        while not self.headers_done:
            if self.exc is not None:
                self.abort()
                raise self.exc
            await self.wait(limit_s)

    def take(self) -> bytes:
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.size = 0
        if self.paused:
            self.paused = False
            if self.transport is not None and not self.closed:
                self.transport.resume_reading()
        return data


class Http1Response:
    """A response whose body is read from the connection as it arrives."""

    __slots__ = ("_conn", "_eof", "_key", "_pool", "_timeout", "headers", "reason", "status")

    def __init__(self, pool: Http1Pool, key: tuple[str, str, int], conn: _Conn, read_timeout: float) -> None:
        self._pool = pool
        self._key = key
        self._conn: _Conn | None = conn
        self._timeout = read_timeout
        self._eof = False
        self.status: int = conn.status
        self.reason: str = conn.reason.decode("latin-1")
        self.headers: dict[str, str] = conn.headers  # lower-cased names, repeats joined with ", "

    @property
    def content_type(self) -> str:
        """The MIME type without parameters, lower-cased (aiohttp's default when absent)."""
        raw = self.headers.get("content-type")
        if not raw:
            return "application/octet-stream"
        return raw.partition(";")[0].strip().lower()

    async def readany(self) -> bytes:
        """The body bytes available now (waiting for some if none), b"" at the end of the body."""
        conn = self._conn
        if conn is None:
            if self._eof:
                return b""
            raise UpstreamDisconnected("response already closed")
        while True:
            if conn.chunks:
                return conn.take()
            if conn.exc is not None:
                self._conn = None
                conn.abort()
                raise conn.exc
            if conn.done:
                self._eof = True
                self.release()
                return b""
            await conn.wait(self._timeout)

    async def read(self) -> bytes:
        """The whole (rest of the) body."""
        parts: list[bytes] = []
        while data := await self.readany():
            parts.append(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_any(self) -> AsyncIterator[bytes]:
        while data := await self.readany():
            yield data

    def release(self) -> None:
        """Give the connection back to the pool if the response ended cleanly and allows keep-alive."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.done and conn.keep_alive and conn.exc is None and not conn.closed:
            self._pool._put(self._key, conn)
        else:
            conn.abort()

    def close(self) -> None:
        """Abort the connection; it is never reused."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    async def __aenter__(self) -> Http1Response:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.release()
        else:
            self.close()


class Http1Pool:
    """Keep-alive HTTP/1.1 connections per (scheme, host, port); one pool per provider."""

    def __init__(
        self,
        *,
        max_idle_per_host: int = 64,
        keepalive_expiry: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._ssl_context = ssl_context  # the system's trust store by default, made on first https use
        self.max_idle_per_host = max_idle_per_host
        self.keepalive_expiry = keepalive_expiry
        self.opened = 0  # connections made so far (for tests and metrics)
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._closed = False

    @staticmethod
    def supports(url: str) -> bool:
        """True if ``url`` can take the fast path (http:// or https://)."""
        return url[:7].lower() == "http://" or url[:8].lower() == "https://"

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def close(self) -> None:
        """Close every idle connection; later requests raise RuntimeError. Live responses are unaffected."""
        self._closed = True
        for conns in self._idle.values():
            for c in conns:
                c.abort()
        self._idle.clear()

    def _put(self, key: tuple[str, str, int], conn: _Conn) -> None:
        conn.active = False
        conn.chunks = []
        conns = self._idle.setdefault(key, [])
        if self._closed or len(conns) >= self.max_idle_per_host:
            conn.abort()
            return
        conn.idle_since = conn.loop.time()
        conns.append(conn)

    def _acquire(self, key: tuple[str, str, int], now: float) -> _Conn | None:
        conns = self._idle.get(key)
        while conns:
            conn = conns.pop()  # most recently used first: the likeliest to be alive
            tr = conn.transport
            if conn.closed or tr is None or tr.is_closing():
                continue
            if now - conn.idle_since > self.keepalive_expiry:
                conn.abort()
                continue
            return conn
        return None

    async def _connect(self, t: _Target, connect_timeout: float) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                if t.key[0] == "https":
                    _, conn = await loop.create_connection(
                        lambda: _Conn(loop), t.host, t.port, ssl=self._ssl(), server_hostname=t.host
                    )
                else:
                    _, conn = await loop.create_connection(lambda: _Conn(loop), t.host, t.port)
        except TimeoutError as e:
            raise UpstreamTimeout(f"connect to {t.host}:{t.port} timed out after {connect_timeout:g}s") from e
        self.opened += 1
        return conn

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes,
        connect_timeout: float,
        read_timeout: float,
    ) -> Http1Response:
        """Send one request and wait for the response headers; the body is read from the response.

        An idle connection is reused when alive; if it turns out closed before any response byte arrives,
        the request is sent once more on a fresh connection.
        """
        if self._closed:
            raise RuntimeError("Http1Pool is closed")
        t = _target(url)
        payload = _head(method, t, headers, len(body)) + body
        conn = self._acquire(t.key, asyncio.get_running_loop().time())
        if conn is not None:
            try:
                return await self._send(conn, t, method, payload, read_timeout)
            except UpstreamDisconnected:
                if conn.received:
                    raise
                # stale keep-alive connection closed by the server: nothing arrived, so retry once
        conn = await self._connect(t, connect_timeout)
        return await self._send(conn, t, method, payload, read_timeout)

    async def _send(self, conn: _Conn, t: _Target, method: str, payload: bytes, read_timeout: float) -> Http1Response:
        conn.start(method)
        assert conn.transport is not None
        conn.transport.write(payload)
        await conn.wait_headers(read_timeout)  # aborts the connection on any failure
        return Http1Response(self, t.key, conn, read_timeout)
