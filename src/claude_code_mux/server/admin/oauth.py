"""The OAuth admin API of the original claude-code-mux, done safely (``/api/oauth/*``).

``POST /api/oauth/authorize`` keeps the PKCE verifier server-side (keyed by ``state``) and returns only the
URL, the state and instructions; ``POST /api/oauth/exchange`` completes the login — under the ``provider_id``
of its body when given (the original's documented body is ``{code, verifier, provider_id}``; ``verifier`` is
accepted and ignored, ours never left the server) — and answers the original's documented shape;
``GET /api/oauth/tokens`` lists logins without secrets; refresh and delete manage them. Same protection as the
rest of ``/api/``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.auth.login import PendingLogins
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.errors import InvalidRequest, NotFound, OAuthError
from claude_code_mux.server.admin.context import admin_state, holder_of, json_response
from claude_code_mux.server.admin.guard import guard
from claude_code_mux.server.admin.schemas import OAuthAuthorizeIn, OAuthExchangeIn, OAuthProviderIn, read_body

MAX_OAUTH_BODY = 16 * 1024
M = TypeVar("M", bound=BaseModel)
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


async def read_oauth(request: Request, model: type[M]) -> M:
    return await read_body(request, model, limit=MAX_OAUTH_BODY)


def iso(when: datetime) -> str:
    """The original's timestamp format: RFC 3339 with ``+00:00``."""
    return when.isoformat()


async def authorize(request: Request) -> Response:
    guard(request)
    body = await read_oauth(request, OAuthAuthorizeIn)
    try:
        return json_response(pending(request).start(body.oauth_type, body.provider_id))
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None


async def exchange(request: Request) -> Response:
    guard(request)
    body = await read_oauth(request, OAuthExchangeIn)
    try:
        record = await pending(request).complete(body.code.strip(), body.state, provider_id=body.provider_id)
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
    pid = (await read_oauth(request, OAuthProviderIn)).provider_id
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
    return await _delete(request, (await read_oauth(request, OAuthProviderIn)).provider_id)


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
