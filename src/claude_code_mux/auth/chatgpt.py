"""ChatGPT (Codex) subscription login on the wire: authorize URL, code exchange, refresh, pending logins.

The documented flow of OpenAI's auth server for the public Codex client: PKCE (S256) with an independent
``state``, the loopback redirect that client registers (``http://localhost:1455/auth/callback``), and a
form-encoded token endpoint. Refresh tokens rotate (reuse answers ``refresh_token_reused``), so refreshing
goes through the same single-flight :class:`~claude_code_mux.auth.tokens.TokenManager` as Claude logins;
records made here carry ``source = "chatgpt"`` (or ``codex:<path>`` when imported), which is how the manager
picks this module's refresh. Endpoints, client id and parameters come from ``[oauth.chatgpt]``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from claude_code_mux import __version__
from claude_code_mux.auth import pkce
from claude_code_mux.auth.chatgpt_claims import expiry_from_token
from claude_code_mux.auth.code_input import CallbackInput, check_state, parse_callback
from claude_code_mux.auth.oauth import (
    TokenEndpointError,
    TokenSet,
    _error_from_reply,
    _host,
    _parse_json,
    read_bounded,
)
from claude_code_mux.auth.pending import PendingStates
from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import TokenRecord
from claude_code_mux.config.oauth_schema import ChatGPTOAuthSettings, OAuthSettings
from claude_code_mux.errors import OAuthError

if TYPE_CHECKING:
    import httpx  # imported where a call is made: a router without logins never needs it

    from claude_code_mux.auth.tokens import TokenManager

log = logging.getLogger(__name__)

SOURCE = "chatgpt"
IMPORT_PREFIX = "codex:"
USER_AGENT = f"claude-code-mux/{__version__}"
#: Shown before a ChatGPT login starts (the README's terms-of-service notice, short).
NOTICE = (
    "Note: this uses your ChatGPT subscription through a third-party tool, with the public Codex CLI client's "
    "documented login. OpenAI's terms apply and may restrict such use; whether to use it is your decision."
)

Refresher = Callable[["httpx.AsyncClient", OAuthSettings, str], Awaitable[TokenSet]]


def is_chatgpt(record: TokenRecord) -> bool:
    """A ChatGPT login (made by ``ccm login chatgpt`` or imported from the Codex CLI)."""
    return record.source is not None and (record.source == SOURCE or record.source.startswith(IMPORT_PREFIX))


def is_chatgpt_id(provider_id: str) -> bool:
    """Login names that use the ChatGPT flow: ``chatgpt`` and ``chatgpt-<anything>``."""
    return provider_id == SOURCE or provider_id.startswith(SOURCE + "-")


def build_authorize_url(settings: ChatGPTOAuthSettings, *, challenge: str, state: str) -> str:
    params = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_uri,
        "scope": settings.scopes,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **settings.authorize_params,
        "state": state,
    }
    sep = "&" if "?" in settings.authorize_url else "?"
    return settings.authorize_url + sep + urlencode(params)


async def _token_request(
    session: httpx.AsyncClient,
    settings: ChatGPTOAuthSettings,
    form: dict[str, str],
    timeout_s: float,
    secrets: tuple[str, ...],
) -> TokenSet:
    import httpx

    grant = "refresh_token" if form["grant_type"] == "refresh_token" else "authorization_code"
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    try:
        async with asyncio.timeout(timeout_s):
            async with session.stream(
                "POST", settings.token_url, data=form, headers=headers, timeout=timeout_s
            ) as resp:
                raw = await read_bounded(resp) or b""
                status = resp.status_code
                retry_after = resp.headers.get("retry-after")
    except (TimeoutError, httpx.HTTPError, OSError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError | httpx.TimeoutException) else type(exc).__name__
        raise TokenEndpointError(
            f"could not reach the ChatGPT token endpoint at {_host(settings.token_url)} ({reason})", transient=True
        ) from None
    data = _parse_json(raw)
    if status != 200 or not isinstance(data, dict):
        err = _error_from_reply(status, data, retry_after, grant, secrets)  # type: ignore[arg-type]
        if err.error == "refresh_token_reused":  # rotated elsewhere: the same recovery as invalid_grant
            err.error = "invalid_grant"
        raise err
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError("the ChatGPT token endpoint reply has no access_token")
    refresh = data.get("refresh_token")
    expires_in = data.get("expires_in")
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        exp = expiry_from_token(access)
        expires_in = max(exp - time.time(), 60.0) if exp else 3600.0
    return TokenSet(
        access_token=Secret(access),
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        expires_in=float(expires_in),
    )


async def exchange_code(session: httpx.AsyncClient, settings: OAuthSettings, *, code: str, verifier: str) -> TokenSet:
    """Trade an authorization code (single use) for tokens."""
    cg = settings.chatgpt
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": cg.redirect_uri,
        "client_id": cg.client_id,
        "code_verifier": verifier,
    }
    tokens = await _token_request(session, cg, form, settings.http_timeout_s, (code, verifier))
    if tokens.refresh_token is None:
        raise TokenEndpointError("the ChatGPT token endpoint returned no refresh_token")
    return tokens


async def refresh(session: httpx.AsyncClient, settings: OAuthSettings, refresh_token: str) -> TokenSet:
    """The refresh grant (the old refresh token is dead afterwards)."""
    if not refresh_token:
        raise TokenEndpointError("no refresh token is stored for this login", error="invalid_grant")
    cg = settings.chatgpt
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": cg.client_id}
    return await _token_request(session, cg, form, settings.http_timeout_s, (refresh_token,))


def refresher_for(record: TokenRecord, default: Refresher) -> Refresher:
    """The refresh function for ``record``: ours for ChatGPT logins, ``default`` otherwise."""
    return refresh if is_chatgpt(record) else default


@dataclass(frozen=True, slots=True)
class _Pending:
    verifier: Secret
    provider_id: str
    created_at: float


class ChatGPTLogins:
    """ChatGPT login attempts in progress, keyed by ``state`` (single use, 10 minutes); the verifier stays here.

    ``manager`` is the :class:`~claude_code_mux.auth.tokens.TokenManager` (its settings, clock, session and store).
    """

    def __init__(self, manager: TokenManager, *, ttl_s: float = 600.0, max_pending: int = 16) -> None:
        self.manager = manager
        self._pending: PendingStates[_Pending] = PendingStates(
            lambda: manager.clock(), ttl_s=ttl_s, max_pending=max_pending
        )

    def __repr__(self) -> str:
        return f"ChatGPTLogins({len(self._pending)} pending)"

    def start(self, provider_id: str = SOURCE) -> dict[str, str]:
        """Begin a login: ``{url, state, redirect_uri, instructions}``. Nothing secret is returned."""
        if not provider_id.strip():
            raise OAuthError("provider id must not be empty")
        verifier = pkce.generate_verifier()
        state = pkce.generate_state()
        self._pending.add(state, _Pending(Secret(verifier), provider_id, self.manager.clock()))
        cg = self.manager.settings.chatgpt
        return {
            "url": build_authorize_url(cg, challenge=pkce.challenge(verifier), state=state),
            "state": state,
            "redirect_uri": cg.redirect_uri,
            "instructions": (
                "Open the URL and sign in to ChatGPT. The browser comes back to this machine on "
                f"{cg.redirect_uri} and the login completes by itself; if that page does not load (another "
                "machine, port taken), paste the address the browser ended on."
            ),
        }

    def is_pending(self, state: str) -> bool:
        return self._pending.has(state)

    async def complete(self, code_input: str | CallbackInput, state: str | None = None) -> TokenRecord:
        """Finish from the loopback callback or a pasted callback URL / ``code=...&state=...``; store the login."""
        parsed = code_input if isinstance(code_input, CallbackInput) else parse_callback(code_input)
        check_state(parsed.state, state)
        key, pending = self._pending.take(
            state or parsed.state,
            whole_paste="paste the whole address the browser ended on (it carries code and state)",
            unknown="this login attempt is unknown or has expired; start the login again",
        )
        manager = self.manager
        try:
            tokens = await exchange_code(
                manager.session_factory(), manager.settings, code=parsed.code, verifier=pending.verifier.reveal()
            )
        except TokenEndpointError as exc:
            if exc.transient:
                self._pending.put_back(key, pending)
            raise
        record = replace(TokenRecord.from_token_set(pending.provider_id, tokens, manager.clock()), source=SOURCE)
        await manager.save_record(record)
        log.info("logged in '%s' (ChatGPT)", pending.provider_id)
        return record
