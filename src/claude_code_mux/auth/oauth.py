"""Anthropic OAuth on the wire: the authorize URL, the code exchange, refresh and ``create_api_key``.

Bodies are JSON (not forms). Messages in raised errors are safe to show: they never contain a code, a verifier
or a token, and server-provided text is redacted and truncated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

import orjson

from claude_code_mux.auth.code_input import CallbackInput, check_state, parse_callback, parse_code_input
from claude_code_mux.auth.secret import Secret, redact
from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.errors import OAuthError

if TYPE_CHECKING:
    import httpx  # imported in the functions that call out: a router without logins never needs it

__all__ = [
    "CallbackInput",
    "TokenEndpointError",
    "TokenSet",
    "build_authorize_url",
    "check_state",
    "create_api_key",
    "exchange_code",
    "parse_callback",
    "parse_code_input",
    "refresh_tokens",
]

log = logging.getLogger(__name__)

Mode = Literal["max", "console"]
Grant = Literal["authorization_code", "refresh_token"]


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A token response. ``refresh_token`` is ``None`` when a refresh returned none (keep the old one)."""

    access_token: Secret
    refresh_token: Secret | None
    expires_in: float
    scope: tuple[str, ...] = ()
    token_type: str = "Bearer"
    account_email: str | None = None
    organization_name: str | None = None


class TokenEndpointError(OAuthError):
    """The token endpoint refused or could not be reached.

    ``error`` is the OAuth error code (``invalid_grant``: the code or refresh token is dead), ``status`` the
    HTTP status (``None`` for a network failure) and ``transient`` says a later retry may succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        status: int | None = None,
        transient: bool = False,
        description: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error = error
        self.description = description
        self.status = status
        self.transient = transient

    @property
    def invalid_grant(self) -> bool:
        return self.error == "invalid_grant"


def build_authorize_url(
    settings: OAuthSettings,
    *,
    mode: Mode,
    challenge: str,
    state: str,
    redirect_uri: str | None = None,
) -> str:
    """The URL the user opens. ``redirect_uri`` defaults to the hosted page that shows ``code#state``."""
    base = settings.authorize_url_max if mode == "max" else settings.authorize_url_console
    params = {
        "code": "true",
        "client_id": settings.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri or settings.redirect_uri,
        "scope": settings.scopes,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
    }
    sep = "&" if "?" in base else "?"
    return base + sep + urlencode(params)


