"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: route, dispatch, and relay the answer.

Written against :class:`ClientRequest` / :class:`Outbound` (see :mod:`.exchange`); the ASGI entry
(:mod:`.hot`) has already checked the caller and read the body. Facts go into the request's
:class:`Recording`; an :class:`HttpError` raised before anything was sent is the entry's to answer.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.accounts.sticky import session_key
from claude_code_mux.budgets.engine import SESSION_HEADER, Ticket
from claude_code_mux.dispatch import Attempt, DispatchFailed, DispatchResult, dispatch
from claude_code_mux.errors import HttpError, error_event
from claude_code_mux.observe.usage_extract import session_id, usage_from_body, usage_from_stream
from claude_code_mux.providers.base import RequestContext, UpstreamFailure, UpstreamReply
from claude_code_mux.routing.plan import plan
from claude_code_mux.routing.probe import Probe
from claude_code_mux.routing.rules import decide
from claude_code_mux.routing.types import Candidate, RouteDecision
from claude_code_mux.runtime import Runtime
from claude_code_mux.server.api.body import check_messages_body
from claude_code_mux.server.api.exchange import ClientRequest, Outbound
from claude_code_mux.server.api.recording import Recording
from claude_code_mux.server.state import RuntimeHolder
from claude_code_mux.wire.guard import StreamGuard

# What the upstream's chunk iterator may raise once the stream has started: the transport seam's errors
# (TransportError, timeouts, UpstreamFailure) and whatever else a client library raises (aiohttp's payload
# errors, until the seam is the only client). Any of them ends the stream with an error event; our own writes
# are outside this catch, and cancellation (a BaseException) is not caught.
STREAM_ERRORS: tuple[type[Exception], ...] = (Exception,)
JSON = {"content-type": "application/json"}


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


async def observed(c: Candidate, pending: Awaitable[UpstreamReply], accounts: AccountRouter) -> UpstreamReply:
    """The answer to a pool account's attempt, its quota reading (success or failure) kept."""
    try:
        reply = await pending
    except UpstreamFailure as f:
        accounts.observe(c, f.headers, accounts.clock())
        raise
    accounts.observe(c, reply.headers, accounts.clock())
    return reply


def build_context(rt: Runtime, req: ClientRequest, probe: Probe, model: str, request_id: str) -> RequestContext:
    assert probe.raw is not None
    return RequestContext(
        request_id=request_id,
        path=req.path if req.path.startswith("/v1/") else "/v1/messages",
        query=req.query,
        raw=probe.raw,
        probe=probe,
        client_model=model,
        stream=bool(probe.get("stream")),
        headers=req.headers,
        router_key=rt.router_key(),
    )


async def route_and_dispatch(
    rt: Runtime,
    ctx: RequestContext,
    decision: RouteDecision,
    *,
    count_tokens: bool = False,
    cands: list[Candidate] | None = None,
) -> DispatchResult:
    if cands is None:
        cands = plan(decision, rt.config, rt.health)
    if decision.edited_body is not None:
        ctx.edited_body = decision.edited_body
    accounts = rt.accounts
    exp = None
    if accounts is not None and accounts.pools and not count_tokens:
        exp = accounts.expand(cands, request_session(ctx, accounts), accounts.clock(), cooling=rt.health.cooling)
        cands = exp.candidates

    def send(c: Candidate) -> Awaitable[UpstreamReply]:
        # A plain function handing out the dialect's coroutine: the dispatcher awaits it directly (one coroutine
        # layer less on each resumption). Only a pool's account has quota readings to observe in the answer.
        provider = rt.providers[c.provider]
        if c.account is not None:
            provider = dataclasses.replace(provider, account=c.account)
        dialect = rt.dialects.get(provider.dialect)
        if dialect is None:
            raise UpstreamFailure(f"{provider.name}: dialect {provider.dialect!r} is not available")
        if count_tokens:
            return dialect.count_tokens(ctx, provider, c.upstream_model)
        if c.account is None or accounts is None:
            return dialect.send(ctx, provider, c.upstream_model)
        return observed(c, dialect.send(ctx, provider, c.upstream_model), accounts)

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


