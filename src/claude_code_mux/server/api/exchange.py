"""The seam between the HTTP server and the request handlers: what the client sent, and where the answer goes.

The handlers of the hot routes (:mod:`.messages`, :mod:`.chat_completions`) are written against
:class:`ClientRequest` and :class:`Outbound`, not against ASGI or a framework; :class:`AsgiOut` is the
production ``Outbound`` (ASGI ``send``), and a test can drive a handler with its own.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from claude_code_mux.server.protocol import body_writer, can_hold, chunk_frame, send_held, write_chunk

Send = Callable[[dict[str, Any]], Awaitable[None]]
# Framing and connection headers are the server's to write, never copied from an upstream answer.
_NOT_RELAYED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(slots=True)
class ClientRequest:
    """One request from a client: method, path, query string, lower-cased headers, peer address, identity."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    remote: str | None = None
    identity: str | None = None  # who authenticated ("key:router") or "addr:<ip>"


class Outbound(Protocol):
    """Where a response goes: whole (``send``) or streamed (``start``, ``write``…, ``end``).

    ``start`` may carry the body's first chunk and ``end`` its last, so that a server can write each with the
    head or with the end of the body (one write, one packet, instead of two)."""

    started: bool

    async def send(self, status: int, headers: Mapping[str, str], body: bytes) -> None: ...

    async def start(self, status: int, headers: Mapping[str, str], first: bytes = b"") -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def end(self, last: bytes = b"") -> None: ...


def header_list(headers: Mapping[str, str], extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """ASGI headers: framing headers dropped (the server frames), values a response cannot carry dropped."""
    out = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in headers.items()
        if k.lower() not in _NOT_RELAYED and (v.isprintable() or _BAD_VALUE.search(v) is None)
    ]
    out.extend(extra)
    return out


class AsgiOut:
    """An :class:`Outbound` writing through ASGI ``send``; ``extra`` headers (CORS) go on every response."""

    __slots__ = ("_cycle", "_send", "extra", "finished", "started")

    def __init__(self, send: Send, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        self._send = send
        self._cycle = body_writer(send)  # uvicorn's own send: stream chunks go to the transport directly
        self.extra = extra or []
        self.started = False
        self.finished = False

    async def send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.started = True
        hdrs = header_list(headers, self.extra)
        hdrs.append((b"content-length", str(len(body)).encode()))
        await self._send({"type": "http.response.start", "status": status, "headers": hdrs})
        self.finished = True
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def start(self, status: int, headers: Mapping[str, str], first: bytes = b"") -> None:
        self.started = True
        message = {"type": "http.response.start", "status": status, "headers": header_list(headers, self.extra)}
        cycle = self._cycle
        if first and cycle is not None and can_hold(cycle):
            # The head and the first chunk in one transport write (uvicorn still frames and checks the head).
            head = await send_held(cycle, self._send, message)
            if cycle.chunked_encoding and not cycle.response_complete:
                cycle.transport.write(head + chunk_frame(first))
                return
            cycle.transport.write(head)  # not chunked (a HEAD): the body goes through send()
        else:
            await self._send(message)
        await self.write(first)

    async def write(self, data: bytes) -> None:
        if data and (self._cycle is None or not write_chunk(self._cycle, data)):
            await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, last: bytes = b"") -> None:
        self.finished = True
        await self._send({"type": "http.response.body", "body": last, "more_body": False})
