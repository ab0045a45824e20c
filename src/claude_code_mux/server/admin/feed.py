"""The flow log of the admin API: the recent requests (``GET /api/requests``) and a live SSE feed of new ones
(``GET /api/requests/stream``), both read from the observer hub — or, when the fleet is on, from the fleet's
Redis stream (every instance's requests, each tagged with ``instance``; this instance's own list while Redis is
down)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.observe.hub import Observers
from claude_code_mux.observe.logging import Redactor
from claude_code_mux.observe.record import RequestRecord
from claude_code_mux.server.admin.context import holder_of, json_response
from claude_code_mux.server.admin.guard import guard
from claude_code_mux.state.feed import FleetFeed

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
    feed = holder.fleet_feed
    if feed is not None:
        # Entries are filtered after the read: a session filter over the fleet looks at the newest 1000.
        rows = await feed.recent(1000 if session else limit)
        if rows is not None:
            if session:
                rows = [r for r in rows if r.get("session_id") == session]
            return json_response({"requests": rows[:limit], "total": len(rows), "fleet": True})
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

    if holder.fleet_feed is not None:
        return _sse(_fleet_events(holder.fleet_feed, hub))

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

    return _sse(events())


def _sse(events: AsyncIterator[bytes]) -> Response:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _fleet_events(feed: FleetFeed, hub: Observers) -> AsyncIterator[bytes]:
    """The live feed over the fleet's stream: entries were redacted by the instance that wrote them."""
    yield b": connected\n\nretry: 2000\n\n"
    idle = 0.0
    async for entry in feed.tail():
        if hub.closed:
            return
        if entry is None:
            idle += 1.0
            if idle >= HEARTBEAT_S:
                idle = 0.0
                yield b": ping\n\n"
            continue
        yield b"event: request\ndata: " + orjson.dumps(entry) + b"\n\n"


def routes() -> list[BaseRoute]:
    return [
        Route("/api/requests", handle_requests, methods=["GET"]),
        Route("/api/requests/stream", handle_requests_stream, methods=["GET"]),
    ]
