"""Reading and checking a request body: size limit, JSON, and the few fields routing needs."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from claude_code_mux.errors import AuthenticationFailed, InvalidRequest, RequestTooLarge
from claude_code_mux.routing.probe import Probe, loads_object
from claude_code_mux.runtime import Runtime


async def read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RequestTooLarge(
            f"request body is {request.content_length} bytes; the limit is {limit} (server.max_body_bytes)"
        )
    raw = await request.read()
    if len(raw) > limit:
        raise RequestTooLarge(f"request body is {len(raw)} bytes; the limit is {limit} (server.max_body_bytes)")
    if not raw:
        raise InvalidRequest("request body is empty; send a JSON object")
    return raw


async def read_json(request: web.Request, limit: int) -> tuple[bytes, dict[str, Any]]:
    raw = await read_body(request, limit)
    return raw, loads_object(raw)


async def read_probe(request: web.Request, limit: int) -> Probe:
    """The body read for routing: small fields decoded, the rest parsed only if needed (see Probe)."""
    return Probe.parse(await read_body(request, limit))


def check_messages_body(body: dict[str, Any] | Probe) -> str:
    probe = body if isinstance(body, Probe) else Probe.of(body)
    model = probe.get("model")
    if model is None:
        raise InvalidRequest('model: field required (the model name to route, e.g. "claude-sonnet-4-5")')
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("model: must be a non-empty string")
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


def lower_headers(request: web.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def client_key(headers: dict[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def check_client_auth(rt: Runtime, headers: dict[str, str]) -> None:
    """Enforce ``server.api_key`` when set (as x-api-key or Authorization: Bearer)."""
    want = rt.router_key()
    if want is None:
        return
    got_key = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    got_bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    for got in (got_key, got_bearer):
        if got is not None and hmac.compare_digest(got.encode(), want.encode()):
            return
    raise AuthenticationFailed(
        "invalid or missing API key for claude-code-mux: send server.api_key as x-api-key or "
        "Authorization: Bearer (ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN for Claude Code)"
    )
