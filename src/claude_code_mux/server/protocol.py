"""uvicorn's httptools protocol with the bounds a router facing hostile clients needs.

uvicorn parses with llhttp (which refuses smuggling shapes: CL+TE, duplicate Content-Length, bad chunk sizes,
obs-fold) and strips trailing whitespace from header values. On top of it, this subclass adds only:

* a bound on the request head (:data:`MAX_HEAD_BYTES`, :data:`MAX_HEADERS`): 431;
* a time limit on a client that owes bytes — a new connection's first request, a head that has begun, a body
  that has not finished — and sends none for ``server.timeouts.client_read_ms`` (slowloris): a stalled head closes
  the connection, a stalled body is answered 408. One timer, armed only while bytes are owed: a request that
  arrives in one read (the usual case) arms none;
* refusals as Anthropic error envelopes, answered in turn: a malformed request pipelined behind good ones is
  refused after their answers, never before them;
* a disconnect hook: a handler puts a callable at ``scope["state"][ON_GONE]`` and it is called when the client
  goes away before the answer is complete — so the hot path learns of a disconnect without a task waiting on
  ``receive()`` for every request (uvicorn tells only the newest request of a connection, by ``receive()``);
* a body joined once: the parser's chunks are kept as they come (uvicorn appends each to a ``bytearray`` and
  copies it out again on every ``receive()``) and joined when handed over. A body with a
  ``Content-Length`` is handed over whole (or every :data:`BODY_HANDOFF` bytes) in one ``http.request``
  message, so the handler wakes once, not once per socket read; a chunked body is handed over as it arrives,
  so a reader's limit still refuses it at the first read over it. uvicorn's flow control holds: reading pauses
  above its high-water mark while no ``receive()`` waits, and above :data:`BODY_HANDOFF` in any case.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn._types import ASGIReceiveEvent
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from claude_code_mux.errors import error_body, error_type_for_status

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 256
# Set in the request's scope["state"] when its body stalled: the handler records a 408, not a client gone.
STALLED = "ccm.client_stalled"
# scope["state"] key: a callable run when the client disconnects before the answer is complete.
ON_GONE = "ccm.on_gone"
HOOKS = "ccm.hooks"  # present when the request is served by this protocol (ON_GONE and STALLED work)
# A Content-Length body is handed to receive() whole, or in pieces of about this size when larger.
BODY_HANDOFF = 4 * 1024 * 1024


def body_writer(send: Any) -> RequestResponseCycle | None:
    """The uvicorn cycle behind an ASGI ``send``, when it is its own bound method (for :func:`write_chunk`)."""
    cycle = getattr(send, "__self__", None)
    return cycle if isinstance(cycle, RequestResponseCycle) else None


def write_chunk(cycle: RequestResponseCycle, data: bytes) -> bool:
    """Write one non-empty streamed body chunk straight to the transport, as ``send`` of an
    ``http.response.body`` message with ``more_body`` would: True when written, False when the caller must go
    through ``send`` (response not started or not chunked — a HEAD —, finished, client gone, or writes paused)."""
    if (
        cycle.chunked_encoding
        and not cycle.response_complete
        and not cycle.disconnected
        and not cycle.flow.write_paused
    ):
        cycle.transport.write(chunk_frame(data))
        return True
    return False


class _Held:
    """A stand-in for the transport while uvicorn's ``send`` writes a response head (see :func:`send_held`)."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


def can_hold(cycle: RequestResponseCycle) -> bool:
    """Whether :func:`send_held` may run: nothing sent yet, the client there, writes not paused (so ``send``
    does not wait and nothing else writes in between)."""
    return not cycle.response_started and not cycle.disconnected and not cycle.flow.write_paused


async def send_held(cycle: RequestResponseCycle, send: Any, message: Any) -> bytes:
    """Run uvicorn's ``send`` of an ``http.response.start`` message (its framing, its checks, its state) and
    return the bytes it wrote instead of writing them, so the caller writes them with the body's first chunk in
    one transport write. ``send`` must be ``cycle``'s own, and :func:`can_hold` true."""
    transport = cycle.transport
    held = _Held()
    cycle.transport = held  # type: ignore[assignment]
    try:
        await send(message)  # does not wait: writes are not paused
    finally:
        cycle.transport = transport
    return held.data


def chunk_frame(data: bytes) -> bytes:
    """One chunk of a chunked body, as uvicorn frames it."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop at an oversized head."""


