"""The OAuth admin API of the original claude-code-mux, done safely (``/api/oauth/*``).

``POST /api/oauth/authorize`` keeps the PKCE verifier server-side (keyed by ``state``) and returns only the
URL, the state and instructions; ``POST /api/oauth/exchange`` completes the login — under the ``provider_id``
of its body when given (the original's documented body is ``{code, verifier, provider_id}``; ``verifier`` is
accepted and ignored, ours never left the server) — and answers the original's documented shape;
``GET /api/oauth/tokens`` lists logins without secrets; refresh and delete manage them. Same protection as the
rest of ``/api/``.

Beside Claude, ``authorize`` starts a ChatGPT (``"provider": "chatgpt"``) or Gemini CLI (``"gemini"``) login
(:mod:`.logins`: a loopback listener completes it by itself, ``exchange`` takes the pasted address otherwise,
``GET /api/oauth/status?state=`` says how it stands); ``import-codex`` imports the Codex CLI's login;
``notices`` are the terms-of-service notices shown before a login starts. Refresh goes to each login's own
token endpoint (ChatGPT through the manager's ``refresher_for``, Gemini CLI logins to Google).
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.auth.gemini_cli import SOURCE as GEMINI_SOURCE
from claude_code_mux.auth.login import DEFAULT_PROVIDER_ID, PendingLogins
from claude_code_mux.auth.store import TokenRecord
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.errors import InvalidRequest, NotFound, OAuthError
from claude_code_mux.providers.gemini_wiring import gemini_login_id
from claude_code_mux.server.admin.context import admin_state, holder_of, json_response
from claude_code_mux.server.admin.guard import guard
from claude_code_mux.server.admin.logins import NOTICES, AdminLogins, Kind
from claude_code_mux.server.admin.schemas import (
    LoginKind,
    OAuthAuthorizeIn,
    OAuthExchangeIn,
    OAuthImportCodexIn,
    OAuthProviderIn,
    OAuthStateIn,
    read_body,
)
from claude_code_mux.server.admin.view import login_kind as login_kind_of
from claude_code_mux.server.admin.view import token_rows

MAX_OAUTH_BODY = 16 * 1024
M = TypeVar("M", bound=BaseModel)
EXCHANGE_MESSAGE = "OAuth authentication successful! Token saved."
CLAUDE_NOTICE = "Using a subscription through a third-party tool may be restricted by the provider's terms; you decide."


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


def logins(request: Request) -> AdminLogins:
    state = admin_state(request)
    if state.logins is None:
        state.logins = AdminLogins(manager(request))
    return state.logins


def login_kind(provider: LoginKind | None, provider_id: str | None) -> tuple[Kind | None, str]:
    """(``chatgpt`` / ``gemini``, or ``None`` for Claude; the login id), as ``ccm login`` picks them."""
    pid = provider_id or ""
    if provider is None:
        if pid == "chatgpt" or pid.startswith("chatgpt-"):
            provider = "chatgpt"
        elif pid == "gemini" or pid.startswith("gemini-"):
            provider = "gemini"
    if provider == "chatgpt":
        return "chatgpt", pid or "chatgpt"
    if provider in ("gemini", "gemini-cli"):
        return "gemini", pid or "gemini"
    return None, pid or DEFAULT_PROVIDER_ID


def gemini_provider_facts(request: Request, login_id: str) -> tuple[str | None, str | None]:
    """(Code Assist base URL, project) of the first gemini-cli provider that uses ``login_id``, if any."""
    rt = holder_of(request).current
    for pc in rt.config.providers:
        if pc.provider_type.strip().lower() == "gemini-cli" and gemini_login_id(pc) == login_id:
            live = rt.providers.get(pc.name)
            return (live.base_url if live is not None else pc.base_url), pc.project
    return None, None


async def start_login(
    request: Request, provider: LoginKind | None, provider_id: str | None, oauth_type: str, project: str | None
) -> dict[str, object]:
    """Start any login; the reply never holds a secret."""
    kind, pid = login_kind(provider, provider_id)
    try:
        if kind is None:
            return dict(pending(request).start("console" if oauth_type == "console" else "max", pid))
        if kind == "chatgpt":
            return await logins(request).start(kind, pid)
        url, configured = gemini_provider_facts(request, pid)
        return await logins(request).start(kind, pid, project=project or configured, code_assist_url=url)
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None


async def complete_login(request: Request, code: str, state: str | None, provider_id: str | None) -> TokenRecord:
    """Finish the login a paste belongs to (ChatGPT / Gemini by their state, else Claude)."""
    ours = logins(request) if admin_state(request).logins is not None else None
    try:
        mine = ours.state_of(code, state) if ours is not None else None
        if ours is not None and mine is not None and ours.owns(mine):
            return await ours.complete(code, mine)
        return await pending(request).complete(code, state, provider_id=provider_id)
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None


async def read_oauth(request: Request, model: type[M]) -> M:
    return await read_body(request, model, limit=MAX_OAUTH_BODY)


def iso(when: datetime) -> str:
    """The original's timestamp format: RFC 3339 with ``+00:00``."""
    return when.isoformat()


