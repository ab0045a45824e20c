"""The Gemini CLI (Code Assist) login on the wire: authorize URL, code exchange, refresh, project discovery.

This is the public installed-app OAuth flow Google's Gemini CLI uses (``packages/core/src/code_assist/
oauth2.ts``, ``setup.ts``): Google's authorize and token endpoints with the CLI's published installed-app client
(its ``client_secret`` is public by design and must be sent), a loopback redirect, PKCE S256, offline access.
Exchange and refresh are form-encoded; Google's refresh returns no new refresh token (the old one is kept).

After login, Code Assist needs a Google Cloud project: ``v1internal:loadCodeAssist`` names the user's project
(or the configured one); without a current tier, ``v1internal:onboardUser`` with the default tier returns a
long-running operation polled until ``done``. Every request sends our own User-Agent.

``~/.gemini/oauth_creds.json`` (a google-auth-library ``Credentials`` object: ``access_token``,
``refresh_token``, ``expiry_date`` in ms) can be imported instead of logging in.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import orjson

from claude_code_mux import __version__
from claude_code_mux.auth.oauth import MAX_REPLY_BYTES, TokenEndpointError, TokenSet, read_bounded
from claude_code_mux.auth.secret import Secret, redact
from claude_code_mux.auth.store import TokenRecord
from claude_code_mux.errors import OAuthError

SOURCE = "gemini-cli"
BASE_URL_ENV = "CCM_GEMINI_OAUTH_BASE_URL"
CODE_ASSIST_ENV = "CCM_GEMINI_CODE_ASSIST_URL"
#: Shown before a Gemini CLI login starts (the CLI prints it; the admin UI and the device page show it first).
NOTICE = (
    "Note: this uses your Google account's Gemini Code Assist entitlement the way the Gemini CLI does. "
    "Google's terms for Gemini Code Assist apply; automated or shared use may break them."
)
_METADATA = {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}


@dataclass(frozen=True, slots=True)
class GeminiCliSettings:
    """Endpoints and the public client. ``CCM_GEMINI_OAUTH_BASE_URL`` moves the Google endpoints (tests)."""

    client_id: str = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
    # Public by design (an installed-app client); Google requires it on exchange and refresh.
    client_secret: str = "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"
    authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"
    code_assist_url: str = "https://cloudcode-pa.googleapis.com"
    scopes: tuple[str, ...] = (
        "https://www.googleapis.com/auth/cloud-platform",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    )
    user_agent: str = f"claude-code-mux/{__version__}"
    http_timeout_s: float = 30.0
    onboard_poll_s: float = 5.0
    onboard_max_polls: int = 24

    def __repr__(self) -> str:
        return f"GeminiCliSettings(token_url={self.token_url!r}, code_assist_url={self.code_assist_url!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> GeminiCliSettings:
        env = os.environ if environ is None else environ
        code_assist = env.get(CODE_ASSIST_ENV, "").strip().rstrip("/")
        if code_assist and "code_assist_url" not in overrides:
            overrides["code_assist_url"] = code_assist
        settings = cls(**overrides)
        base = env.get(BASE_URL_ENV, "").strip().rstrip("/")
        if base:
            b = urlsplit(base)

            def move(url: str) -> str:
                p = urlsplit(url)
                return urlunsplit((b.scheme, b.netloc, b.path + p.path, p.query, ""))

            settings = replace(settings, authorize_url=move(settings.authorize_url), token_url=move(settings.token_url))
        return settings


def build_authorize_url(settings: GeminiCliSettings, *, redirect_uri: str, state: str, challenge: str) -> str:
    params = {
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(settings.scopes),
        "access_type": "offline",
        "prompt": "consent",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return settings.authorize_url + "?" + urlencode(params)


async def _post(
    session: httpx.AsyncClient, settings: GeminiCliSettings, url: str, headers: dict[str, str], **body: Any
) -> tuple[int, bytes | None]:
    """POST with an overall deadline; the status and the body (``None`` when over ``MAX_REPLY_BYTES``)."""
    async with asyncio.timeout(settings.http_timeout_s):
        async with session.stream("POST", url, headers=headers, timeout=settings.http_timeout_s, **body) as r:
            return r.status_code, await read_bounded(r)


async def _token_call(session: httpx.AsyncClient, settings: GeminiCliSettings, form: dict[str, str]) -> TokenSet:
    headers = {"User-Agent": settings.user_agent, "Accept": "application/json"}
    secrets = [v for k, v in form.items() if k in ("code", "code_verifier", "refresh_token")]
    try:
        status, body = await _post(session, settings, settings.token_url, headers, data=form)
    except (TimeoutError, httpx.HTTPError, OSError) as exc:
        raise TokenEndpointError(f"Google token endpoint unreachable: {type(exc).__name__}", transient=True) from None
    if body is None:
        raise TokenEndpointError(
            f"Google token endpoint answered HTTP {status} with more than {MAX_REPLY_BYTES} bytes",
            status=status,
            transient=status >= 500 or status == 429,
        )
    raw = body
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if status != 200 or not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        err = data.get("error") if isinstance(data, dict) else None
        desc = data.get("error_description") if isinstance(data, dict) else None
        text = redact(str(desc or err or raw[:200].decode("utf-8", "replace")), *secrets)[:200]
        raise TokenEndpointError(
            f"Google token endpoint answered HTTP {status}: {text}",
            error=err if isinstance(err, str) else None,
            status=status,
            transient=status >= 500 or status == 429,
            description=text,
        )
    refresh = data.get("refresh_token")
    expires = data.get("expires_in")
    return TokenSet(
        access_token=Secret(data["access_token"]),
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        expires_in=float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else 3600.0,
        scope=tuple(str(data.get("scope") or "").split()),
    )


async def exchange_code(
    session: httpx.AsyncClient, settings: GeminiCliSettings, *, code: str, verifier: str, redirect_uri: str
) -> TokenSet:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
    }
    return await _token_call(session, settings, form)


async def refresh_tokens(session: httpx.AsyncClient, settings: GeminiCliSettings, refresh_token: str) -> TokenSet:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
    }
    return await _token_call(session, settings, form)


# ---------------------------------------------------------------------------------------------
# Code Assist project discovery and onboarding


async def _code_assist(
    session: httpx.AsyncClient, settings: GeminiCliSettings, token: str, method: str, body: dict[str, Any]
) -> dict[str, Any]:
    url = f"{settings.code_assist_url.rstrip('/')}/v1internal:{method}"
    headers = {
        "Authorization": f"Bearer {token}",
        "User-Agent": settings.user_agent,
        "Content-Type": "application/json",
    }
    try:
        status, reply = await _post(session, settings, url, headers, content=orjson.dumps(body))
    except (TimeoutError, httpx.HTTPError, OSError) as exc:
        raise OAuthError(f"Code Assist {method} unreachable: {type(exc).__name__}") from None
    if reply is None:
        raise OAuthError(f"Code Assist {method} answered HTTP {status} with more than {MAX_REPLY_BYTES} bytes")
    raw = reply
    if status != 200:
        text = redact(raw[:300].decode("utf-8", "replace"), token)
        raise OAuthError(f"Code Assist {method} answered HTTP {status}: {text}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise OAuthError(f"Code Assist {method} answered with something other than JSON") from None
    return data if isinstance(data, dict) else {}


def _project_id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return str(value["id"])
    return None


async def discover_project(
    session: httpx.AsyncClient, settings: GeminiCliSettings, token: str, *, project: str | None = None
) -> str:
    """The Code Assist project for this login (onboarding the user to the default tier when needed)."""
    metadata: dict[str, Any] = dict(_METADATA)
    load: dict[str, Any] = {"metadata": metadata}
    if project:
        load["cloudaicompanionProject"] = project
        metadata["duetProject"] = project
    loaded = await _code_assist(session, settings, token, "loadCodeAssist", load)
    if loaded.get("currentTier"):
        found = _project_id(loaded.get("cloudaicompanionProject")) or project
        if found:
            return found
        raise OAuthError('this Google account needs a Google Cloud project for Code Assist: set project = "..."')
    tiers: list[Any] = loaded["allowedTiers"] if isinstance(loaded.get("allowedTiers"), list) else []
    default = next((t for t in tiers if isinstance(t, dict) and t.get("isDefault")), None)
    tier_id = str(default.get("id")) if isinstance(default, dict) and default.get("id") else "free-tier"
    onboard: dict[str, Any] = {"tierId": tier_id, "metadata": metadata}
    if tier_id != "free-tier" and project:
        onboard["cloudaicompanionProject"] = project
    for _ in range(settings.onboard_max_polls):
        op = await _code_assist(session, settings, token, "onboardUser", onboard)
        if op.get("done"):
            response: dict[str, Any] = op["response"] if isinstance(op.get("response"), dict) else {}
            found = _project_id(response.get("cloudaicompanionProject")) or project
            if found:
                return found
            raise OAuthError('Code Assist onboarding finished without a project; set project = "..."')
        await asyncio.sleep(settings.onboard_poll_s)
    raise OAuthError("Code Assist onboarding did not finish in time; try again later")


# ---------------------------------------------------------------------------------------------
# import of an existing Gemini CLI login


def default_gemini_creds_path() -> Path:
    return Path.home() / ".gemini" / "oauth_creds.json"


def import_gemini_cli(provider_id: str, path: Path) -> TokenRecord:
    """A token record from the Gemini CLI's ``oauth_creds.json`` (raises ``OAuthError``; never quotes values)."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise OAuthError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except orjson.JSONDecodeError:
        raise OAuthError(f"{path} is not JSON") from None
    if not isinstance(data, dict):
        raise OAuthError(f"{path} does not hold a Gemini CLI login")
    access, refresh, expiry = data.get("access_token"), data.get("refresh_token"), data.get("expiry_date")
    if not isinstance(refresh, str) or not refresh:
        raise OAuthError(f"{path} has no refresh token; log in with: ccm login gemini")
    expires = float(expiry) / 1000.0 if isinstance(expiry, int | float) and not isinstance(expiry, bool) else 0.0
    return TokenRecord(
        provider_id=provider_id,
        access_token=Secret(access if isinstance(access, str) else ""),
        refresh_token=Secret(refresh),
        expires_at=expires,  # type: ignore[arg-type]
        source=SOURCE,
    )
