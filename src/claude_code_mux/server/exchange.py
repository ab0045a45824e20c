"""The seam between an HTTP front and a request handler: what came in, and where the answer goes.

``POST /v1/messages`` is served by the lean front (:mod:`claude_code_mux.server.front`) and, for anything that
front hands on, by aiohttp. The handler is written once against :class:`Inbound` and :class:`Outbound`; each
front adapts its own request and response objects (as Starlette's handlers see ASGI, not the server).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web


@dataclass(slots=True)
class Inbound:
    """One request: method, path, query string, lower-cased headers, peer address."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    remote: str | None = None


class Outbound(Protocol):
    """Where a response goes: whole (``send``) or streamed (``start``, ``write``…, ``end``)."""

    async def send(self, status: int, headers: Mapping[str, str], body: bytes) -> None: ...

    async def start(self, status: int, headers: Mapping[str, str]) -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def end(self) -> None: ...


def inbound_of(request: web.Request) -> Inbound:
    return Inbound(
        request.method,
        request.path,
        request.query_string,
        {k.lower(): v for k, v in request.headers.items()},
        request.remote,
    )


class AiohttpOut:
    """An :class:`Outbound` over an aiohttp request; ``response`` is what the handler returns."""

    __slots__ = ("_request", "response")

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response: web.StreamResponse | None = None

    async def send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.response = web.Response(status=status, body=body, headers=dict(headers))

    async def start(self, status: int, headers: Mapping[str, str]) -> None:
        self.response = web.StreamResponse(status=status, headers=dict(headers))
        await self.response.prepare(self._request)

    async def write(self, data: bytes) -> None:
        assert self.response is not None
        await self.response.write(data)

    async def end(self) -> None:
        assert self.response is not None
        await self.response.write_eof()