async def authorize(request: Request) -> Response:
    guard(request)
    body = await read_oauth(request, OAuthAuthorizeIn)
    return json_response(await start_login(request, body.provider, body.provider_id, body.oauth_type, body.project))


async def exchange(request: Request) -> Response:
    guard(request)
    body = await read_oauth(request, OAuthExchangeIn)
    record = await complete_login(request, body.code.strip(), body.state, body.provider_id)
    return json_response(
        {
            "success": True,
            "message": EXCHANGE_MESSAGE,
            "provider_id": record.provider_id,
            "expires_at": iso(record.expires_at),
            # The original's shape for Claude logins; ChatGPT and Gemini ones also say what they are.
            **({} if login_kind_of(record.source) == "claude" else {"source": record.source}),
            **({"project_id": record.project_id} if record.project_id else {}),
        }
    )


async def login_status(request: Request) -> Response:
    guard(request)
    try:
        state = OAuthStateIn.model_validate({"state": request.query_params.get("state", "")}).state
    except ValueError:
        raise InvalidRequest("state: give the state that authorize returned") from None
    ours = admin_state(request).logins
    return json_response(ours.result(state) if ours is not None else {"status": "unknown"})


async def import_codex(request: Request) -> Response:
    guard(request)
    body = await read_oauth(request, OAuthImportCodexIn)
    try:
        record = await logins(request).import_codex(body.provider_id, body.path)
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None
    return json_response(
        {
            "success": True,
            "provider_id": record.provider_id,
            "expires_at": iso(record.expires_at),
            "source": record.source,
        }
    )


async def notices(request: Request) -> Response:
    guard(request)
    return json_response({"claude": CLAUDE_NOTICE, **NOTICES})


async def tokens(request: Request) -> Response:
    guard(request)
    mgr = manager(request)
    return json_response(token_rows(await mgr.status(), await mgr.store.all()))


async def refresh_login(request: Request, pid: str) -> None:
    """Refresh ``pid`` now at its own token endpoint (404 when there is no such login)."""
    mgr = manager(request)
    record = await mgr.store.get(pid)
    if record is None:
        raise NotFound(f"no OAuth login for {pid!r} (run: ccm login {pid})")
    try:
        if record.source == GEMINI_SOURCE:
            await logins(request).refresh_gemini(record, gemini_provider_facts(request, pid)[0])
        else:
            await mgr.force_refresh(pid, record.access_token.reveal())
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None


async def refresh(request: Request) -> Response:
    guard(request)
    pid = (await read_oauth(request, OAuthProviderIn)).provider_id
    await refresh_login(request, pid)
    mgr = manager(request)
    status = [s for s in token_rows(await mgr.status(), await mgr.store.all()) if s.get("provider_id") == pid]
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
        Route("/api/oauth/status", login_status, methods=["GET"]),
        Route("/api/oauth/import-codex", import_codex, methods=["POST"]),
        Route("/api/oauth/notices", notices, methods=["GET"]),
        Route("/api/oauth/tokens", tokens, methods=["GET"]),
        Route("/api/oauth/tokens/refresh", refresh, methods=["POST"]),
        Route("/api/oauth/tokens/delete", delete_post, methods=["POST"]),
        Route("/api/oauth/tokens/{provider_id}", delete_path, methods=["DELETE"]),
    ]