async def admit_budget(
    holder: RuntimeHolder,
    rec: Recording,
    headers: Mapping[str, str],
    body: Callable[[], dict[str, Any]],
    decision: RouteDecision,
    max_tokens: object,
) -> tuple[RouteDecision, list[Candidate] | None, Ticket | None]:
    """The budgets' word before dispatch: the (maybe downgraded) decision, its candidates and the ticket to
    settle; raises the refusal (429/403) before any upstream call. With no budget for this request it costs a
    check of one boolean and returns ``(decision, None, None)``."""
    gate = holder.gate
    if gate is None or not gate.budgeted(rec.key):
        return decision, None, None
    from claude_code_mux.routing.estimate import estimate_tokens  # only with budgets: not at start-up

    rt = holder.current

    def replan(d: RouteDecision) -> list[Candidate]:
        return plan(d, rt.config, rt.health)

    tokens = estimate_tokens(decision.edited_body or body())
    limit = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None
    decision, cands, ticket = await gate.admit(
        rec.key,
        headers,
        rec.session_id or headers.get(SESSION_HEADER),
        decision,
        replan(decision),
        tokens,
        limit,
        replan,
    )
    return decision, cands, ticket


async def settle_budget(holder: RuntimeHolder, rec: Recording, ticket: Ticket | None) -> None:
    """Charge the request's real cost to the budgets that held it (always, also after a failure)."""
    if ticket is None or holder.gate is None:
        return
    cand = rec.candidate
    try:
        await holder.gate.settle(
            ticket,
            rec.usage or {},
            cand.provider if cand is not None else None,
            cand.upstream_model if cand is not None else None,
            rec.client_model,
        )
    except Exception as exc:  # a ledger failure must not replace the request's own outcome
        holder.logger.error("budget settle failed for request %s: %s", rec.request_id, exc)


def request_session(ctx: RequestContext, accounts: AccountRouter) -> str | None:
    """The session key for stickiness: the session id, else (only then) a hash of the cached prefix."""
    key = session_key(ctx.headers, ctx.probe.get("metadata"))
    if key is None:
        key = session_key(ctx.headers, None, ctx.working_body())
    return key


async def serve_messages(holder: RuntimeHolder, req: ClientRequest, raw: bytes, out: Outbound, rec: Recording) -> None:
    """Route, dispatch and relay one ``/v1/messages`` request whose body has been read."""
    rt = holder.current
    headers = req.headers
    probe = Probe.parse(raw)
    model = check_messages_body(probe)
    rec.client_model = model
    if holder.gate is not None and rec.key is not None:
        holder.gate.check_model(rec.key, model)
    rec.stream = bool(probe.get("stream"))
    rec.session_id = session_id(probe.get("metadata"))
    decision = decide(probe, headers, rt.config)
    rec.routed(decision)
    decision, cands, ticket = await admit_budget(holder, rec, headers, probe.full, decision, probe.get("max_tokens"))
    try:
        await _serve_routed(holder, req, probe, model, out, rec, decision, cands)
    finally:
        await settle_budget(holder, rec, ticket)


async def _serve_routed(
    holder: RuntimeHolder,
    req: ClientRequest,
    probe: Probe,
    model: str,
    out: Outbound,
    rec: Recording,
    decision: RouteDecision,
    cands: list[Candidate] | None,
) -> None:
    rt = holder.current
    rec.routed(decision)
    ctx = build_context(rt, req, probe, model, rec.request_id)
    try:
        result = await route_and_dispatch(rt, ctx, decision, cands=cands)
    except DispatchFailed as exc:
        exc.headers.update(explain_headers(decision, None, exc.attempts))
        raise
    rec.candidate = result.candidate
    rec.attempts = result.attempts
    reply = result.reply
    out_headers = reply.headers
    out_headers.update(explain_headers(decision, result.candidate, result.attempts, result.sticky))
    out_headers["x-ccm-request-id"] = ctx.request_id
    rec.status = reply.status
    if not reply.is_stream:
        reply.close()
        await out.send(reply.status, out_headers, reply.body or b"")
        rec.ttfb = time.perf_counter()
        rec.usage = reply.usage or usage_from_body(reply.body)
        return
    await _relay_stream(out, holder, rec, result)


