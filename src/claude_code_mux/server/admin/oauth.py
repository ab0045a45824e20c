"""The OAuth admin API of the original claude-code-mux, done safely (``/api/oauth/*``).

``POST /api/oauth/authorize`` keeps the PKCE verifier server-side (keyed by ``state``) and returns only the
URL, the state and instructions; ``POST /api/oauth/exchange`` completes the login — under the ``provider_id``
of its body when given (the original's documented body is ``{code, verifier, provider_id}``; ``verifier`` is
accepted and ignored, ours never left the server) — and answers the original's documented shape;
``GET /api/oauth/tokens`` lists logins without secrets; refresh and delete manage them. Same protection as the
rest of ``/api/``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.auth.login import DEFAULT_PROVIDER_ID, PendingLogins
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.errors import InvalidRequest, NotFound, OAuthError
from claude_code_mux.server.admin.context import admin_state, holder_of, json_response
from claude_code_mux.server.admin.guard import guard
from claude_code_mux.server.api.body import read_limited_body

MAX_OAUTH_BODY = 16 * 1024
EXCHANGE_MESSAGE = "OAuth authentication successful! Token saved."


def manager(request: Request) -> TokenManager:
    tokens = holder_of(request).current.tokens
    if not isinstance(tokens, TokenManager):
        raise NotFound("OAuth is not available in this server")
    return tokens


def pending(request: Request) -> PendingLogins:
    state = admin_state(request)
    if state.pending is None:
        state.pending = PendingLogins(manager(request))
    return state.pending


async def json_body(request: Request) -> dict[str, Any]:
    raw = await read_limited_body(request, MAX_OAUTH_BODY)
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("body must be a JSON object")
    return data


def required_str(data: dict[str, Any], key: str, default: str | None = None) -> str:
    val = data.get(key, default)
    if not isinstance(val, str) or not val.strip():
        raise InvalidRequest(f"{key}: a non-empty string is required")
    return val.strip()


def optional_str(data: dict[str, Any], key: str) -> str | None:
    val = data.get(key)
    if val is None:
        return None
    if not isinstance(val, str) or not val.strip() or len(val) > 200:
        raise InvalidRequest(f"{key}: must be a non-empty string of at most 200 characters")
    return val.strip()


def iso(record_expiry: Any) -> str:
    """The original's timestamp format: RFC 3339 with ``+00:00``."""
    return str(record_expiry.isoformat())


async def authorize(request: Request) -> Response:
    guard(request)
    data = await json_body(request)
    mode = data.get("oauth_type", "max")
    if mode not in ("max", "console"):
        raise InvalidRequest('oauth_type: use "max" (Claude Pro/Max) or "console" (create an API key)')
    provider_id = required_str(data, "provider_id", DEFAULT_PROVIDER_ID)
    try:
        return json_response(pending(request).start(mode, provider_id))
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None


async def exchange(request: Request) -> Response:
    guard(request)
    data = await json_body(request)
    code = required_str(data, "code")
    state = data.get("state") if isinstance(data.get("state"), str) else None
    provider_id = optional_str(data, "provider_id")
    # "verifier" (the original's field) is accepted and ignored: the verifier stays on this server.
    try:
        record = await pending(request).complete(code, state, provider_id=provider_id)
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None
    return json_response(
        {
            "success": True,
            "message": EXCHANGE_MESSAGE,
            "provider_id": record.provider_id,
            "expires_at": iso(record.expires_at),
        }
    )


async def tokens(request: Request) -> Response:
    guard(request)
    return json_response(await manager(request).status())


async def refresh(request: Request) -> Response:
    guard(request)
    data = await json_body(request)
    pid = required_str(data, "provider_id")
    mgr = manager(request)
    record = await mgr.store.get(pid)
    if record is None:
        raise NotFound(f"no OAuth login for {pid!r} (run: ccm login {pid})")
    try:
        await mgr.force_refresh(pid, record.access_token.reveal())
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None
    status = [s for s in await mgr.status() if s.get("provider_id") == pid]
    return json_response({"success": True, "provider_id": pid, "status": status[0] if status else None})


async def _delete(request: Request, pid: str) -> Response:
    if not await manager(request).delete(pid):
        raise NotFound(f"no OAuth login for {pid!r}")
    return json_response({"success": True, "provider_id": pid})


async def delete_post(request: Request) -> Response:
    guard(request)
    data = await json_body(request)
    return await _delete(request, required_str(data, "provider_id"))


async def delete_path(request: Request) -> Response:
    guard(request)
    return await _delete(request, str(request.path_params["provider_id"]))


def routes() -> list[BaseRoute]:
    return [
        Route("/api/oauth/authorize", authorize, methods=["POST"]),
        Route("/api/oauth/exchange", exchange, methods=["POST"]),
        Route("/api/oauth/tokens", tokens, methods=["GET"]),
        Route("/api/oauth/tokens/refresh", refresh, methods=["POST"]),
        Route("/api/oauth/tokens/delete", delete_post, methods=["POST"]),
        Route("/api/oauth/tokens/{provider_id}", delete_path, methods=["DELETE"]),
    ]
