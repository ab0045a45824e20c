"""A lean HTTP/1.1 upstream client: a keep-alive pool of raw asyncio connections parsed with httptools.

aiohttp's client costs a lot of CPU per request (ClientSession._request, ClientRequest, the connector,
StreamReader).  A proxy needs far less: write one request, parse one response, hand the body bytes on as they
arrive, keep the connection for the next request.  ``http://`` and ``https://`` (TLS verified against the system
store) are supported; the wire side is :mod:`claude_code_mux.providers.http1_conn`.

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
import ssl
from collections.abc import AsyncIterator
from types import TracebackType

from claude_code_mux.providers.http1_conn import (
    Connection,
    Target,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    request_head,
    target,
)

__all__ = [
    "Http1Pool",
    "Http1Response",
    "UpstreamDisconnected",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
]


class Http1Response:
    """A response whose body is read from the connection as it arrives."""

    __slots__ = ("_conn", "_eof", "_key", "_pool", "_timeout", "headers", "reason", "status")

    def __init__(self, pool: Http1Pool, key: tuple[str, str, int], conn: Connection, read_timeout: float) -> None:
        self._pool = pool
        self._key = key
        self._conn: Connection | None = conn
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
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
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

    def _put(self, key: tuple[str, str, int], conn: Connection) -> None:
        conn.active = False
        conn.chunks = []
        conns = self._idle.setdefault(key, [])
        if self._closed or len(conns) >= self.max_idle_per_host:
            conn.abort()
            return
        conn.idle_since = conn.loop.time()
        conns.append(conn)

    def _acquire(self, key: tuple[str, str, int], now: float) -> Connection | None:
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

    async def _connect(self, t: Target, connect_timeout: float) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                if t.key[0] == "https":
                    _, conn = await loop.create_connection(
                        lambda: Connection(loop), t.host, t.port, ssl=self._ssl(), server_hostname=t.host
                    )
                else:
                    _, conn = await loop.create_connection(lambda: Connection(loop), t.host, t.port)
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
        t = target(url)
        payload = request_head(method, t, headers, len(body)) + body
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

    async def _send(
        self, conn: Connection, t: Target, method: str, payload: bytes, read_timeout: float
    ) -> Http1Response:
        conn.start(method)
        assert conn.transport is not None
        conn.transport.write(payload)
        await conn.wait_headers(read_timeout)  # aborts the connection on any failure
        return Http1Response(self, t.key, conn, read_timeout)
