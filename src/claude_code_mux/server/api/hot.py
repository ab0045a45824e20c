"""The plain ASGI entry of the hot routes: ``POST /v1/messages``, ``count_tokens`` and ``/v1/chat/completions``.

No framework on this path: the caller's checks (browser security, auth, limits), the body read within its
limits, the handler, and every way a request can end — answered, refused, failed upstream, client gone — turned
into one :class:`RequestRecord` for the observers. A client that disconnects cancels the handler, and with it
the upstream request.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from claude_code_mux.access.identity import Identity, rate_limit
from claude_code_mux.budgets.engine import PROJECT_HEADER
from claude_code_mux.errors import ClientGone, HttpError, RateLimited
from claude_code_mux.server.api.body import identify, read_body
from claude_code_mux.server.api.chat_completions import openai_error, serve_chat_completions
from claude_code_mux.server.api.exchange import AsgiOut, ClientRequest, Outbound, Send
from claude_code_mux.server.api.limits import Limiter, admit_async
from claude_code_mux.server.api.messages import serve_count_tokens, serve_messages
from claude_code_mux.server.api.recording import Recording
from claude_code_mux.server.api.security import check_host, check_json_content_type, check_origin, cors_headers
from claude_code_mux.server.protocol import HOOKS, ON_GONE, STALLED
from claude_code_mux.server.state import RuntimeHolder

Receive = Callable[[], Awaitable[dict[str, Any]]]
Handler = Callable[[RuntimeHolder, ClientRequest, bytes, Outbound, Recording], Awaitable[None]]
JSON = {"content-type": "application/json"}


def anthropic_error(err: HttpError) -> bytes:
    return err.body()


@dataclass(frozen=True, slots=True)
class HotRoute:
    endpoint: str  # the record's endpoint name
    handler: Handler
    error_body: Callable[[HttpError], bytes]


HOT_ROUTES: dict[str, HotRoute] = {
    "/v1/messages": HotRoute("messages", serve_messages, anthropic_error),
    "/v1/messages/count_tokens": HotRoute("count_tokens", serve_count_tokens, anthropic_error),
    "/v1/chat/completions": HotRoute("chat_completions", serve_chat_completions, openai_error),
}


async def _watch(receive: Receive, on_gone: Callable[[], None]) -> None:
    # After the body, the next ASGI message is the client going away (or the response being complete).
    while (await receive())["type"] != "http.disconnect":
        pass
    on_gone()


def request_id_of(headers: dict[str, str]) -> str:
    rid = headers.get("x-request-id")
    if rid and len(rid) <= 128 and rid.isprintable():
        return rid
    return f"{random.getrandbits(64):016x}"  # an id, not a secret


def key_rate_limit(limiter: Limiter, identity: Identity) -> None:
    """A virtual key's own ``--rps`` (a bucket of its own, next to the server-wide one); 429 past it."""
    limit = rate_limit(identity)
    if limit is None:
        return
    client, rps, burst = limit
    wait = limiter.take("rps|" + client, rps, burst)
    if wait > 0:
        raise RateLimited(
            f"rate limit of claude-code-mux key {identity.name!r} exceeded ({rps:g} requests/s); retry later",
            headers={"retry-after": str(max(1, math.ceil(wait)))},
        )


async def serve_hot(
    holder: RuntimeHolder,
    route: HotRoute,
    scope: dict[str, Any],
    receive: Receive,
    send: Send,
    headers: dict[str, str],
) -> None:
    t0 = time.perf_counter()
    rt = holder.current
    s = rt.config.server
    client = scope.get("client")
    remote = client[0] if client else None
    rec = Recording(route.endpoint, t0, request_id_of(headers))
    out = AsgiOut(send)
    release: Callable[[], None] | None = None
    gone = False
    try:
        check_host(headers, s, holder.bound_host)
        origin = check_origin(headers, s)
        if origin is not None:
            out.extra = cors_headers(origin)
        check_json_content_type(headers)
        gate = holder.gate
        identity, rec.key = identify(rt, headers, remote, gate)
        rec.client = identity
        release = await admit_async(holder.limiter, s, "POST", scope["path"], identity)
        if rec.key is not None:
            key_rate_limit(holder.limiter, rec.key)
        if gate is not None and (rec.key is not None or PROJECT_HEADER in headers):
            rec.extra = gate.record_extra(rec.key, headers)
        raw = await read_body(receive, s.max_body_bytes, declared=headers.get("content-length"))
        req = ClientRequest("POST", scope["path"], scope["query_string"].decode("latin-1"), headers, remote, identity)
        task = asyncio.current_task()
        assert task is not None

        def on_gone() -> None:
            nonlocal gone
            if not out.finished:
                gone = True
                task.cancel()  # the handler's `finally` closes the upstream request

        state = scope.get("state")
        if isinstance(state, dict) and state.get(HOOKS):
            state[ON_GONE] = on_gone  # our protocol calls it (no task per request)
            try:
                await route.handler(holder, req, raw, out, rec)
            finally:
                state.pop(ON_GONE, None)
        else:  # another ASGI server: learn of the disconnect from receive()
            watcher = asyncio.get_running_loop().create_task(_watch(receive, on_gone))
            try:
                await route.handler(holder, req, raw, out, rec)
            finally:
                watcher.cancel()
        if not out.started:  # every handler answers; never leave a client waiting if one does not
            raise RuntimeError(f"the {route.endpoint} handler returned without a response")
    except HttpError as err:
        rec.failed(err)
        if out.started:
            holder.logger.error("request %s failed after its response started: %s", rec.request_id, err.message)
        else:
            await out.send(err.status, {**err.headers, **JSON}, route.error_body(err))
    except ClientGone:
        if scope.get("state", {}).get(STALLED):  # the connection answered 408 (see server.protocol)
            rec.status, rec.error_type = 408, "timeout_error"
            rec.error = "the request body stopped arriving (server.timeouts.client_read_ms)"
        else:
            rec.status = 499
    except asyncio.CancelledError:
        if not gone:
            raise
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        rec.status = 499  # the client went away: the upstream request was cancelled with the handler
    except Exception as exc:
        rid = uuid.uuid4().hex[:12]
        holder.logger.error("internal error request_id=%s path=%s", rid, scope["path"], exc_info=exc)
        rec.status = 500
        rec.error = f"internal error in claude-code-mux (request id {rid}); see the log"
        rec.error_type = "api_error"
        if not out.started:
            await out.send(500, JSON, route.error_body(HttpError(rec.error, status=500)))
    finally:
        if release is not None:
            release()
        holder.observers.emit(rec.finish())


async def send_error(send: Send, err: HttpError, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole Anthropic error envelope response (for refusals outside a handler)."""
    body = err.body()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body, "more_body": False})
