"""One upstream HTTP/1.1 connection as an asyncio protocol: write a request, parse the response with httptools.

The pool and the response object that callers see are in :mod:`claude_code_mux.providers.http1`; this module is
the wire side: URL targets, the request head, and :class:`Connection`, which buffers body bytes as they arrive
(pausing the socket above :data:`HIGH_WATER`) and wakes the reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping
from functools import lru_cache
from typing import Final, NamedTuple, NoReturn
from urllib.parse import urlsplit

import httptools

from claude_code_mux.errors import RemoteProtocolError, TransportError, TransportTimeout, UpstreamClosed

HIGH_WATER: Final = 1 << 20  # pause reading from the socket above this many buffered body bytes
# Response head limits (aiohttp's are the model): one header line, the number of headers, the whole head.
MAX_LINE_BYTES: Final = 8190
MAX_HEADERS: Final = 128
MAX_HEAD_BYTES: Final = 64 * 1024
_SKIP_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "accept-encoding"})
# Response header names as received -> lower-cased str: the same few dozen names on every response of a provider.
# Bounded (names up to 64 bytes, dropped whole at 512 entries): an upstream sending random names costs what it
# did without the cache, never memory.
_NAMES: dict[bytes, str] = {}
_NAME_CACHE_SIZE: Final = 512
_NAME_CACHE_MAX_LEN: Final = 64


class Target(NamedTuple):
    key: tuple[str, str, int]
    host: str
    port: int
    host_header: str
    path: str
    origin: str  # scheme://host[:port], for the absolute-form request line through an http proxy


@lru_cache(maxsize=256)
def target(url: str) -> Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Http1Pool handles only http:// and https:// URLs, got {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    netloc = parts.netloc.rpartition("@")[2]
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return Target((scheme, parts.hostname, port), parts.hostname, port, netloc, path, f"{scheme}://{netloc}")


def request_head(method: str, t: Target, headers: Mapping[str, str], length: int, *, proxy_auth: str = "") -> bytes:
    """The request head. ``Accept-Encoding: identity`` is always sent: we relay bodies, we do not re-encode them.

    ``proxy_auth`` set (even to "-" for none) means the request goes to an http proxy: absolute-form target,
    and ``Proxy-Authorization`` unless it is "-". A header we set ourselves (``_SKIP_HEADERS``, any case) is
    dropped; one that would break the head (CR or LF anywhere, ":" in a name) raises ValueError.
    """
    path = t.origin + t.path if proxy_auth else t.path
    lines = [
        f"{method} {path} HTTP/1.1\r\nHost: {t.host_header}\r\nContent-Length: {length}\r\n"
        "Accept-Encoding: identity\r\n"
    ]
    if proxy_auth and proxy_auth != "-":
        lines.append(f"Proxy-Authorization: {proxy_auth}\r\n")
    # Checked on all names and all values at once (two joins, a few C-level scans instead of five tests per
    # header); only a suspicious head is gone through header by header to name the culprit.
    names = "".join(headers)
    values = "".join(headers.values())
    if "\r" in values or "\n" in values or "\r" in names or "\n" in names or ":" in names:
        for k, v in headers.items():
            if k.lower() not in _SKIP_HEADERS and ("\r" in v or "\n" in v or "\r" in k or "\n" in k or ":" in k):
                raise ValueError(f"invalid header {k!r}")
    if names.islower() or not names:  # the usual case: names already lower-cased (the dialects forward them so)
        lines += [f"{k}: {v}\r\n" for k, v in headers.items() if k not in _SKIP_HEADERS]
    else:
        lines += [f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in _SKIP_HEADERS]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def join_headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with ", " in one pass (linear, not by repeated concatenation)."""
    out = dict(pairs)
    if len(out) == len(pairs):  # the usual case: no name repeated (one C-level pass)
        return out
    out = {}
    repeated: dict[str, list[str]] = {}
    for k, v in pairs:
        if k in out:
            repeated.setdefault(k, [out[k]]).append(v)
        out[k] = v
    for k, vs in repeated.items():
        out[k] = ", ".join(vs)
    return out


