"""Incremental Server-Sent Events decoding and encoding.

The decoder is sans-IO: feed it bytes in any chunking and it yields complete events. It follows the
WHATWG rules we need (``event``, ``data`` joined by newlines, comments ignored, CR/LF/CRLF line ends).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

# The largest event (its data lines together, or one line) the decoder holds while it is incomplete; past it
# feed() raises EventTooLarge and the stream fails instead of growing the router's memory without bound.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class EventTooLarge(ValueError):
    """An upstream SSE event (or line) over :data:`MAX_EVENT_BYTES`."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


class SSEDecoder:
    """Turns a byte stream into :class:`SSEEvent` values, whatever the chunk boundaries."""

    __slots__ = ("_buf", "_data", "_event", "_held", "_parts", "_size")

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []
        self._size = 0  # bytes in _data
        # Reads that cannot end the partial line in _buf (no CR, no LF), joined once one can: re-joining the
        # partial line on every read would copy a long line quadratically.
        self._parts: list[bytes] = []
        self._held = 0

    @property
    def idle(self) -> bool:
        """Between events: no partial line and no event half-read (a caller may then take whole frames itself)."""
        return not self._buf and not self._parts and not self._data and not self._event

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if self._buf and chunk.find(b"\n") == -1 and chunk.find(b"\r") == -1:
            self._parts.append(chunk)
            self._held += len(chunk)
            self._bound(len(self._buf) + self._held)
            return events
        if self._parts:
            self._parts.append(chunk)
            chunk = b"".join(self._parts)
            self._parts, self._held = [], 0
        buf = self._buf + chunk
        start = 0
        n = len(buf)
        while start < n:
            nl = buf.find(b"\n", start)
            cr = buf.find(b"\r", start)
            if nl == -1 and cr == -1:
                break
            if cr != -1 and (nl == -1 or cr < nl):
                # A lone CR at the very end may be the first half of CRLF: wait for more.
                if cr == n - 1:
                    break
                end = cr
                nxt = cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                end = nl
                nxt = nl + 1
            line = buf[start:end]
            start = nxt
            ev = self._line(line)
            if ev is not None:
                events.append(ev)
        self._buf = buf[start:]
        self._bound(len(self._buf))
        return events

    def _bound(self, pending: int) -> None:
        if pending + self._size > MAX_EVENT_BYTES:
            self._buf, self._parts, self._held, self._data, self._size = b"", [], 0, [], 0
            raise EventTooLarge(f"upstream sent an event over {MAX_EVENT_BYTES // (1024 * 1024)} MB")

    def close(self) -> list[SSEEvent]:
        """Flush at end of stream; a final event without its blank line is still delivered."""
        events: list[SSEEvent] = []
        if self._parts:
            self._buf += b"".join(self._parts)
            self._parts, self._held = [], 0
        if self._buf:
            ev = self._line(self._buf)
            self._buf = b""
            if ev is not None:
                events.append(ev)
        ev = self._line(b"")
        if ev is not None:
            events.append(ev)
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            if not self._data and not self._event:
                return None
            ev = SSEEvent(self._event or "message", "\n".join(self._data))
            self._event = ""
            self._data = []
            self._size = 0
            return ev
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._size += len(raw)
            if self._size > MAX_EVENT_BYTES:
                self._bound(0)
        elif name == "event":
            self._event = value
        return None


def encode_event(event: str, data: object) -> bytes:
    """One Anthropic-style SSE frame: ``event: NAME`` then ``data: JSON``."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def encode_data(data: object) -> bytes:
    """One OpenAI-style SSE frame (``data:`` only)."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


PING = b'event: ping\ndata: {"type": "ping"}\n\n'
DONE = b"data: [DONE]\n\n"
