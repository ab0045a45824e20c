"""Reading a request body within a size limit and a time limit, and checking what routing needs from it.

Every route reads its body through :func:`read_body` (ASGI ``receive``) or :func:`read_limited_body` (a
Starlette request): the limit is enforced while the bytes arrive — a chunked upload is refused at the first
byte over it, never buffered first. A body that stops arriving is answered 408 by the connection itself
(:mod:`claude_code_mux.server.protocol`); the handler then sees the client gone. ``timeout_s`` adds a limit of
the handler's own (off by default: it costs a timer per request).
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from claude_code_mux.access.identity import ROUTER_KEY, Identity
from claude_code_mux.errors import (
    AuthenticationFailed,
    ClientGone,
    InvalidRequest,
    RequestTimeout,
    RequestTooLarge,
)
from claude_code_mux.routing.probe import Probe
from claude_code_mux.runtime import Runtime

if TYPE_CHECKING:
    from claude_code_mux.access.gate import AccessGate

Receive = Callable[[], Awaitable[Any]]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # what check_messages_body refuses in a model name
# Small bodies: admin and OAuth calls.
ADMIN_BODY_LIMIT = 256 * 1024


def _too_large(size: int | str, limit: int, setting: str) -> RequestTooLarge:
    return RequestTooLarge(f"request body is {size} bytes; the limit is {limit} ({setting})")


async def read_body(
    receive: Receive,
    limit: int,
    timeout_s: float | None = None,
    *,
    declared: str | None = None,
    setting: str = "server.max_body_bytes",
) -> bytes:
    """The whole body from ASGI ``receive``; 413 past ``limit``, 408 when a ``timeout_s`` wait passes.

    ``declared`` is the request's Content-Length header (checked before anything is read).
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(declared, limit, setting)
    chunks: list[bytes] = []
    size = 0
    while True:
        if timeout_s is None:
            message = await receive()
        else:
            try:
                async with asyncio.timeout(timeout_s):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"the request body stopped arriving for {timeout_s:g} s") from None
        if message["type"] == "http.disconnect":
            raise ClientGone("the client closed the connection while sending its body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(f"more than {limit}", limit, setting)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_limited_body(
    source: Request | Receive, limit: int = ADMIN_BODY_LIMIT, timeout_s: float | None = None
) -> bytes:
    """For admin and OAuth handlers: the body of a Starlette request (or an ASGI ``receive``), bounded."""
    if isinstance(source, Request):
        declared = source.headers.get("content-length")
        return await read_body(source.receive, limit, timeout_s, declared=declared, setting="admin body limit")
    return await read_body(source, limit, timeout_s, setting="admin body limit")


def check_messages_body(body: dict[str, Any] | Probe) -> str:
    """The client's model name, after checking the fields routing and the relay rely on."""
    probe = body if isinstance(body, Probe) else Probe.of(body)
    model = probe.get("model")
    if model is None:
        raise InvalidRequest('model: field required (the model name to route, e.g. "claude-sonnet-4-5")')
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("model: must be a non-empty string")
    if _CONTROL.search(model):
        raise InvalidRequest("model: must not contain control characters")
    problem = probe.messages_problem()
    if problem is not None:
        raise InvalidRequest(problem)
    stream = probe.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("stream: must be true or false")
    max_tokens = probe.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)):
        raise InvalidRequest("max_tokens: must be an integer")
    return model


def identify(
    rt: Runtime, headers: Mapping[str, str], client_addr: str | None, gate: AccessGate | None
) -> tuple[str, Identity | None]:
    """Who the client is: (the limiter's and the record's client id, the gate's identity).

    With a gate: a ``ccm-`` virtual key (``key:<name>``) or ``server.api_key`` (``key:router``); 401 for an
    unknown, revoked or expired virtual key, and when a router key is set and neither came. Without either,
    ``addr:<ip>`` and no identity.
    """
    if gate is None:
        return authenticate(rt, headers, client_addr), None
    identity = gate.authenticate(headers)
    if identity is None:
        return "addr:" + (client_addr or "?"), None
    return ("key:router" if identity.kind == ROUTER_KEY else identity.client), identity


def authenticate(
    rt: Runtime, headers: Mapping[str, str], client_addr: str | None, gate: AccessGate | None = None
) -> str:
    """Who the client is: ``key:router`` when ``server.api_key`` is set and was presented (as x-api-key or
    Authorization: Bearer), ``key:<name>`` for a virtual key (with a ``gate``), else ``addr:<ip>``. Raises 401
    when a router key is set and not presented."""
    if gate is not None:
        return identify(rt, headers, client_addr, gate)[0]
    want = rt.router_key()
    if want is None:
        return "addr:" + (client_addr or "?")
    got_key = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    got_bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    for got in (got_key, got_bearer):
        if got is not None and hmac.compare_digest(got.encode(), want.encode()):
            return "key:router"
    raise AuthenticationFailed(
        "invalid or missing API key for claude-code-mux: send server.api_key as x-api-key or "
        "Authorization: Bearer (ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN for Claude Code)"
    )
