"""A lean HTTP/1.1 upstream client: a keep-alive pool of raw asyncio connections parsed with httptools.

aiohttp's client costs a lot of CPU per request (ClientSession._request, ClientRequest, the connector,
StreamReader).  A proxy needs far less: write one request, parse one response, hand the body bytes on as they
arrive, keep the connection for the next request.  ``http://`` and ``https://`` (TLS verified against the system
store) are supported, directly or through an http proxy (:mod:`claude_code_mux.providers.proxy`); the wire side is
:mod:`claude_code_mux.providers.http1_conn`.

What it guarantees: every failure is a :class:`claude_code_mux.errors.TransportError`; a connection that
received bytes after a complete response is never pooled; response heads are bounded (line, count, size); a
``Content-Encoding`` the upstream sends although we asked for ``identity`` is decoded (and the header dropped);
a POST is sent a second time only when the first send provably never left (the reused connection was found
closed when writing), never after it was written.

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
from collections.abc import AsyncIterator, Coroutine, Mapping
from types import TracebackType
from typing import Any

from claude_code_mux.errors import ConnectFailed, RemoteProtocolError, TransportTimeout, UpstreamClosed
from claude_code_mux.providers.decode import Decoder, decoder_for
from claude_code_mux.providers.http1_conn import Connection, Target, request_head, target
from claude_code_mux.providers.proxy import Proxy, open_tunnel

__all__ = ["MAX_BODY_BYTES", "Http1Pool", "Http1Response"]

MAX_BODY_BYTES = 64 * 1024 * 1024  # read() refuses a (decoded) body larger than this


class Http1Response:
    """A response whose body is read from the connection as it arrives."""

    __slots__ = ("_conn", "_decoder", "_eof", "_key", "_pool", "_timeout", "headers", "reason", "status")

    def __init__(self, pool: Http1Pool, key: tuple[str, str, int], conn: Connection, read_timeout: float) -> None:
        self._pool = pool
        self._key = key
        self._conn: Connection | None = conn
        self._timeout = read_timeout
        self._eof = False
        self.status: int = conn.status
        self.reason: str = conn.reason.decode("latin-1")
        self.headers: dict[str, str] = conn.headers  # lower-cased names, repeats joined with ", "
        # We ask for identity; an upstream that encodes anyway is decoded here, so the headers stay true.
        self._decoder: Decoder | None = None
        encoding = self.headers.get("content-encoding")
        if encoding is not None and (encoding := encoding.strip().lower()) and encoding != "identity":
            self._decoder = decoder_for(encoding, pool.max_body_bytes)  # RemoteProtocolError if unknown
            del self.headers["content-encoding"]
            self.headers.pop("content-length", None)

    @property
    def content_type(self) -> str:
        """The MIME type without parameters, lower-cased (aiohttp's default when absent)."""
        raw = self.headers.get("content-type")
        if not raw:
            return "application/octet-stream"
        return raw.partition(";")[0].strip().lower()

    def readany(self) -> Coroutine[Any, Any, bytes]:
        """The body bytes available now (waiting for some if none), b"" at the end of the body.

        A plain function handing out the coroutine that reads: no coroutine layer of its own on every read.
        """
        if self._decoder is None:
            return self._readany_raw()
        return self._readany_decoded(self._decoder)

    async def _readany_decoded(self, dec: Decoder) -> bytes:
        while True:
            raw = await self._readany_raw()
            out = dec.feed(raw) if raw else dec.flush()
            if out or not raw:
                return out

    async def _readany_raw(self) -> bytes:
        conn = self._conn
        if conn is None:
            if self._eof:
                return b""
            raise UpstreamClosed("response already closed")
        while True:
            if conn.chunks:
                return conn.take()
            if conn.exc is not None:
                self._conn = None
                self._pool.in_use -= 1
                conn.abort()
                raise conn.exc
            if conn.done:
                self._eof = True
                self.release()
                return b""
            await conn.wait(self._timeout)

    async def read(self, limit: int | None = None) -> bytes:
        """The whole (rest of the) body; over ``limit`` (the pool's body limit by default) the attempt fails."""
        cap = self._pool.max_body_bytes if limit is None else limit
        parts: list[bytes] = []
        size = 0
        while data := await self.readany():
            size += len(data)
            if size > cap:
                self.close()
                raise RemoteProtocolError(f"upstream body over {cap} bytes")
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
        self._pool.in_use -= 1
        if conn.done and conn.keep_alive and conn.exc is None and not conn.closed and not conn.stray:
            self._pool._put(self._key, conn)
        else:
            conn.abort()

    def close(self) -> None:
        """Abort the connection; it is never reused."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.in_use -= 1
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
        proxy: Proxy | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._ssl_context = ssl_context  # the system's trust store by default, made on first https use
        self.max_idle_per_host = max_idle_per_host
        self.keepalive_expiry = keepalive_expiry
        self.proxy = proxy
        self.max_body_bytes = max_body_bytes
        self.opened = 0  # connections made so far (for tests and metrics)
        self.in_use = 0  # responses handed out and not yet released or closed
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

    def _acquire(self, key: tuple[str, str, int]) -> Connection | None:
        conns = self._idle.get(key)
        while conns:
            conn = conns.pop()  # most recently used first: the likeliest to be alive
            tr = conn.transport
            if conn.closed or tr is None or tr.is_closing():
                continue
            # The connection's own loop clock (asyncio.get_running_loop() costs a getpid() per call).
            if conn.loop.time() - conn.idle_since > self.keepalive_expiry:
                conn.abort()
                continue
            return conn
        return None

    async def _connect(self, t: Target, connect_timeout: float) -> Connection:
        loop = asyncio.get_running_loop()
        proxy = self.proxy
        via = f" through proxy {proxy.display}" if proxy is not None else ""
        try:
            async with asyncio.timeout(connect_timeout):
                if proxy is not None and t.key[0] == "https":
                    raw = await open_tunnel(proxy, t.host, t.port)
                    conn = Connection(loop)
                    tls = await loop.start_tls(raw, conn, self._ssl(), server_hostname=t.host)
                    if tls is None:  # pragma: no cover - only when the loop cannot do TLS
                        raise ConnectFailed("TLS could not be started over the proxy tunnel")
                    conn.connection_made(tls)
                elif proxy is not None:
                    _, conn = await loop.create_connection(lambda: Connection(loop), proxy.host, proxy.port)
                elif t.key[0] == "https":
                    _, conn = await loop.create_connection(
                        lambda: Connection(loop), t.host, t.port, ssl=self._ssl(), server_hostname=t.host
                    )
                else:
                    _, conn = await loop.create_connection(lambda: Connection(loop), t.host, t.port)
        except TimeoutError:
            raise TransportTimeout(f"connect to {t.host}:{t.port}{via} timed out after {connect_timeout:g}s") from None
        except (ConnectFailed, UpstreamClosed):
            raise
        except ssl.SSLError as e:
            raise ConnectFailed(f"TLS to {t.host}:{t.port}{via} failed: {e.reason or e}") from None
        except OSError as e:
            raise ConnectFailed(f"cannot connect to {t.host}:{t.port}{via}: {e.strerror or e}") from None
        except (RuntimeError, ValueError) as e:  # e.g. a loop that cannot start TLS: still a TransportError
            raise ConnectFailed(f"cannot connect to {t.host}:{t.port}{via}: {e}") from None
        self.opened += 1
        return conn

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        connect_timeout: float,
        read_timeout: float,
    ) -> Coroutine[Any, Any, Http1Response]:
        """Send one request and wait for the response headers (``await pool.request(...)``); the body is read
        from the response.

        What needs no I/O is done at the call (``RuntimeError`` on a closed pool, ``ValueError`` for a URL or a
        header that cannot be sent) and the returned coroutine does the rest, so a caller that maps those errors
        can return it and save a coroutine layer on every resumption. An idle connection is reused when alive.
        The request is sent a second time (on a fresh connection) only when the reused one was found closed by
        the time it was written, so not one byte of the request left; once written, a close before the
        response is the caller's failure (the upstream may have run it).
        """
        if self._closed:
            raise RuntimeError("Http1Pool is closed")
        t = target(url)
        forward = self.proxy is not None and t.key[0] == "http"
        auth = (self.proxy.authorization or "-") if forward and self.proxy is not None else ""
        head = request_head(method, t, headers, len(body), proxy_auth=auth)
        return self._exchange(method, t, head, body, connect_timeout, read_timeout)

    async def _exchange(
        self, method: str, t: Target, head: bytes, body: bytes, connect_timeout: float, read_timeout: float
    ) -> Http1Response:
        conn = self._acquire(t.key)
        if conn is None or not self._write(conn, method, head, body):
            conn = await self._connect(t, connect_timeout)
            if not self._write(conn, method, head, body):
                raise UpstreamClosed(f"upstream {t.host}:{t.port} closed the new connection before the request")
        while not conn.headers_done:  # the wait aborts the connection on a timeout or a cancellation
            if conn.exc is not None:
                conn.abort()
                raise conn.exc
            await conn.wait(read_timeout)
        try:
            resp = Http1Response(self, t.key, conn, read_timeout)
        except BaseException:
            conn.abort()
            raise
        self.in_use += 1
        return resp

    @staticmethod
    def _write(conn: Connection, method: str, head: bytes, body: bytes) -> bool:
        """Write the request; False when the connection was closed before (or while) the first byte went out.

        Head and body go out in one gathered send (no joined copy of a body that may be a megabyte).
        """
        tr = conn.transport
        if conn.closed or tr is None or tr.is_closing():
            conn.abort()
            return False
        conn.start(method)
        if body:
            tr.writelines((head, body))
        else:
            tr.write(head)
        # A send that failed at once (reset already received) closes the transport before anything was sent.
        if tr.is_closing() and not conn.received:
            conn.abort()
            return False
        return True
