"""A mock of OpenAI's auth server for the ChatGPT (Codex) subscription login, built on aiohttp.web.

Use it from async tests (``async with MockChatGPTAuth() as auth``) or standalone
(``python -m tests.mocks.chatgpt_oauth --port 0``). Point the router at it with ``[oauth.chatgpt]``
``authorize_url`` / ``token_url`` (or ``CCM_CHATGPT_OAUTH_BASE_URL``).

  GET  /oauth/authorize   checks client_id, response_type=code, a registered redirect_uri, PKCE S256 with a
                          challenge, a state and the ``openid``/``offline_access`` scopes; auto-approves with a 302 to
                          ``redirect_uri?code=...&state=...`` (``Accept: application/json`` gets ``{"redirect": ...}``);
                          refusals also go back through the redirect as ``?error=...&error_description=...``.
  POST /oauth/token       form-encoded only (JSON -> 400). ``authorization_code``: code single-use and fresh,
                          redirect_uri equal to the authorize one, BASE64URL(SHA256(verifier)) == challenge.
                          ``refresh_token``: rotates; reusing a rotated token -> 401 ``refresh_token_reused``,
                          an unknown one -> 400 ``invalid_grant``. Replies ``{id_token, access_token, refresh_token,
                          expires_in, token_type, scope}``; tokens are JWTs whose ``https://api.openai.com/auth`` claim
                          carries ``chatgpt_account_id`` and ``chatgpt_plan_type`` (the signature is not real).

:meth:`MockChatGPTAuth.token_ok` is what the Responses mock (``chatgpt=True``) uses to accept a bearer token and its
``chatgpt-account-id`` header.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.mocks.serve import serve_until_stopped

CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
REDIRECT = "http://localhost:1455/auth/callback"
ACCOUNT = "acct-mock-1234"
AUTH_CLAIM = "https://api.openai.com/auth"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(secrets.token_bytes(32))}"


@dataclass
class _Code:
    challenge: str
    redirect_uri: str
    created: float
    used: bool = False


@dataclass
class _Family:
    refresh: str
    access: set[str] = field(default_factory=set)
    rotated: set[str] = field(default_factory=set)
    revoked: bool = False


class MockChatGPTAuth:
    def __init__(
        self,
        *,
        redirect_uris: Sequence[str] = (REDIRECT,),
        expires_in: int = 864000,
        account_id: str = ACCOUNT,
        plan: str = "plus",
        client_id: str = CLIENT_ID,
    ) -> None:
        self.redirect_uris = list(redirect_uris)
        self.expires_in = expires_in
        self.account_id = account_id
        self.plan = plan
        self.client_id = client_id
        self.url = ""
        self.port = 0
        self.refresh_count = 0
        self.token_requests: list[dict[str, str]] = []
        self.authorize_requests: list[dict[str, str]] = []
        self._codes: dict[str, _Code] = {}
        self._families: list[_Family] = []
        self._access_exp: dict[str, float] = {}
        self._runner: web.AppRunner | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/oauth/authorize", self._authorize)
        app.router.add_post("/oauth/token", self._token)
        app.router.add_get("/_mock/health", self._health)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = int(sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockChatGPTAuth:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- helpers for tests -------------------------------------------------------------------

    def issue(self, expires_in: int | None = None) -> dict[str, Any]:
        """A fresh token family (as if a login had happened): the token endpoint's reply."""
        fam = _Family(refresh="rt_" + secrets.token_urlsafe(24))
        self._families.append(fam)
        return self._reply(fam, expires_in)

    def token_ok(self, token: str, account: str | None) -> bool:
        """A live access token of this server, presented with its account id."""
        exp = self._access_exp.get(token)
        if exp is None or exp <= time.time() or account != self.account_id:
            return False
        return any(token in f.access and not f.revoked for f in self._families)

    def expire_access_tokens(self) -> None:
        """Make every issued access token stale (the upstream then answers 401)."""
        for token in self._access_exp:
            self._access_exp[token] = 0.0

    def secrets_issued(self) -> list[str]:
        out: list[str] = []
        for f in self._families:
            out += [f.refresh, *f.access, *f.rotated]
        return out

    def _reply(self, fam: _Family, expires_in: int | None = None) -> dict[str, Any]:
        ttl = self.expires_in if expires_in is None else expires_in
        now = time.time()
        auth = {"chatgpt_account_id": self.account_id, "chatgpt_plan_type": self.plan, "user_id": "user-mock"}
        access = jwt(
            {
                "iss": "mock",
                "aud": ["https://api.openai.com/v1"],
                "iat": int(now),
                "exp": int(now + ttl),
                AUTH_CLAIM: auth,
                "jti": secrets.token_hex(8),
            }
        )
        id_token = jwt(
            {
                "iss": "mock",
                "aud": self.client_id,
                "email": "user@example.com",
                "exp": int(now + 3600),
                AUTH_CLAIM: auth,
            }
        )
        fam.access.add(access)
        self._access_exp[access] = now + ttl
        return {
            "id_token": id_token,
            "access_token": access,
            "refresh_token": fam.refresh,
            "expires_in": ttl,
            "token_type": "Bearer",
            "scope": "openid profile email offline_access",
        }

    # ---- endpoints ---------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _authorize(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.authorize_requests.append(q)
        redirect = q.get("redirect_uri", "")
        if redirect not in self.redirect_uris:
            return web.json_response(
                {"error": "invalid_request", "error_description": "redirect_uri is not registered"}, status=400
            )

        def back(params: dict[str, str]) -> web.Response:
            location = redirect + "?" + urlencode(params)
            if "application/json" in request.headers.get("Accept", ""):
                return web.json_response({"redirect": location})
            raise web.HTTPFound(location)

        state = q.get("state", "")
        problems = [
            ("client_id", q.get("client_id") != self.client_id),
            ("response_type", q.get("response_type") != "code"),
            ("code_challenge_method", q.get("code_challenge_method") != "S256"),
            ("code_challenge", not q.get("code_challenge")),
            ("state", not state),
            ("scope", not {"openid", "offline_access"} <= set(q.get("scope", "").split())),
        ]
        bad = [name for name, failed in problems if failed]
        if bad:
            return back({"error": "invalid_request", "error_description": f"bad {bad[0]}", "state": state})
        code = "ac_" + secrets.token_urlsafe(24)
        self._codes[code] = _Code(q["code_challenge"], redirect, time.time())
        return back({"code": code, "state": state})

    async def _token(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            return web.json_response(
                {"error": "invalid_request", "error_description": "form body required"}, status=400
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(
            {k: ("***" if "token" in k or k in ("code", "code_verifier") else v) for k, v in form.items()}
        )
        if form.get("client_id") != self.client_id:
            return web.json_response({"error": "invalid_client", "error_description": "unknown client"}, status=401)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = self._codes.get(form.get("code", ""))
            if code is None or code.used or time.time() - code.created > 600:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "Invalid authorization code"}, status=400
                )
            code.used = True
            if form.get("redirect_uri") != code.redirect_uri:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}, status=400
                )
            verifier = form.get("code_verifier", "")
            if _b64(hashlib.sha256(verifier.encode()).digest()) != code.challenge:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "PKCE verification failed"}, status=400
                )
            fam = _Family(refresh="rt_" + secrets.token_urlsafe(24))
            self._families.append(fam)
            return web.json_response(self._reply(fam))
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            for fam in self._families:
                if token in fam.rotated:
                    fam.revoked = True
                    return web.json_response(
                        {
                            "error": {
                                "message": "Your refresh token has already been used to generate a new access token. "
                                "Please try signing in again.",
                                "type": "invalid_request_error",
                                "param": None,
                                "code": "refresh_token_reused",
                            }
                        },
                        status=401,
                    )
                if token == fam.refresh and not fam.revoked:
                    self.refresh_count += 1
                    fam.rotated.add(fam.refresh)
                    fam.refresh = "rt_" + secrets.token_urlsafe(24)
                    return web.json_response(self._reply(fam))
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid refresh token"}, status=400
            )
        return web.json_response({"error": "unsupported_grant_type"}, status=400)


async def _serve(args: argparse.Namespace) -> int:
    mock = MockChatGPTAuth(redirect_uris=args.redirect or [REDIRECT], expires_in=args.expires_in)
    return await serve_until_stopped(mock, args.host, args.port, args.max_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.mocks.chatgpt_oauth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--redirect", action="append", help="registered redirect URI (repeatable)")
    ap.add_argument("--expires-in", type=int, default=864000)
    ap.add_argument("--max-seconds", type=float, default=3600)
    args = ap.parse_args(argv)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
