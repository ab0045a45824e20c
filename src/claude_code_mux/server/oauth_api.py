"""The OAuth admin API of the original claude-code-mux, done safely.

``POST /api/oauth/authorize`` keeps the PKCE verifier server-side (keyed by ``state``) and returns only the
URL, the state and instructions; ``POST /api/oauth/exchange`` completes the login; ``GET /api/oauth/tokens``
lists logins without secrets; refresh and delete manage them. Same protection as the rest of ``/api/``.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from claude_code_mux.auth.login import DEFAULT_PROVIDER_ID, PendingLogins
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.errors import InvalidRequest, NotFound, OAuthError
from claude_code_mux.server.admin_guard import guard
from claude_code_mux.server.state import HOLDER

PENDING: web.AppKey[PendingLogins] = web.AppKey("oauth_pending", PendingLogins)


def manager(request: web.Request) -> TokenManager:
    tokens = request.app[HOLDER].current.tokens
    if not isinstance(tokens, TokenManager):
        raise NotFound("OAuth is not available in this server")
    return tokens


def pending(request: web.Request) -> PendingLogins:
    if PENDING not in request.app:
        raise NotFound("OAuth is not available in this server")
    return request.app[PENDING]


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read() or b"{}")
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


def ok(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def oauth_error(exc: OAuthError) -> InvalidRequest:
    return InvalidRequest(str(exc))


async def authorize(request: web.Request) -> web.Response:
    guard(request)
    data = await json_body(request)
    mode = data.get("oauth_type", "max")
    if mode not in ("max", "console"):
        raise InvalidRequest('oauth_type: use "max" (Claude Pro/Max) or "console" (create an API key)')
    provider_id = required_str(data, "provider_id", DEFAULT_PROVIDER_ID)
    try:
        return ok(pending(request).start(mode, provider_id))
    except OAuthError as exc:
        raise oauth_error(exc) from None


async def exchange(request: web.Request) -> web.Response:
    guard(request)
    data = await json_body(request)
    code = required_str(data, "code")
    state = data.get("state") if isinstance(data.get("state"), str) else None
    try:
        record = await pending(request).complete(code, state)
    except OAuthError as exc:
        raise oauth_error(exc) from None
    return ok(
        {
            "success": True,
            "message": f"logged in as {record.provider_id}",
            "provider_id": record.provider_id,
            "expires_at": record.expires_at.isoformat().replace("+00:00", "Z"),
            "api_key_created": record.api_key is not None,
        }
    )


async def tokens(request: web.Request) -> web.Response:
    guard(request)
    return ok(await manager(request).status())


async def refresh(request: web.Request) -> web.Response:
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
        raise oauth_error(exc) from None
    status = [s for s in await mgr.status() if s.get("provider_id") == pid]
    return ok({"success": True, "provider_id": pid, "status": status[0] if status else None})


async def _delete(request: web.Request, pid: str) -> web.Response:
    if not await manager(request).delete(pid):
        raise NotFound(f"no OAuth login for {pid!r}")
    return ok({"success": True, "provider_id": pid})


async def delete_post(request: web.Request) -> web.Response:
    guard(request)
    data = await json_body(request)
    return await _delete(request, required_str(data, "provider_id"))


async def delete_path(request: web.Request) -> web.Response:
    guard(request)
    return await _delete(request, request.match_info["provider_id"])


def setup(app: web.Application) -> None:
    tokens_ = app[HOLDER].current.tokens
    if isinstance(tokens_, TokenManager):
        app[PENDING] = PendingLogins(tokens_)
    r = app.router
    r.add_post("/api/oauth/authorize", authorize)
    r.add_post("/api/oauth/exchange", exchange)
    r.add_get("/api/oauth/tokens", tokens)
    r.add_post("/api/oauth/tokens/refresh", refresh)
    r.add_post("/api/oauth/tokens/delete", delete_post)
    r.add_delete("/api/oauth/tokens/{provider_id}", delete_path)