class BodyCycle(RequestResponseCycle):
    """uvicorn's request/response cycle with the body kept as the parser's chunks (see the module docstring).

    The protocol turns each cycle uvicorn makes into this class as soon as it is made, before any body arrives.
    """

    parts: list[bytes]  # body chunks not yet handed over
    buffered: int  # their size
    handoff: int  # hand over once more than this is buffered (0: every read, for a chunked body)
    reading: bool  # a receive() is waiting

    async def receive(self) -> ASGIReceiveEvent:
        # uvicorn's receive(), but for the body: no bytearray to copy out, one join of what was buffered.
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            self.reading = True
            try:
                await self.message_event.wait()
            finally:
                self.reading = False
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        parts = self.parts
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        self.parts = []
        self.buffered = 0
        return {"type": "http.request", "body": body, "more_body": self.more_body}


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """One client connection (see the module docstring); ``head_timeout_s`` is set on the class by the server."""

    head_timeout_s: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_size = 0
        self._header_count = 0
        self._chunked = False  # the request in its head has a Transfer-Encoding (llhttp allows only chunked last)
        self._refusal: bytes | None = None
        self._head_pending = True  # a new connection owes its first request
        self._stall_timer: asyncio.TimerHandle | None = None
        self._progress = 0.0
        self._running: Any = None  # the cycle whose handler runs now (uvicorn tracks only the newest)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._owing()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        running = self._running
        super().connection_lost(exc)
        if running is not None and not running.response_complete:
            running.disconnected = True
            running.message_event.set()
            on_gone = running.scope["state"].pop(ON_GONE, None)
            if on_gone is not None:
                on_gone()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        self._running = cycle
        super()._start_asgi_task(cycle, app)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # a refusal is waiting for the answers before it; nothing more is read
        super().data_received(data)
        if self._refusal is None and self.parser is not None:
            self._owing()

    def send_400_response(self, msg: str) -> None:
        # Called by uvicorn for a parser error; the oversized-head stop arrives here as a callback error.
        if self._head_size > MAX_HEAD_BYTES or self._header_count > MAX_HEADERS:
            self._refuse(431, f"request head larger than {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers")
        else:
            self._refuse(400, "malformed HTTP request")

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["state"][HOOKS] = True
        self._head_size = 0
        self._header_count = 0
        self._chunked = False
        self._head_pending = True

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's on_header (lower-cased name, trailing whitespace off the value, Expect noted) with the bounds;
        # written out rather than called through super(): it runs once per header of every request.
        self._head_size += len(name) + len(value) + 4
        self._header_count += 1
        if self._head_size > MAX_HEAD_BYTES or self._header_count > MAX_HEADERS:
            raise _HeadTooLarge
        name = name.lower()
        value = value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        elif name == b"transfer-encoding":
            self._chunked = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_pending = False
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not before:  # uvicorn made this request's cycle (not an upgrade): take over its body
            cycle.__class__ = BodyCycle
            cycle = cast(BodyCycle, cycle)
            cycle.parts = []
            cycle.buffered = 0
            cycle.reading = False
            cycle.handoff = 0 if self._chunked else BODY_HANDOFF

    def on_body(self, body: bytes) -> None:
        # Replaces uvicorn's on_body (a bytearray append and a wake-up per read).
        if (self.parser.should_upgrade() and self._should_upgrade()) or self.cycle.response_complete:
            return
        cycle = cast(BodyCycle, self.cycle)
        cycle.parts.append(body)
        size = cycle.buffered = cycle.buffered + len(body)
        if size > cycle.handoff:
            cycle.message_event.set()
            if size > HIGH_WATER_LIMIT:
                self.flow.pause_reading()
        elif size > HIGH_WATER_LIMIT and not cycle.reading:
            self.flow.pause_reading()  # nobody reads it yet: hold it at uvicorn's mark

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refusal is not None and not self.pipeline:
            self._write_refusal()

    # ------------------------------------------------------------------ refusals and timers

    def _busy(self) -> bool:
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _refuse(self, status: int, why: str) -> None:
        body = error_body(error_type_for_status(status), why)
        phrase = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}.get(
            status, "Error"
        )
        self._refusal = (
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode() + body
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

    def _body_pending(self) -> bool:
        cycle = self.cycle
        return cycle is not None and cycle.more_body and not cycle.response_complete and not cycle.disconnected

    def _owing(self) -> None:
        """After each read: start (or feed) the stall timer while the client owes bytes, else stop it."""
        if self._head_pending or self._body_pending():
            self._progress = self.loop.time()
            if self._stall_timer is None:
                self._stall_timer = self.loop.call_later(self.head_timeout_s, self._check_stall)
        elif self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _check_stall(self) -> None:
        self._stall_timer = None
        if self.transport.is_closing():
            return
        head, body = self._head_pending, self._body_pending()
        if not head and not body:
            return
        left = self._progress + self.head_timeout_s - self.loop.time()
        if left > 0 or self.flow.read_paused:  # progress since, or we are the ones not reading
            self._stall_timer = self.loop.call_later(max(left, 0.05), self._check_stall)
            return
        if head and not self._busy():
            self.transport.close()
        elif body:
            cycle = self.cycle
            cycle.scope["state"][STALLED] = True
            if cycle.response_started:
                cycle.disconnected = True
                cycle.message_event.set()
                self.transport.close()
            else:  # the handler's next receive() is a disconnect; the 408 goes out now
                self._refuse(408, f"the request body stopped arriving for {self.head_timeout_s:g} s")