class Connection(asyncio.Protocol):
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
        self.raw_headers: list[tuple[str, str]] = []
        self.head_size = 0  # bytes received while the head was incomplete
        self.head_bytes = 0  # header names and values so far
        self.stray = False  # bytes arrived after the complete response: never pool this connection
        self.chunks: list[bytes] = []
        self.size = 0
        self.paused = False
        self.exc: TransportError | None = None
        self.limit_error = ""
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
                err = UpstreamClosed(f"upstream closed the connection {where}")
                err.__cause__ = exc
                self.exc = err
        self._wake()

    def data_received(self, data: bytes) -> None:
        if not self.active or self.done:  # unsolicited bytes (idle, or after a complete response)
            self._drop_stray()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            if self.stray or self.done:  # junk after a complete response: keep the response, drop the connection
                self._drop_stray()
                return
            self._fail(RemoteProtocolError(self.limit_error or f"invalid HTTP response from upstream: {e}"))
            return
        if self.stray:
            self._drop_stray()
        elif not self.headers_done:
            self.head_size += len(data)  # all of it is head: the head has not ended yet
            if self.head_size > MAX_HEAD_BYTES:
                self._fail(RemoteProtocolError(f"upstream response head over {MAX_HEAD_BYTES} bytes"))

    def _fail(self, err: TransportError) -> None:
        self.exc = err
        self.abort()
        self._wake()

    def _drop_stray(self) -> None:
        """A second response, or any byte after the first one ended: the response stands, the connection goes."""
        self.stray = True
        self.keep_alive = False
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    def on_message_begin(self) -> None:
        if self.done:  # a second response to one request: stop taking anything from it
            self.stray = True
            self.keep_alive = False

    def on_status(self, status: bytes) -> None:
        if not self.stray:
            self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        """One response header (called by httptools for each): bounded, then its name lower-cased."""
        if self.headers_done or self.stray:  # chunked trailers, or a stray response
            return
        size = len(name) + len(value)
        raw = self.raw_headers
        self.head_bytes = head = self.head_bytes + size + 4
        if size > MAX_LINE_BYTES or len(raw) >= MAX_HEADERS or head > MAX_HEAD_BYTES:  # one test while all is well
            self._over_limit(size, len(raw))
        key = _NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(name) <= _NAME_CACHE_MAX_LEN:
                if len(_NAMES) >= _NAME_CACHE_SIZE:
                    _NAMES.clear()
                _NAMES[name] = key
        raw.append((key, value.decode("latin-1")))

    def _over_limit(self, size: int, count: int) -> NoReturn:
        """The first bound a header broke, as the parser's error (the line, then the count, then the head)."""
        if size > MAX_LINE_BYTES:
            self.limit_error = f"upstream header line over {MAX_LINE_BYTES} bytes"
        elif count >= MAX_HEADERS:
            self.limit_error = f"upstream response has more than {MAX_HEADERS} headers"
        else:
            self.limit_error = f"upstream response head over {MAX_HEAD_BYTES} bytes"
        raise ValueError(self.limit_error)

    def on_headers_complete(self) -> None:
        if self.stray:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # interim response (we never send Expect): wait for the real one
            self.informational = True
            self.raw_headers = []
            self.reason = b""
            return
        self.headers = join_headers(self.raw_headers)
        self.raw_headers = []
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
        if self.done or self.stray:
            return
        self.chunks.append(body)
        self.size = size = self.size + len(body)
        if size > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        w = self.waiter  # _wake(), inlined: this runs for every body chunk
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    def on_message_complete(self) -> None:
        if self.stray:
            return
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
            w.set_exception(TransportTimeout(f"no data from upstream within {self.limit_s:g}s"))
        else:
            self.timer_at = self.deadline
            self.timer = self.loop.call_at(self.deadline, self._on_timer)

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
