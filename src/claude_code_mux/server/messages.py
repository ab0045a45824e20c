"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: route, dispatch, and relay the answer."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.accounts.sticky import session_key
from claude_code_mux.dispatch import Attempt, DispatchFailed, DispatchResult, dispatch
from claude_code_mux.errors import HttpError, error_event
from claude_code_mux.observe.logging import kv
from claude_code_mux.observe.usage_extract import session_id, usage_from_body, usage_from_stream
from claude_code_mux.providers.base import RequestContext, UpstreamFailure, UpstreamReply
from claude_code_mux.routing.plan import plan
from claude_code_mux.routing.probe import Probe
from claude_code_mux.routing.rules import decide
from claude_code_mux.routing.types import Candidate, RouteDecision
from claude_code_mux.runtime import Runtime
from claude_code_mux.server.body import check_client_auth, check_messages_body, lower_headers, read_body, read_probe
from claude_code_mux.server.exchange import AiohttpOut, Inbound, Outbound, inbound_of
from claude_code_mux.server.state import HOLDER, RuntimeHolder
from claude_code_mux.wire.guard import StreamGuard

_STREAM_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, UpstreamFailure, OSError)


def explain_headers(
    decision: RouteDecision, cand: Candidate | None, attempts: list[Attempt], sticky: str = ""
) -> dict[str, str]:
    out = {"x-ccm-route": decision.label[:200], "x-ccm-attempts": str(len(attempts))}
    if cand is not None:
        out["x-ccm-provider"] = cand.provider
        out["x-ccm-model"] = cand.upstream_model
        if cand.account is not None:
            out["x-ccm-account"] = cand.account
    if sticky:
        out["x-ccm-sticky"] = sticky
    return out


def build_context(
    rt: Runtime, path: str, query: str, probe: Probe, headers: dict[str, str], model: str
) -> RequestContext:
    assert probe.raw is not None
    return RequestContext(
        request_id=headers.get("x-request-id") or f"{random.getrandbits(64):016x}",  # an id, not a secret
        path=path if path.startswith("/v1/") else "/v1/messages",
        query=query,
        raw=probe.raw,
        probe=probe,
        client_model=model,
        stream=bool(probe.get("stream")),
        headers=headers,
        router_key=rt.router_key(),
    )


async def route_and_dispatch(
    rt: Runtime, ctx: RequestContext, decision: RouteDecision, *, count_tokens: bool = False
) -> DispatchResult:
    cands = plan(decision, rt.config, rt.health)
    if decision.edited_body is not None:
        ctx.edited_body = decision.edited_body
    accounts = rt.accounts
    exp = None
    if accounts is not None and accounts.pools and not count_tokens:
        exp = accounts.expand(cands, request_session(ctx, accounts), accounts.clock(), cooling=rt.health.cooling)
        cands = exp.candidates

    async def send(c: Candidate) -> UpstreamReply:
        provider = rt.providers[c.provider]
        if c.account is not None:
            provider = dataclasses.replace(provider, account=c.account)
        dialect = rt.dialects.get(provider.dialect)
        if dialect is None:
            raise UpstreamFailure(f"{provider.name}: dialect {provider.dialect!r} is not available")
        if count_tokens:
            return await dialect.count_tokens(ctx, provider, c.upstream_model)
        try:
            reply = await dialect.send(ctx, provider, c.upstream_model)
        except UpstreamFailure as f:
            if accounts is not None:
                accounts.observe(c, f.headers, accounts.clock())
            raise
        if accounts is not None:
            accounts.observe(c, reply.headers, accounts.clock())
        return reply

    t = rt.config.server
    result = await dispatch(
        cands,
        send,
        health=rt.health,
        retry_budget_s=t.timeouts.retry_budget_ms / 1000,
        failover_statuses=frozenset(t.failover_on_status),
    )
    if exp is not None and accounts is not None:
        result.sticky = accounts.served(exp, result.candidate, accounts.clock())
    return result


def request_session(ctx: RequestContext, accounts: AccountRouter) -> str | None:
    """The session key for stickiness: the session id, else (only then) a hash of the cached prefix."""
    key = session_key(ctx.headers, ctx.probe.get("metadata"))
    if key is None:
        key = session_key(ctx.headers, None, ctx.working_body())
    return key


async def handle_messages(request: web.Request) -> web.StreamResponse:
    """aiohttp's way in (the lean front calls :func:`serve_messages` itself)."""
    holder = request.app[HOLDER]
    t0 = time.perf_counter()
    req = inbound_of(request)
    check_client_auth(holder.current, req.headers)
    raw = await read_body(request, holder.current.config.server.max_body_bytes)
    out = AiohttpOut(request)
    await serve_messages(holder, req, raw, out, t0)
    assert out.response is not None
    return out.response


async def serve_messages(holder: RuntimeHolder, req: Inbound, raw: bytes, out: Outbound, t0: float) -> None:
    """Route, dispatch and relay one ``/v1/messages`` request whose body has been read.

    An :class:`HttpError` raised before anything was sent is the front's to turn into an error response.
    """
    rt = holder.current
    headers = req.headers
    check_client_auth(rt, headers)
    probe = Probe.parse(raw)
    model = check_messages_body(probe)
    decision = decide(probe, headers, rt.config)
    ctx = build_context(rt, req.path, req.query, probe, headers, model)
    try:
        result = await route_and_dispatch(rt, ctx, decision)
    except DispatchFailed as exc:
        exc.headers.update(explain_headers(decision, None, exc.attempts))
        _log(holder, ctx, decision, None, exc.attempts, exc.status, t0, None)
        raise
    reply = result.reply
    out_headers = reply.headers
    out_headers.update(explain_headers(decision, result.candidate, result.attempts, result.sticky))
    out_headers["x-ccm-request-id"] = ctx.request_id
    if not reply.is_stream:
        reply.close()
        await out.send(reply.status, out_headers, reply.body or b"")
        usage = reply.usage or usage_from_body(reply.body)
        _log(
            holder,
            ctx,
            decision,
            result.candidate,
            result.attempts,
            reply.status,
            t0,
            time.perf_counter(),
            usage,
        )
        return
    await _relay_stream(out, holder, ctx, decision, result, t0)


