"""The admin test console (``POST /api/test``): one real ``/v1/messages`` request to this same server.

The request is routed, failed over and recorded like any client's. The answer summarises the text, the
``x-ccm-*`` explain headers, the latency and the request's record from the observer hub — its attempts, each
with its own cause, so a failure shows why every candidate failed, not only the last one. With
``Accept: text/event-stream`` the answer streams (``meta``, ``text``, ``error`` then ``done`` events).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from claude_code_mux.observe.hub import Observers, Subscription
from claude_code_mux.observe.record import RequestRecord
from claude_code_mux.server.admin.context import holder_of, json_response
from claude_code_mux.server.admin.feed import clean_record
from claude_code_mux.server.admin.guard import guard
from claude_code_mux.server.admin.schemas import ConsoleIn, read_body
from claude_code_mux.server.state import RuntimeHolder
from claude_code_mux.wire.sse import SSEDecoder

RECORD_WAIT_S = 2.0  # how long to wait for the request's record after the answer ended
_TIMEOUT = httpx.Timeout(300.0, connect=10.0)


class Fold:
    """Accumulates an Anthropic reply (streamed events or a whole message) into a summary."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.model: str | None = None
        self.error: str | None = None
        self.events = 0

    def event(self, name: str, data: dict[str, Any]) -> str | None:
        """Fold one event; returns new text, if any."""
        self.events += 1
        if name == "message_start":
            msg = data.get("message") or {}
            self.model = msg.get("model")
            self.usage.update(msg.get("usage") or {})
        elif name == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                self.text.append(str(delta.get("text", "")))
                return str(delta.get("text", ""))
            if delta.get("type") == "thinking_delta":
                self.thinking.append(str(delta.get("thinking", "")))
        elif name == "message_delta":
            self.stop_reason = (data.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.usage.update(data.get("usage") or {})
        elif name == "error":
            self.error = str((data.get("error") or {}).get("message") or data)
        return None

    def message(self, body: Any) -> None:
        if not isinstance(body, dict):
            self.error = "the reply was not a JSON object"
            return
        if body.get("type") == "error":
            self.error = str((body.get("error") or {}).get("message") or body)
            return
        self.model = body.get("model")
        self.stop_reason = body.get("stop_reason")
        self.usage = body.get("usage") or {}
        for block in body.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "text":
                self.text.append(str(block.get("text", "")))
            elif isinstance(block, dict) and block.get("type") == "thinking":
                self.thinking.append(str(block.get("thinking", "")))


def self_url(request: Request) -> str:
    sock = request.scope.get("server")
    if isinstance(sock, tuple | list) and len(sock) >= 2 and sock[1] is not None:
        host, port = str(sock[0]), int(sock[1])
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"
    return f"{request.url.scheme}://{request.url.netloc}"


def _payload(body: ConsoleIn) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": body.model,
        "max_tokens": body.max_tokens,
        "stream": body.stream,
        "messages": [{"role": "user", "content": body.message}],
    }
    if body.system:
        payload["system"] = body.system
    if body.temperature is not None:
        payload["temperature"] = body.temperature
    return payload


def _headers(body: ConsoleIn, router_key: str | None) -> dict[str, str]:
    headers = {
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "x-ccm-source": "admin-test",
    }
    if body.provider:
        headers["x-provider"] = body.provider
    if router_key:
        headers["authorization"] = f"Bearer {router_key}"
    if body.client_key:
        # The client's own key, for passthrough providers: forwarded upstream because it is not the router key.
        headers["x-api-key"] = body.client_key
    elif router_key:
        headers["x-api-key"] = router_key
    return headers


async def _record_of(sub: Subscription, request_id: str | None, model: str, hub: Observers) -> RequestRecord | None:
    """The record of the console's request: by request id when the answer named it, else the newest record of
    the same model that arrived while the request ran (waiting up to :data:`RECORD_WAIT_S` for it)."""

    def ours(rec: RequestRecord) -> bool:
        if request_id:
            return rec.request_id == request_id
        return rec.endpoint == "messages" and rec.client_model == model

    found = hub.find(request_id)
    if found is not None:
        return found
    newest: RequestRecord | None = None
    while not sub.queue.empty():  # what arrived while the request ran
        rec = sub.queue.get_nowait()
        if rec is None:
            return newest
        if ours(rec):
            newest = rec
    if newest is not None:
        return newest
    deadline = time.monotonic() + RECORD_WAIT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            rec = await asyncio.wait_for(sub.get(), left)
        except TimeoutError:
            return None
        if rec is None:
            return None
        if ours(rec):
            return rec
    return None


