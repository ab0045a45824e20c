"""The flow log for the admin API: recent requests, a live SSE feed of new ones, and the test console.

The test console sends a real ``/v1/messages`` request to this same server (so it is routed, failed over
and recorded like any client's) and reports the text, the ``x-ccm-*`` explain headers, the attempts and
the latency; with ``Accept: text/event-stream`` it relays the answer as it streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.server.admin_guard import guard
from claude_code_mux.server.admin_models import ConsoleIn, read_body
from claude_code_mux.server.state import HOLDER, RuntimeHolder
from claude_code_mux.wire.sse import SSEDecoder

HEARTBEAT_S = 15.0
QUEUE_MAX = 500


class Feed:
    """Fans finished request records out to every open SSE subscriber (slow ones drop records)."""

    def __init__(self, holder: RuntimeHolder) -> None:
        self.holder = holder
        self.subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def publish(self, record: dict[str, Any]) -> None:
        if not self.subscribers:
            return
        clean = clean_record(self.holder, record)
        for q in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(clean)

    def close_all(self) -> None:
        for q in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)


FEED: web.AppKey[Feed] = web.AppKey("admin_feed", Feed)


def clean_record(holder: RuntimeHolder, record: dict[str, Any]) -> dict[str, Any]:
    """A record safe to show: error strings pass through the redactor."""
    out = dict(record)
    out["attempts"] = [
        {**a, "error": holder.redactor(a["error"]) if isinstance(a.get("error"), str) else a.get("error")}
        for a in record.get("attempts") or []
    ]
    return out


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name}: must be an integer between {lo} and {hi}") from None
    if not lo <= value <= hi:
        raise InvalidRequest(f"{name}: must be between {lo} and {hi}")
    return value


async def handle_requests(request: web.Request) -> web.Response:
    guard(request)
    holder = request.app[HOLDER]
    limit = _int_param(request, "limit", 50, 1, 1000)
    session = request.query.get("session")
    records = list(holder.recent)
    if session:
        records = [r for r in records if r.get("session_id") == session]
    records = records[-limit:][::-1]
    return _json({"requests": [clean_record(holder, r) for r in records], "total": len(holder.recent)})


async def handle_requests_stream(request: web.Request) -> web.StreamResponse:
    guard(request)
    feed = request.app[FEED]
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=QUEUE_MAX)
    feed.subscribers.add(queue)
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    try:
        await resp.prepare(request)
        await resp.write(b": connected\n\nretry: 2000\n\n")
        while True:
            try:
                record = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await resp.write(b": ping\n\n")
                continue
            if record is None:
                break
            await resp.write(b"event: request\ndata: " + orjson.dumps(record) + b"\n\n")
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        feed.subscribers.discard(queue)
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp


# ---- test console --------------------------------------------------------------------------------


def _self_url(request: web.Request) -> str:
    sock = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if isinstance(sock, tuple) and len(sock) >= 2:
        host, port = str(sock[0]), int(sock[1])
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"
    return str(request.url.origin())


def _find_record(holder: RuntimeHolder, request_id: str | None) -> dict[str, Any] | None:
    if not request_id:
        return None
    for rec in reversed(holder.recent):
        if rec.get("request_id") == request_id:
            return clean_record(holder, rec)
    return None


class _Fold:
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


async def handle_test(request: web.Request) -> web.StreamResponse:
    guard(request)
    holder = request.app[HOLDER]
    body = await read_body(request, ConsoleIn)
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
    headers = {
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "x-ccm-source": "admin-test",
    }
    if body.provider:
        headers["x-provider"] = body.provider
    router_key = holder.current.router_key()
    if router_key:
        headers["x-api-key"] = router_key
    live = "text/event-stream" in request.headers.get("accept", "")
    out: web.StreamResponse | None = None
    if live:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await out.prepare(request)
    fold = _Fold()
    t0 = time.perf_counter()
    ttfb: float | None = None
    status = 0
    explain: dict[str, str] = {}
    timeout = aiohttp.ClientTimeout(total=300, sock_connect=10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(_self_url(request) + "/v1/messages", data=orjson.dumps(payload), headers=headers) as r,
        ):
            status = r.status
            explain = {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("x-ccm-")}
            if out is not None:
                await _send(out, "meta", {"status": status, "headers": explain})
            ctype = r.headers.get("content-type", "")
            if "text/event-stream" in ctype:
                decoder = SSEDecoder()
                async for chunk in r.content.iter_any():
                    if ttfb is None:
                        ttfb = time.perf_counter()
                    for ev in decoder.feed(chunk):
                        await _relay_event(fold, ev.event, ev.data, out)
                for ev in decoder.close():
                    await _relay_event(fold, ev.event, ev.data, out)
            else:
                raw = await r.read()
                ttfb = time.perf_counter()
                try:
                    fold.message(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    fold.error = f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        fold.error = f"the test request failed: {type(exc).__name__}: {exc}"
    t1 = time.perf_counter()
    summary = {
        "status": status,
        "ok": 200 <= status < 300 and fold.error is None,
        "text": "".join(fold.text),
        "thinking": "".join(fold.thinking) or None,
        "model": fold.model,
        "stop_reason": fold.stop_reason,
        "usage": fold.usage,
        "error": holder.redactor(fold.error) if fold.error else None,
        "headers": explain,
        "provider": explain.get("x-ccm-provider"),
        "route": explain.get("x-ccm-route"),
        "stream": body.stream,
        "events": fold.events,
        "latency_ms": round((t1 - t0) * 1000, 2),
        "ttfb_ms": round((ttfb - t0) * 1000, 2) if ttfb is not None else None,
        "record": _find_record(holder, explain.get("x-ccm-request-id")),
    }
    if out is None:
        return _json(summary)
    await _send(out, "done", summary)
    await out.write_eof()
    return out


async def _send(out: web.StreamResponse, name: str, data: Any) -> None:
    await out.write(f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n")


async def _relay_event(fold: _Fold, name: str, data: str, out: web.StreamResponse | None) -> None:
    try:
        parsed = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        return
    if not isinstance(parsed, dict):
        return
    text = fold.event(name or str(parsed.get("type", "")), parsed)
    if out is not None and text:
        await _send(out, "text", {"text": text})
    elif out is not None and name == "error":
        await _send(out, "error", {"message": fold.error})