async def _relay_stream(resp: Outbound, holder: RuntimeHolder, rec: Recording, result: DispatchResult) -> None:
    reply = result.reply
    assert reply.chunks is not None
    holder.active_streams += 1
    first = reply.first
    tail = b""  # unguarded streams: their end, to see how they ended (and their usage)
    guard = StreamGuard() if reply.guard else None
    ended = False  # the client's answer is complete (guarded streams end it with their last event)
    try:
        await resp.start(reply.status, reply.headers, guard.feed(first) if guard is not None else first)
        rec.ttfb = time.perf_counter()
        tail = first[-2048:]
        nxt = reply.chunks.__aiter__().__anext__
        write = resp.write
        failure: str | None = None
        feed = guard.feed if guard is not None else None
        while guard is None or guard.error is None:
            try:
                chunk = await nxt()
            except StopAsyncIteration:
                break
            except STREAM_ERRORS as exc:
                failure = str(exc) or type(exc).__name__
                break
            if ended:
                break  # data after the last event is not relayed (close() then drops the unfinished connection)
            if feed is not None:
                assert guard is not None
                chunk = feed(chunk)
                if guard.complete:
                    # The last event goes with the end of the body, in one write. The upstream's own end is
                    # still read (so its connection is reused); Anthropic sends nothing after message_stop.
                    await resp.end(chunk)
                    ended = True
                elif chunk:
                    await write(chunk)
            else:
                await write(chunk)
                tail = (tail + chunk)[-2048:] if len(chunk) < 2048 else chunk[-2048:]
        if ended:
            return  # a read failing after the answer was complete loses the client nothing
        if failure is None:
            if guard is not None:
                failure = guard.close()
            elif b"message_stop" not in tail and b"event: error" not in tail:
                failure = "upstream stream ended without message_stop"
        if failure is not None:
            rec.status = 599
            rec.error = f"upstream stream failed after it started: {failure}"
            rec.error_type = "api_error"
            await resp.write(error_event("api_error", rec.error))
        await resp.end()
    finally:
        reply.close()
        holder.active_streams -= 1
        rec.usage = reply.usage or (guard.usage if guard is not None else usage_from_stream(first, tail))


async def serve_count_tokens(
    holder: RuntimeHolder, req: ClientRequest, raw: bytes, out: Outbound, rec: Recording
) -> None:
    """Upstream ``count_tokens`` when an Anthropic-dialect candidate serves the model, else a local estimate.

    count_tokens never fails for routing reasons: whatever routing says, the local estimate answers.
    """
    rt = holder.current
    headers = req.headers
    probe = Probe.parse(raw)
    model = check_messages_body(probe)
    rec.client_model = model
    if holder.gate is not None and rec.key is not None:
        holder.gate.check_model(rec.key, model)
    body = probe.full()  # the local estimate reads all of it
    try:
        decision = decide(body, headers, rt.config)
        cands = plan(decision, rt.config, rt.health)
    except HttpError:
        decision = RouteDecision("default", "estimate_only", model)
        cands = []
    rec.routed(decision)
    ctx = build_context(rt, req, probe, model, rec.request_id)
    ctx.stream = False
    # Upstreams that count exactly: Anthropic's count_tokens and Gemini's countTokens (which falls back to the
    # estimate itself, saying so in x-ccm-count).
    counting = [c for c in cands if rt.providers[c.provider].dialect in ("anthropic", "gemini")]
    if counting:
        ctx.edited_body = decision.edited_body

        async def send(c: Candidate) -> UpstreamReply:
            provider = rt.providers[c.provider]
            reply = await rt.dialects[provider.dialect].count_tokens(ctx, provider, c.upstream_model)
            if reply.status == 200 and "x-ccm-count" not in reply.headers:
                reply.headers["x-ccm-count"] = "exact"
            return reply

        try:
            result = await dispatch(counting, send, retry_budget_s=0)
        except DispatchFailed as exc:
            rec.attempts = exc.attempts
        else:
            rec.candidate = result.candidate
            rec.attempts = result.attempts
            rec.status = result.reply.status
            hdrs = result.reply.headers
            hdrs.update(explain_headers(decision, result.candidate, result.attempts))
            await out.send(result.reply.status, hdrs, result.reply.body or b"")
            return
    from claude_code_mux.routing.estimate import estimate_tokens

    n = estimate_tokens(decision.edited_body or body)
    rec.status = 200
    await out.send(
        200,
        {**JSON, "x-ccm-route": decision.label[:200], "x-ccm-count": "estimate"},
        orjson.dumps({"input_tokens": n}),
    )
