"""Writing HTTP/1.1 responses for the lean front: status line and headers, chunked streams, the probe answers.

:class:`FrontOut` is the front's ``Outbound`` (see :mod:`claude_code_mux.server.exchange`); it writes through
a :class:`Wire` (the connection), which knows whether the client is still there and whether to wait for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Protocol

from claude_code_mux.server.app import HEALTH_BODY

_NOT_FORWARDED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_REASONS = {s.value: s.phrase for s in HTTPStatus}
JSON = {"content-type": "application/json"}


class Wire(Protocol):
    """The connection as a response writer sees it."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


def response_head(status: int, headers: Mapping[str, str], framing: str, keep_alive: bool) -> bytes:
    """Status line and headers; ``framing`` is the Content-Length / Transfer-Encoding line."""
    parts = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"]
    for k, v in headers.items():
        if k.lower() in _NOT_FORWARDED or "\n" in v or "\r" in v:
            continue
        parts.append(f"{k}: {v}\r\n")
    parts.append(framing)
    if not keep_alive:
        parts.append("connection: close\r\n")
    parts.append("\r\n")
    return "".join(parts).encode()


def probe_answer(kind: str, keep_alive: bool) -> bytes:
    """``HEAD /`` (headers only, as a HEAD answer must be) or ``GET /health``, as aiohttp answers them."""
    if kind == "head":
        return response_head(200, {}, "content-length: 0\r\n", keep_alive)
    return response_head(200, JSON, f"content-length: {len(HEALTH_BODY)}\r\n", keep_alive) + HEALTH_BODY


class FrontOut:
    """An ``Outbound`` writing HTTP/1.1 straight to the connection's transport."""

    __slots__ = ("conn", "keep_alive", "started")

    def __init__(self, conn: Wire, keep_alive: bool) -> None:
        self.conn = conn
        self.keep_alive = keep_alive
        self.started = False

    async def send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.started = True
        head = response_head(status, headers, f"content-length: {len(body)}\r\n", self.keep_alive)
        self.conn.write(head + body if len(body) < 16384 else head)
        if len(body) >= 16384:
            self.conn.write(body)
        await self.conn.drain()

    async def start(self, status: int, headers: Mapping[str, str]) -> None:
        self.started = True
        self.conn.write(response_head(status, headers, "transfer-encoding: chunked\r\n", self.keep_alive))

    async def write(self, data: bytes) -> None:
        if data:
            self.conn.write(b"%x\r\n%b\r\n" % (len(data), data))
            await self.conn.drain()

    async def end(self) -> None:
        self.conn.write(b"0\r\n\r\n")