def cause_of(record: RequestRecord | None, fallback: str | None) -> str | None:
    """The real cause of a failure: every failed attempt's own error, not only the last candidate's."""
    failed = [a for a in record.attempts if a.error] if record is not None else []
    if not failed:
        return fallback
    parts = [f"{a.provider}/{a.model}: {a.error}" + (f" (HTTP {a.status})" if a.status else "") for a in failed]
    if len(parts) == 1:
        return parts[0]
    return f"all {len(parts)} attempts failed: " + "; ".join(parts)


async def run_console(holder: RuntimeHolder, url: str, body: ConsoleIn) -> AsyncIterator[tuple[str, Any]]:
    """Send the test request and yield ``(event, data)``: ``meta``, ``text``, ``error`` and finally ``done``."""
    hub = holder.observers
    sub = hub.subscribe()
    fold = Fold()
    t0 = time.perf_counter()
    ttfb: float | None = None
    status = 0
    explain: dict[str, str] = {}
    try:
        async with (
            httpx.AsyncClient(timeout=_TIMEOUT, trust_env=False) as client,
            client.stream(
                "POST",
                url + "/v1/messages",
                content=orjson.dumps(_payload(body)),
                headers=_headers(body, holder.current.router_key()),
            ) as r,
        ):
            status = r.status_code
            explain = {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("x-ccm-")}
            yield "meta", {"status": status, "headers": explain}
            if "text/event-stream" in r.headers.get("content-type", ""):
                decoder = SSEDecoder()
                async for chunk in r.aiter_raw():
                    if ttfb is None:
                        ttfb = time.perf_counter()
                    for ev in decoder.feed(chunk):
                        for out in _fold_event(fold, ev.event, ev.data):
                            yield out
                for ev in decoder.close():
                    for out in _fold_event(fold, ev.event, ev.data):
                        yield out
            else:
                raw = await r.aread()
                ttfb = time.perf_counter()
                try:
                    fold.message(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    fold.error = f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"
        t1 = time.perf_counter()
        record = await _record_of(sub, explain.get("x-ccm-request-id"), body.model, hub)
    except httpx.HTTPError as exc:
        t1 = time.perf_counter()
        fold.error = f"the test request failed: {type(exc).__name__}: {exc}"
        record = None
    finally:
        hub.unsubscribe(sub)
    failed = not (200 <= status < 300) or fold.error is not None
    error = cause_of(record, fold.error) if failed else None
    yield (
        "done",
        {
            "status": status,
            "ok": not failed,
            "text": "".join(fold.text),
            "thinking": "".join(fold.thinking) or None,
            "model": fold.model,
            "stop_reason": fold.stop_reason,
            "usage": fold.usage,
            "error": holder.redactor(error) if error else None,
            "client_error": holder.redactor(fold.error) if fold.error else None,
            "headers": explain,
            "provider": explain.get("x-ccm-provider") or (record.provider if record else None),
            "route": explain.get("x-ccm-route") or (record.route if record else None),
            "stream": body.stream,
            "events": fold.events,
            "latency_ms": round((t1 - t0) * 1000, 2),
            "ttfb_ms": round((ttfb - t0) * 1000, 2) if ttfb is not None else None,
            "record": clean_record(holder.redactor, record) if record is not None else None,
        },
    )


def _fold_event(fold: Fold, name: str, data: str) -> list[tuple[str, Any]]:
    try:
        parsed = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        return []
    if not isinstance(parsed, dict):
        return []
    text = fold.event(name or str(parsed.get("type", "")), parsed)
    if text:
        return [("text", {"text": text})]
    if name == "error":
        return [("error", {"message": fold.error})]
    return []


async def handle_test(request: Request) -> Response:
    guard(request)
    holder = holder_of(request)
    body = await read_body(request, ConsoleIn)
    run = run_console(holder, self_url(request), body)
    if "text/event-stream" not in request.headers.get("accept", ""):
        summary: Any = None
        async for name, data in run:
            if name == "done":
                summary = data
        return json_response(summary)

    async def sse() -> AsyncIterator[bytes]:
        async for name, data in run:
            yield f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [Route("/api/test", handle_test, methods=["POST"])]