def _headers(settings: OAuthSettings) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/plain, */*"}
    if settings.token_user_agent:
        headers["User-Agent"] = settings.token_user_agent
    return headers


MAX_REPLY_BYTES = 1 << 20  # a token endpoint answer larger than this is cut off (and fails to parse)


async def read_bounded(resp: httpx.Response, limit: int = MAX_REPLY_BYTES) -> bytes | None:
    """The body of a streamed httpx response, or None when it is longer than ``limit``."""
    parts: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _clip(text: str, *secrets: str) -> str:
    return redact(text, *secrets)[:200]


def _parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _error_from_reply(
    status: int, body: Any, retry_after: str | None, grant: Grant, secrets: tuple[str, ...]
) -> TokenEndpointError:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error = body["error"]
        desc = _clip(str(body.get("error_description") or ""), *secrets)
        if error == "invalid_grant" and grant == "authorization_code":
            if "redirect_uri" in desc:
                msg = (
                    f"the token endpoint rejected the redirect_uri ({desc}); it must equal the one in the "
                    "authorize URL exactly. Start the login again"
                )
            else:
                msg = (
                    f"the authorization code was rejected ({desc or 'invalid_grant'}): it has expired, was "
                    "already used, or belongs to another login attempt. Start the login again and paste the "
                    "new code promptly"
                )
        elif error == "invalid_grant":
            msg = f"the refresh token was rejected ({desc or 'invalid_grant'})"
        else:
            msg = f"the token endpoint answered {status} {error}" + (f": {desc}" if desc else "")
        return TokenEndpointError(msg, error=error, status=status, transient=status >= 500, description=desc or error)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        inner = body["error"]
        etype = str(inner.get("type") or "error")
        emsg = _clip(str(inner.get("message") or ""), *secrets)
        return TokenEndpointError(
            f"the token endpoint answered {status} {etype}: {emsg}",
            error=etype,
            status=status,
            transient=status == 429 or status >= 500,
        )
    if status == 429:
        wait = f" (retry-after: {retry_after[:20]})" if retry_after else ""
        return TokenEndpointError(
            f"the token endpoint is rate limiting (429){wait}; wait a few minutes and try again",
            status=status,
            transient=True,
        )
    if status == 403:
        return TokenEndpointError(
            "the token endpoint refused the request (403); the provider may not accept this client "
            "(see the README's OAuth troubleshooting)",
            status=status,
        )
    return TokenEndpointError(
        f"unexpected reply {status} from the token endpoint", status=status, transient=status >= 500
    )


async def _token_request(
    session: httpx.AsyncClient,
    settings: OAuthSettings,
    body: Mapping[str, str],
    grant: Grant,
    secrets: tuple[str, ...],
) -> dict[str, Any]:
    """POST ``body`` to the token endpoint, falling back to the next URL only on a 404."""
    import httpx

    urls = (settings.token_url, *settings.token_url_fallbacks)
    payload = orjson.dumps(dict(body))
    for i, url in enumerate(urls):
        try:
            async with asyncio.timeout(settings.http_timeout_s):
                req = session.build_request("POST", url, content=payload, headers=_headers(settings))
                resp = await session.send(req, stream=True)
                try:
                    raw = await read_bounded(resp) or b""
                finally:
                    await resp.aclose()
                status = resp.status_code
                retry_after = resp.headers.get("retry-after")
        except (TimeoutError, httpx.HTTPError, OSError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError | httpx.TimeoutException) else type(exc).__name__
            raise TokenEndpointError(
                f"could not reach the OAuth token endpoint at {_host(url)} ({reason}); check the network "
                "and [oauth] token_url",
                transient=True,
            ) from None
        log.debug("oauth token endpoint %s answered %s for %s", _host(url), status, grant)
        if status == 404 and i + 1 < len(urls):
            log.warning("oauth token endpoint %s answered 404; trying %s", _host(url), _host(urls[i + 1]))
            continue
        if status == 404:
            raise TokenEndpointError(
                f"the OAuth token endpoint {_host(url)} answered 404; it may have moved (set [oauth] token_url)",
                status=404,
            )
        data = _parse_json(raw)
        if status == 200 and isinstance(data, dict):
            return data
        raise _error_from_reply(status, data, retry_after, grant, secrets)
    raise AssertionError("unreachable")  # pragma: no cover


def _token_set(data: dict[str, Any], *, need_refresh: bool) -> TokenSet:
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError("the token endpoint reply has no access_token")
    refresh = data.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        if need_refresh:
            raise TokenEndpointError("the token endpoint reply has no refresh_token")
        refresh = None
    expires_in = data.get("expires_in")
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        log.warning("oauth token reply has no usable expires_in; assuming one hour")
        expires_in = 3600
    scope = data.get("scope")
    account = data.get("account")
    org = data.get("organization")
    return TokenSet(
        access_token=Secret(access),
        refresh_token=Secret(refresh) if refresh else None,
        expires_in=float(expires_in),
        scope=tuple(scope.split()) if isinstance(scope, str) else (),
        token_type=str(data.get("token_type") or "Bearer"),
        account_email=str(account["email_address"])
        if isinstance(account, dict) and account.get("email_address")
        else None,
        organization_name=str(org["name"]) if isinstance(org, dict) and org.get("name") else None,
    )


async def exchange_code(
    session: httpx.AsyncClient,
    settings: OAuthSettings,
    *,
    code: str,
    state: str,
    verifier: str,
    redirect_uri: str,
) -> TokenSet:
    """Exchange an authorization code (single use) for tokens."""
    body = {
        "code": code,
        "state": state,
        "grant_type": "authorization_code",
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    data = await _token_request(session, settings, body, "authorization_code", (code, verifier, state))
    return _token_set(data, need_refresh=True)


async def refresh_tokens(session: httpx.AsyncClient, settings: OAuthSettings, refresh_token: str) -> TokenSet:
    """Trade a refresh token for new tokens. The old refresh token is dead afterwards (rotation)."""
    if not refresh_token:
        raise TokenEndpointError(
            "no refresh token is stored for this login",
            error="invalid_grant",
            description="no refresh token stored",
        )
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": settings.client_id}
    data = await _token_request(session, settings, body, "refresh_token", (refresh_token,))
    return _token_set(data, need_refresh=False)


async def create_api_key(session: httpx.AsyncClient, settings: OAuthSettings, access_token: str) -> str:
    """Create an API key with a console-mode login (needs the ``org:create_api_key`` scope)."""
    import httpx

    url = settings.create_api_key_url
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {access_token}"}
    if settings.token_user_agent:
        headers["User-Agent"] = settings.token_user_agent
    try:
        async with asyncio.timeout(settings.http_timeout_s):
            resp = await session.send(session.build_request("POST", url, headers=headers), stream=True)
            try:
                raw = await read_bounded(resp) or b""
            finally:
                await resp.aclose()
            status = resp.status_code
    except (TimeoutError, httpx.HTTPError, OSError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError | httpx.TimeoutException) else type(exc).__name__
        raise OAuthError(f"could not reach {_host(url)} to create an API key ({reason})") from None
    data = _parse_json(raw)
    if status == 200 and isinstance(data, dict) and isinstance(data.get("raw_key"), str) and data["raw_key"]:
        return str(data["raw_key"])
    if status in (401, 403):
        raise OAuthError(
            f"creating an API key was refused ({status}); the login needs the org:create_api_key scope "
            "(log in with --mode console)"
        )
    raise OAuthError(f"creating an API key failed: unexpected reply {status} from {_host(url)}")
