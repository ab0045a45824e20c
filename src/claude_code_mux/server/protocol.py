"""uvicorn's httptools protocol with the bounds a router facing hostile clients needs.

uvicorn parses with llhttp (which refuses smuggling shapes: CL+TE, duplicate Content-Length, bad chunk sizes,
obs-fold) and strips trailing whitespace from header values. On top of it, this subclass adds only:

* a bound on the request head (:data:`MAX_HEAD_BYTES`, :data:`MAX_HEADERS`): 431;
* a time limit for a head to arrive once it has begun, and for a new connection's first byte
  (``server.timeouts.client_read_ms``): the connection is closed;
* refusals as Anthropic error envelopes, answered in turn: a malformed request pipelined behind good ones is
  refused after their answers, never before them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from claude_code_mux.errors import error_body, error_type_for_status

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 256


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop at an oversized head."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """One client connection (see the module docstring); ``head_timeout_s`` is set on the class by the server."""

    head_timeout_s: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_size = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # a refusal is waiting for the answers before it; nothing more is read
        try:
            super().data_received(data)
        except _HeadTooLarge:  # pragma: no cover - httptools wraps callback errors; see below
            self._refuse(431, f"request head larger than {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers")

    def send_400_response(self, msg: str) -> None:
        # Called by uvicorn for a parser error; the oversized-head stop arrives here as a callback error.
        if self._head_size > MAX_HEAD_BYTES or self._header_count > MAX_HEADERS:
            self._refuse(431, f"request head larger than {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers")
        else:
            self._refuse(400, "malformed HTTP request")

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        self._header_count = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        self._header_count += 1
        if self._head_size > MAX_HEAD_BYTES or self._header_count > MAX_HEADERS:
            raise _HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refusal is not None and not self.pipeline:
            self._write_refusal()

    # ------------------------------------------------------------------ refusals and timers

    def _busy(self) -> bool:
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _refuse(self, status: int, why: str) -> None:
        body = error_body(error_type_for_status(status), why)
        phrase = {400: "Bad Request", 431: "Request Header Fields Too Large"}.get(status, "Error")
        self._refusal = (
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode() + body
        self._cancel_head_timer()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            # The error is in this request's body: the request is refused whole, never handed a partial body.
            queued = [entry for entry in self.pipeline if entry[0] is cycle]
            for entry in queued:
                self.pipeline.remove(entry)
            if not queued:  # it is running: its handler sees the client gone, the refusal goes out now
                cycle.disconnected = True
                cycle.message_event.set()
                self._write_refusal()
                return
        if self._busy():
            self.flow.pause_reading()
        else:
            self._write_refusal()

    def _write_refusal(self) -> None:
        if self._refusal is not None and not self.transport.is_closing():
            self.transport.write(self._refusal)
            self.transport.close()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._busy() and not self.transport.is_closing():
            self.transport.close()