async def _relay_stream(
    resp: Outbound,
    holder: RuntimeHolder,
    ctx: RequestContext,
    decision: RouteDecision,
    result: DispatchResult,
    t0: float,
) -> None:
    reply = result.reply
    assert reply.chunks is not None
    holder.active_streams += 1
    status = reply.status
    ttfb: float | None = None
    tail = b""
    guard = StreamGuard() if reply.guard else None
    try:
        await resp.start(reply.status, reply.headers)
        first = guard.feed(reply.first) if guard is not None else reply.first
        await resp.write(first)
        ttfb = time.perf_counter()
        tail = reply.first[-2048:]
        it: AsyncIterator[bytes] = reply.chunks.__aiter__()
        failure: str | None = None
        while guard is None or guard.error is None:
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                break
            except _STREAM_ERRORS as exc:
                failure = str(exc) or type(exc).__name__
                break
            if guard is not None:
                chunk = guard.feed(chunk)
                if chunk:
                    await resp.write(chunk)
            else:
                await resp.write(chunk)
                tail = (tail + chunk)[-2048:]
        if failure is None and guard is not None:
            failure = guard.close()
        elif failure is None and b"message_stop" not in tail and b"event: error" not in tail:
            failure = "upstream stream ended without message_stop"
        if failure is not None:
            status = 599
            await resp.write(error_event("api_error", f"upstream stream failed after it started: {failure}"))
        await resp.end()
    except (ConnectionResetError, asyncio.CancelledError):
        status = 499  # the client went away: the upstream request is cancelled in `finally`
        raise
    finally:
        reply.close()
        holder.active_streams -= 1
        usage = reply.usage or (guard.usage if guard is not None else usage_from_stream(reply.first, tail))
        _log(holder, ctx, decision, result.candidate, result.attempts, status, t0, ttfb, usage)


def _log(
    holder: RuntimeHolder,
    ctx: RequestContext,
    decision: RouteDecision,
    cand: Candidate | None,
    attempts: list[Attempt],
    status: int,
    t0: float,
    ttfb: float | None,
    usage: dict[str, int] | None = None,
) -> None:
    now = time.perf_counter()
    record: dict[str, Any] = {
        "request_id": ctx.request_id,
        "time": time.time(),
        "route": decision.label,
        "client_model": ctx.client_model,
        "provider": cand.provider if cand else None,
        "model": cand.upstream_model if cand else None,
        "status": status,
        "stream": ctx.stream,
        "ttfb_ms": round((ttfb - t0) * 1000, 2) if ttfb is not None else None,
        "total_ms": round((now - t0) * 1000, 2),
        "attempts": [
            {"provider": a.provider, "model": a.model, "status": a.status, "error": a.error} for a in attempts
        ],
        "usage": usage or {},
        "session_id": session_id(ctx.probe.get("metadata")),
    }
    holder.recent.append(record)
    logger = holder.logger
    if logger.isEnabledFor(20):
        logger.info(
            kv(
                event="request",
                id=ctx.request_id,
                route=decision.label,
                provider=record["provider"],
                model=record["model"],
                status=status,
                ttfb_ms=record["ttfb_ms"],
                total_ms=record["total_ms"],
                attempts=len(attempts),
            )
        )
    for listener in holder.listeners:
        try:
            listener(record)
        except Exception:  # a broken observer must never break a request
            logger.exception("request listener failed")


async def handle_count_tokens(request: web.Request) -> web.StreamResponse:
    holder = request.app[HOLDER]
    rt = holder.current
    headers = lower_headers(request)
    check_client_auth(rt, headers)
    probe = await read_probe(request, rt.config.server.max_body_bytes)
    model = check_messages_body(probe)
    body = probe.full()  # the local estimate reads all of it
    # count_tokens never fails: whatever routing says, fall back to the local estimate.
    try:
        decision = decide(body, headers, rt.config)
        cands = plan(decision, rt.config, rt.health)
    except HttpError:
        decision = RouteDecision("default", "estimate_only", model)
        cands = []
    ctx = build_context(rt, request.path, request.query_string, probe, headers, model)
    ctx.stream = False
    anthropic_cands = [c for c in cands if rt.providers[c.provider].dialect == "anthropic"]
    if anthropic_cands:
        ctx.edited_body = decision.edited_body

        async def send(c: Candidate) -> UpstreamReply:
            provider = rt.providers[c.provider]
            return await rt.dialects["anthropic"].count_tokens(ctx, provider, c.upstream_model)

        try:
            result = await dispatch(anthropic_cands, send, retry_budget_s=0)
        except DispatchFailed:
            pass
        else:
            hdrs = result.reply.headers
            hdrs.update(explain_headers(decision, result.candidate, result.attempts))
            return web.Response(status=result.reply.status, body=result.reply.body or b"", headers=hdrs)
    from claude_code_mux.routing.estimate import estimate_tokens

    n = estimate_tokens(decision.edited_body or body)
    return web.Response(
        body=orjson.dumps({"input_tokens": n}),
        content_type="application/json",
        headers={"x-ccm-route": decision.label[:200], "x-ccm-count": "estimate"},
    )
