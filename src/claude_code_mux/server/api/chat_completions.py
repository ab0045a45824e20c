"""``POST /v1/chat/completions``: OpenAI-format clients routed like any Claude Code request.

The request is translated to the Anthropic form, routed and dispatched to either dialect, and the answer (or
stream) is translated back. Errors use OpenAI's ``{"error": {...}}`` shape, which OpenAI SDKs parse.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from claude_code_mux.dispatch import DispatchFailed
from claude_code_mux.errors import HttpError, InvalidRequest
from claude_code_mux.observe.usage_extract import usage_from_body
from claude_code_mux.routing.probe import Probe, loads_object
from claude_code_mux.routing.rules import decide
from claude_code_mux.routing.types import Candidate, RouteDecision
from claude_code_mux.server.api.body import check_messages_body
from claude_code_mux.server.api.exchange import ClientRequest, Outbound
from claude_code_mux.server.api.messages import (
    STREAM_ERRORS,
    admit_budget,
    build_context,
    explain_headers,
    route_and_dispatch,
    settle_budget,
)
from claude_code_mux.server.api.recording import Recording
from claude_code_mux.server.state import RuntimeHolder
from claude_code_mux.translate.inbound_openai import anthropic_to_openai_response, openai_to_anthropic_request
from claude_code_mux.translate.inbound_stream import AnthropicToOpenAIStream

JSON = {"content-type": "application/json"}


def openai_error(err: HttpError) -> bytes:
    """An error in OpenAI's shape (the message of an Anthropic envelope body, when there is one)."""
    body: dict[str, Any] = {
        "error": {"message": err.message, "type": err.error_type, "param": None, "code": err.status}
    }
    try:
        parsed = orjson.loads(err.body())
        inner = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(inner, dict) and inner.get("message"):
            body["error"]["message"] = inner["message"]
    except orjson.JSONDecodeError:
        pass
    return orjson.dumps(body)


async def serve_chat_completions(
    holder: RuntimeHolder, req: ClientRequest, raw: bytes, out: Outbound, rec: Recording
) -> None:
    rt = holder.current
    headers = req.headers
    oa_body = loads_object(raw)
    try:
        body: dict[str, Any] = openai_to_anthropic_request(oa_body)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"cannot read this chat.completions request: {exc}") from None
    model = check_messages_body(body)
    rec.client_model = model
    if holder.gate is not None and rec.key is not None:
        holder.gate.check_model(rec.key, model)
    rec.stream = bool(body.get("stream"))
    decision = decide(body, headers, rt.config)
    rec.routed(decision)
    decision, cands, ticket = await admit_budget(holder, rec, headers, lambda: body, decision, body.get("max_tokens"))
    try:
        await _serve_routed(holder, req, oa_body, body, model, out, rec, decision, cands)
    finally:
        await settle_budget(holder, rec, ticket)


async def _serve_routed(
    holder: RuntimeHolder,
    req: ClientRequest,
    oa_body: dict[str, Any],
    body: dict[str, Any],
    model: str,
    out: Outbound,
    rec: Recording,
    decision: RouteDecision,
    cands: list[Candidate] | None,
) -> None:
    rt = holder.current
    rec.routed(decision)
    anthropic_raw = orjson.dumps(body)
    inner = ClientRequest(req.method, "/v1/messages", "", req.headers, req.remote, req.identity)
    ctx = build_context(rt, inner, Probe.of(body, anthropic_raw), model, rec.request_id)
    result = await route_and_dispatch(rt, ctx, decision, cands=cands)
    rec.candidate = result.candidate
    rec.attempts = result.attempts
    reply = result.reply
    out_headers = {k: v for k, v in reply.headers.items() if k.lower() in ("retry-after", "request-id")}
    out_headers.update(explain_headers(decision, result.candidate, result.attempts))
    out_headers["x-ccm-request-id"] = rec.request_id
    if not reply.is_stream:
        reply.close()
        try:
            msg = orjson.loads(reply.body or b"{}")
        except orjson.JSONDecodeError:
            raise DispatchFailed(HttpError("upstream answer is not JSON", status=502), result.attempts) from None
        rec.usage = reply.usage or usage_from_body(reply.body)
        rec.status = 200
        await out.send(200, {**JSON, **out_headers}, orjson.dumps(anthropic_to_openai_response(msg, model=model)))
        rec.ttfb = time.perf_counter()
        return
    out_headers["content-type"] = "text/event-stream; charset=utf-8"
    out_headers["cache-control"] = "no-cache"
    opts = oa_body.get("stream_options")
    include_usage = bool(opts.get("include_usage")) if isinstance(opts, dict) else False
    conv = AnthropicToOpenAIStream(model=model, include_usage=include_usage)
    assert reply.chunks is not None
    rec.status = 200
    holder.active_streams += 1
    try:
        await out.start(200, out_headers, conv.feed(reply.first))
        rec.ttfb = time.perf_counter()
        it: AsyncIterator[bytes] = reply.chunks.__aiter__()
        while True:
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                break
            except STREAM_ERRORS as exc:
                rec.status = 599
                rec.error = f"upstream stream failed: {exc}"
                rec.error_type = "api_error"
                failure = {"error": {"message": rec.error, "type": "api_error", "code": 502}}
                await out.write(b"data: " + orjson.dumps(failure) + b"\n\n")
                break
            piece = conv.feed(chunk)
            if piece:
                await out.write(piece)
        await out.end(conv.close())
    finally:
        reply.close()
        holder.active_streams -= 1
        rec.usage = reply.usage
