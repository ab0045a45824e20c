"""Inbound ``POST /v1/chat/completions``: OpenAI-format clients routed like any Claude Code request.

The request is translated to the Anthropic form, routed and dispatched to either dialect, and the answer (or
stream) is translated back. Errors use OpenAI's ``{"error": {...}}`` shape, which OpenAI SDKs parse.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from claude_code_mux.dispatch import DispatchFailed
from claude_code_mux.errors import HttpError, InvalidRequest
from claude_code_mux.providers.base import UpstreamFailure
from claude_code_mux.routing.probe import Probe
from claude_code_mux.routing.rules import decide
from claude_code_mux.server.body import check_client_auth, check_messages_body, lower_headers, read_json
from claude_code_mux.server.messages import build_context, explain_headers, route_and_dispatch
from claude_code_mux.server.state import HOLDER
from claude_code_mux.translate.inbound_openai import anthropic_to_openai_response, openai_to_anthropic_request
from claude_code_mux.translate.inbound_stream import AnthropicToOpenAIStream

_STREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, UpstreamFailure, OSError)


def _openai_error(err: HttpError) -> web.Response:
    body = {"error": {"message": err.message, "type": err.error_type, "param": None, "code": err.status}}
    try:
        parsed = orjson.loads(err.body())
        inner = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(inner, dict) and inner.get("message"):
            body["error"]["message"] = inner["message"]
    except orjson.JSONDecodeError:
        pass
    return web.Response(
        status=err.status, body=orjson.dumps(body), content_type="application/json", headers=err.headers
    )


async def handle_chat_completions(request: web.Request) -> web.StreamResponse:
    try:
        return await _handle(request)
    except HttpError as err:
        return _openai_error(err)


async def _handle(request: web.Request) -> web.StreamResponse:
    holder = request.app[HOLDER]
    rt = holder.current
    headers = lower_headers(request)
    check_client_auth(rt, headers)
    _, oa_body = await read_json(request, rt.config.server.max_body_bytes)
    try:
        body: dict[str, Any] = openai_to_anthropic_request(oa_body)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"cannot read this chat.completions request: {exc}") from None
    model = check_messages_body(body)
    raw = orjson.dumps(body)
    decision = decide(body, headers, rt.config)
    ctx = build_context(rt, request.path, request.query_string, Probe.of(body, raw), headers, model)
    ctx.path = "/v1/messages"
    ctx.query = ""
    result = await route_and_dispatch(rt, ctx, decision)
    reply = result.reply
    out_headers = {k: v for k, v in reply.headers.items() if k.lower() in ("retry-after", "request-id")}
    out_headers.update(explain_headers(decision, result.candidate, result.attempts))
    if not reply.is_stream:
        reply.close()
        try:
            msg = orjson.loads(reply.body or b"{}")
        except orjson.JSONDecodeError:
            raise DispatchFailed(HttpError("upstream answer is not JSON", status=502), result.attempts) from None
        out = anthropic_to_openai_response(msg, model=model)
        return web.Response(body=orjson.dumps(out), content_type="application/json", headers=out_headers)
    out_headers["content-type"] = "text/event-stream; charset=utf-8"
    out_headers["cache-control"] = "no-cache"
    resp = web.StreamResponse(status=200, headers=out_headers)
    opts = oa_body.get("stream_options")
    include_usage = bool(opts.get("include_usage")) if isinstance(opts, dict) else False
    conv = AnthropicToOpenAIStream(model=model, include_usage=include_usage)
    assert reply.chunks is not None
    try:
        await resp.prepare(request)
        first = conv.feed(reply.first)
        if first:
            await resp.write(first)
        it: AsyncIterator[bytes] = reply.chunks.__aiter__()
        while True:
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                break
            except _STREAM_ERRORS as exc:
                failure = {"error": {"message": f"upstream stream failed: {exc}", "type": "api_error", "code": 502}}
                await resp.write(b"data: " + orjson.dumps(failure) + b"\n\n")
                break
            piece = conv.feed(chunk)
            if piece:
                await resp.write(piece)
        tail = conv.close()
        if tail:
            await resp.write(tail)
        await resp.write_eof()
    finally:
        reply.close()
    return resp
