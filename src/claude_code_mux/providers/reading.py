"""Bounded reads of an upstream answer that a dialect must hold whole: an error body, the first SSE event.

A hostile or broken upstream may send an endless error body or a first event that never ends; both are read
into a list of chunks (one join at the end, linear in the size) and cut off at a limit.
"""

from __future__ import annotations

from typing import Final

from claude_code_mux.errors import TransportError, UpstreamFailure
from claude_code_mux.providers.transport import UpstreamResponse

MAX_ERROR_BODY_BYTES: Final = 1 << 20  # an upstream error body we keep and pass on
MAX_FIRST_EVENT_BYTES: Final = 1 << 20  # what we read of a stream before its first event must be complete


async def read_error_body(resp: UpstreamResponse, limit: int = MAX_ERROR_BODY_BYTES) -> bytes | None:
    """The error body, or None when it is longer than ``limit`` (the connection is then closed, not pooled)."""
    parts: list[bytes] = []
    size = 0
    while chunk := await resp.readany():
        size += len(chunk)
        if size > limit:
            resp.close()
            return None
        parts.append(chunk)
    resp.release()
    return b"".join(parts)


def first_event_end(buf: bytes | bytearray, start: int = 0) -> int:
    """Index just past the first complete SSE event in ``buf`` (searching from ``start``), or -1."""
    if buf.find(b"\r", start) == -1:  # the usual case: LF line ends only
        i = buf.find(b"\n\n", start)
        return -1 if i == -1 else i + 2
    best = -1
    for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        i = buf.find(sep, start)
        if i != -1 and (best == -1 or i + len(sep) < best):
            best = i + len(sep)
    return best


async def read_first_event(resp: UpstreamResponse, name: str, limit: int = MAX_FIRST_EVENT_BYTES) -> bytes:
    """The stream's bytes up to (and a little past) the end of its first event; UpstreamFailure past ``limit``."""
    chunk = await resp.readany()
    if not chunk:
        raise UpstreamFailure(f"{name}: upstream closed the stream before the first event")
    if first_event_end(chunk) != -1:
        return chunk  # the usual case: the first read holds the first event (no copy)
    buf = bytearray(chunk)
    while True:
        if len(buf) > limit:
            raise UpstreamFailure(f"{name}: first stream event over {limit} bytes", status=502)
        searched = max(0, len(buf) - 3)  # a separator may straddle two chunks
        chunk = await resp.readany()
        if not chunk:
            return bytes(buf)
        buf += chunk
        if first_event_end(buf, searched) != -1:
            return bytes(buf)


def transport_failure(name: str, exc: TransportError) -> UpstreamFailure:
    """A transport failure as a retryable attempt failure, named for the provider."""
    return UpstreamFailure(f"{name}: {exc}")
