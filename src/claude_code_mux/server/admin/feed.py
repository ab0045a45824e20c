"""The flow log of the admin API: the recent requests (``GET /api/requests``) and a live SSE feed of new ones
(``GET /api/requests/stream``), both read from the observer hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.observe.logging import Redactor
from claude_code_mux.observe.record import RequestRecord
from claude_code_mux.server.admin.context import holder_of, json_response
from claude_code_mux.server.admin.guard import guard

HEARTBEAT_S = 15.0


def clean_record(redactor: Redactor, record: RequestRecord) -> dict[str, Any]:
    """A record safe to show: error strings pass through the redactor once more."""
    out = record.to_dict()
    for a in out["attempts"]:
        if isinstance(a.get("error"), str):
            a["error"] = redactor(a["error"])
    if isinstance(out.get("error"), str):
        out["error"] = redactor(out["error"])
    return out


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name}: must be an integer between {lo} and {hi}") from None
    if not lo <= value <= hi:
        raise InvalidRequest(f"{name}: must be between {lo} and {hi}")
    return value


async def handle_requests(request: Request) -> Response:
    guard(request)
    holder = holder_of(request)
    limit = _int_param(request, "limit", 50, 1, 1000)
    session = request.query_params.get("session")
    records = list(holder.observers.recent)
    if session:
        records = [r for r in records if r.session_id == session]
    records = records[-limit:][::-1]
    return json_response(
        {"requests": [clean_record(holder.redactor, r) for r in records], "total": len(holder.observers.recent)}
    )


async def handle_requests_stream(request: Request) -> Response:
    guard(request)
    holder = holder_of(request)
    hub = holder.observers

    async def events() -> AsyncIterator[bytes]:
        sub = hub.subscribe()  # here, not before: a generator that never starts would leak it
        try:
            yield b": connected\n\nretry: 2000\n\n"
            while True:
                try:
                    record = await asyncio.wait_for(sub.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if record is None:
                    return
                yield b"event: request\ndata: " + orjson.dumps(clean_record(holder.redactor, record)) + b"\n\n"
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/api/requests", handle_requests, methods=["GET"]),
        Route("/api/requests/stream", handle_requests_stream, methods=["GET"]),
    ]
