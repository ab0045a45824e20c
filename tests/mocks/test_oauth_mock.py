"""The mock OAuth + resource server behaves like the checklist in reference/oauth.md says."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for entry in (ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import asyncio  # noqa: E402
import base64  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs, quote, urlencode, urlsplit  # noqa: E402

import aiohttp  # noqa: E402
import pytest  # noqa: E402

from tests.mocks.oauth import (  # noqa: E402
    CLIENT_ID,
    MSG_BETA,
    MSG_EXPIRED,
    MSG_POLICY,
    MSG_UNKNOWN,
    MockConfig,
    MockOAuthServer,
)

HOSTED = "/oauth/code/callback"
BETA = {"anthropic-beta": "oauth-2025-04-20"}
MSG_BODY = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def challenge(v: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
async def mock() -> AsyncIterator[MockOAuthServer]:
    async with MockOAuthServer() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def authorize_params(mock: MockOAuthServer, verifier: str, state: str, redirect: str, /, **kw: str) -> dict[str, str]:
    params = {
        "code": "true",
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": "org:create_api_key user:profile user:inference",
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
        "state": state,
    }
    params.update(kw)
    return params


async def token(http: aiohttp.ClientSession, mock: MockOAuthServer, body: Any, **kw: Any) -> tuple[int, Any]:
    async with http.post(f"{mock.url}/v1/oauth/token", json=body, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def login(http: aiohttp.ClientSession, mock: MockOAuthServer, scope: str | None = None) -> dict[str, Any]:
    verifier, state = secrets.token_urlsafe(64), secrets.token_urlsafe(16)
    redirect = mock.url + HOSTED
    extra = {"scope": scope} if scope else {}
    async with http.get(
        f"{mock.url}/oauth/authorize",
        params=authorize_params(mock, verifier, state, redirect, **extra),
        headers={"Accept": "application/json"},
    ) as resp:
        code, got_state = (await resp.json())["code"].split("#")
    assert got_state == state
    status, body = await token(
        http,
        mock,
        {
            "code": code,
            "state": state,
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
    )
    assert status == 200, body
    return dict(body)


# -- authorize --


@pytest.mark.parametrize("space", ["+", "%20"])
async def test_authorize_loopback_redirects_with_code_and_state(
    mock: MockOAuthServer, http: aiohttp.ClientSession, space: str
) -> None:
    params = authorize_params(mock, "v" * 43, "st", "http://localhost:8765/callback")
    query = urlencode({k: v for k, v in params.items() if k != "scope"})
    query += "&scope=" + space.join(quote(s, safe="") for s in params["scope"].split())
    async with http.get(f"{mock.url}/oauth/authorize?{query}", allow_redirects=False) as resp:
        assert resp.status == 302
        loc = urlsplit(resp.headers["Location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == "http://localhost:8765/callback"
    q = parse_qs(loc.query)
    assert q["state"] == ["st"] and q["code"][0]


async def test_authorize_hosted_shows_code_hash_state(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    params = authorize_params(mock, "v" * 43, "st", "https://platform.claude.com/oauth/code/callback")
    async with http.get(f"{mock.url}/oauth/authorize", params=params) as resp:
        text = await resp.text()
    assert resp.status == 200 and "#st</code>" in text
    async with http.get(f"{mock.url}/cai/oauth/authorize", params=params, headers={"Accept": "application/json"}) as r:
        assert (await r.json())["code"].endswith("#st")  # claude.com/cai redirect path


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"state": ""}, "invalid_request"),
        ({"scope": "user:inference admin:everything"}, "invalid_scope"),
    ],
)
async def test_authorize_errors_go_back_through_the_redirect(
    mock: MockOAuthServer, http: aiohttp.ClientSession, override: dict[str, str], error: str
) -> None:
    params = authorize_params(mock, "v" * 43, "st", "http://127.0.0.1:9999/callback", **override)
    async with http.get(f"{mock.url}/oauth/authorize", params=params, allow_redirects=False) as resp:
        assert resp.status == 302
        assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == [error]


@pytest.mark.parametrize(
    "override",
    [{"client_id": "someone-else"}, {"redirect_uri": "https://evil.example/cb"}, {"redirect_uri": ""}],
)
async def test_authorize_refuses_bad_client_or_redirect(
    mock: MockOAuthServer, http: aiohttp.ClientSession, override: dict[str, str]
) -> None:
    params = authorize_params(mock, "v" * 43, "st", "http://localhost:1/callback", **override)
    async with http.get(f"{mock.url}/oauth/authorize", params=params, allow_redirects=False) as resp:
        assert resp.status == 400


# -- authorization_code --


async def test_exchange_checks(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    v = secrets.token_urlsafe(64)
    redirect = mock.url + HOSTED

    def body(code: str, **kw: str) -> dict[str, str]:
        base = {
            "code": code,
            "state": "st",
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect,
            "code_verifier": v,
        }
        return {**base, **kw}

    code = mock.mint_code(verifier=v, redirect_uri=redirect, state="st")
    assert await token(http, mock, body(code, redirect_uri=redirect + "/x")) == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid 'redirect_uri' in request."},
    )
    code = mock.mint_code(verifier=v, redirect_uri=redirect, state="st")
    status, err = await token(http, mock, body(code, code_verifier="wrong" * 10))
    assert (status, err["error"]) == (400, "invalid_grant")
    code = mock.mint_code(verifier=v, redirect_uri=redirect, state="st")
    status, ok = await token(http, mock, body(code))
    assert status == 200
    assert ok["access_token"].startswith("sk-ant-oat01-") and ok["refresh_token"].startswith("sk-ant-ort01-")
    assert ok["expires_in"] == 28800 and ok["token_type"] == "Bearer"
    assert ok["organization"]["uuid"] and ok["account"]["email_address"]
    # single use; a replay also revokes what the code produced
    assert await token(http, mock, body(code)) == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid 'code' in request."},
    )
    assert not mock.access_valid(ok["access_token"])
    # missing state and malformed bodies are Anthropic-style format errors
    code = mock.mint_code(verifier=v, redirect_uri=redirect, state="st")
    b = body(code)
    del b["state"]
    status, err = await token(http, mock, b)
    assert status == 400 and err["error"] == {
        "type": "invalid_request_error",
        "message": "Invalid request format",
    }
    assert err["request_id"].startswith("req_")
    async with http.post(f"{mock.url}/v1/oauth/token", data=b"{", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"]["message"] == "Invalid request format"
    async with http.post(f"{mock.url}/v1/oauth/token", data=body(code)) as r:  # a form is not accepted here
        assert r.status == 400


async def test_state_equal_to_verifier_switch(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    mock.config.reject_state_equals_verifier = True
    v = secrets.token_urlsafe(64)
    redirect = mock.url + HOSTED
    code = mock.mint_code(verifier=v, redirect_uri=redirect, state=v)
    status, err = await token(
        http,
        mock,
        {
            "code": code,
            "state": v,
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect,
            "code_verifier": v,
        },
    )
    assert (status, err["error_description"]) == (400, "Invalid 'code' in request.")


async def test_code_expiry(http: aiohttp.ClientSession) -> None:
    async with MockOAuthServer(MockConfig(code_lifetime_s=0)) as mock:
        v = secrets.token_urlsafe(64)
        code = mock.mint_code(verifier=v, redirect_uri=mock.url + HOSTED, state="s")
        status, err = await token(
            http,
            mock,
            {
                "code": code,
                "state": "s",
                "grant_type": "authorization_code",
                "client_id": CLIENT_ID,
                "redirect_uri": mock.url + HOSTED,
                "code_verifier": v,
            },
        )
        assert (status, err["error"]) == (400, "invalid_grant")


# -- refresh_token --


async def test_refresh_rotation_and_reuse_revokes_family(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    first = await login(http, mock)
    grant = {"grant_type": "refresh_token", "client_id": CLIENT_ID}
    status, second = await token(http, mock, {**grant, "refresh_token": first["refresh_token"]})
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    assert mock.access_valid(first["access_token"])  # old access tokens live on until they expire
    status, err = await token(http, mock, {**grant, "refresh_token": first["refresh_token"]})
    assert (status, err) == (
        400,
        {"error": "invalid_grant", "error_description": "Refresh token not found or invalid"},
    )
    # strict mode: the replay killed the whole family, including the newest tokens
    assert not mock.refresh_valid(second["refresh_token"]) and not mock.access_valid(second["access_token"])
    assert mock.refresh_calls == 2 and mock.refresh_successes == 1


async def test_refresh_lenient_reuse_and_form(http: aiohttp.ClientSession) -> None:
    async with MockOAuthServer(MockConfig(strict_reuse=False)) as mock:
        fam = mock.issue_tokens()
        async with http.post(
            f"{mock.url}/v1/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": fam["refresh_token"],
                "client_id": CLIENT_ID,
            },
        ) as resp:
            assert resp.status == 200
            new = await resp.json()
        status, _ = await token(
            http,
            mock,
            {"grant_type": "refresh_token", "refresh_token": fam["refresh_token"], "client_id": CLIENT_ID},
        )
        assert status == 400 and mock.refresh_valid(new["refresh_token"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"scope": "user:inference"}, "invalid_scope"),
        ({"refresh_token": ""}, "Invalid request format"),
        ({"refresh_token": "sk-ant-ort01-unknown"}, "Refresh token not found or invalid"),
    ],
)
async def test_refresh_errors(
    mock: MockOAuthServer, http: aiohttp.ClientSession, body: dict[str, str], expected: str
) -> None:
    fam = mock.issue_tokens()
    status, err = await token(
        http,
        mock,
        {
            "grant_type": "refresh_token",
            "refresh_token": fam["refresh_token"],
            "client_id": CLIENT_ID,
            **body,
        },
    )
    assert status == 400 and expected in str(err)


async def test_refresh_token_lifetime(http: aiohttp.ClientSession) -> None:
    async with MockOAuthServer(MockConfig(refresh_lifetime_s=0)) as mock:
        fam = mock.issue_tokens()
        _, err = await token(
            http,
            mock,
            {"grant_type": "refresh_token", "refresh_token": fam["refresh_token"], "client_id": CLIENT_ID},
        )
        assert err["error_description"] == "Refresh token expired"


async def test_refresh_delay_forces_a_race(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    mock.config.refresh_delay_s = 0.1
    fam = mock.issue_tokens()
    body = {"grant_type": "refresh_token", "refresh_token": fam["refresh_token"], "client_id": CLIENT_ID}
    results = await asyncio.gather(token(http, mock, body), token(http, mock, body))
    assert sorted(s for s, _ in results) == [200, 400]
    winner = next(b for s, b in results if s == 200)
    assert not mock.refresh_valid(winner["refresh_token"])  # the race revoked everything


@pytest.mark.parametrize(
    ("ua", "status"),
    [("claude-cli/1.0.56 (external, cli)", 404), ("claude-code/2.0", 429), ("", 403), ("axios/1.13.6", 200)],
)
async def test_ua_filter(mock: MockOAuthServer, ua: str, status: int) -> None:
    mock.config.ua_filter = True
    fam = mock.issue_tokens()
    body = {"grant_type": "refresh_token", "refresh_token": fam["refresh_token"], "client_id": CLIENT_ID}
    skip = ["User-Agent"] if not ua else []
    async with aiohttp.ClientSession(skip_auto_headers=skip) as s:
        headers = {"User-Agent": ua} if ua else {}
        async with s.post(f"{mock.url}/v1/oauth/token", json=body, headers=headers) as resp:
            assert resp.status == status


async def test_gone_host(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{mock.url}/gone/v1/oauth/token", json={}) as resp:
        assert resp.status == 404


# -- API key, profile, usage --


async def test_create_api_key_and_profile_scopes(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    full = mock.issue_tokens(scope="org:create_api_key user:profile user:inference")
    narrow = mock.issue_tokens(scope="user:inference")
    url = f"{mock.url}/api/oauth/claude_cli/create_api_key"
    async with http.post(url, headers={"Authorization": f"Bearer {full['access_token']}"}) as r:
        assert r.status == 200 and (await r.json())["raw_key"].startswith("sk-ant-api03-")
    async with http.post(url, headers={"Authorization": f"Bearer {narrow['access_token']}"}) as r:
        assert r.status == 403
    for path in ("/api/oauth/profile", "/api/oauth/usage"):
        async with http.get(mock.url + path, headers={"Authorization": f"Bearer {full['access_token']}"}) as r:
            assert r.status == 200
        async with http.get(mock.url + path, headers={"Authorization": f"Bearer {narrow['access_token']}"}) as r:
            assert r.status == 403
    async with http.get(
        f"{mock.url}/api/oauth/usage", headers={"Authorization": f"Bearer {full['access_token']}"}
    ) as r:
        assert set(await r.json()) >= {"five_hour", "seven_day"}
    async with http.get(
        f"{mock.url}/api/oauth/claude_cli/roles",
        headers={"Authorization": f"Bearer {narrow['access_token']}"},
    ) as r:
        assert r.status == 200


# -- resource server --


async def messages(
    http: aiohttp.ClientSession,
    mock: MockOAuthServer,
    headers: dict[str, str],
    body: Any = None,
) -> tuple[int, Any]:
    async with http.post(f"{mock.url}/v1/messages?beta=true", json=body or MSG_BODY, headers=headers) as resp:
        if resp.content_type == "text/event-stream":
            return resp.status, await resp.text()
        return resp.status, await resp.json(
            content_type=None
        ) if resp.content_type == "application/json" else await resp.text()


async def test_resource_checks(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    fam = mock.issue_tokens()
    bearer = {"Authorization": f"Bearer {fam['access_token']}"}
    status, body = await messages(http, mock, bearer)
    assert (status, body["error"]["message"]) == (401, MSG_BETA)
    status, body = await messages(http, mock, {**bearer, **BETA, "x-api-key": "sk-ant-api03-x"})
    assert status == 401 and body["error"]["type"] == "authentication_error"
    status, body = await messages(http, mock, {"Authorization": "Bearer sk-ant-oat01-nope", **BETA})
    assert (status, body["error"]["message"]) == (401, MSG_UNKNOWN)
    status, body = await messages(http, mock, {**bearer, "anthropic-beta": "claude-code-20250219, oauth-2025-04-20"})
    assert status == 200 and body["type"] == "message" and body["content"][0]["type"] == "text"
    assert body["model"] == "claude-sonnet-4-5" and body["usage"]["output_tokens"] == 1
    mock.expire_access(fam["access_token"])
    status, body = await messages(http, mock, {**bearer, **BETA})
    assert (status, body["error"]["message"]) == (401, MSG_EXPIRED)
    other = mock.issue_tokens()
    mock.revoke_access(other["access_token"])
    status, body = await messages(http, mock, {"Authorization": f"Bearer {other['access_token']}", **BETA})
    assert (status, body["error"]["message"]) == (401, MSG_UNKNOWN)
    async with http.get(
        f"{mock.url}/v1/models",
        headers={"Authorization": f"Bearer {mock.issue_tokens()['access_token']}", **BETA},
    ) as r:
        assert r.status == 200 and (await r.json())["data"][0]["type"] == "model"


async def test_resource_injections_stream_and_policy(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bearer {mock.issue_tokens()['access_token']}", **BETA}
    mock.inject_429 = 1
    status, body = await messages(http, mock, headers)
    assert status == 429 and body["error"]["type"] == "rate_limit_error"
    mock.inject_cloudflare = 1
    status, text = await messages(http, mock, headers)
    assert status == 400 and "cloudflare" in text
    status, text = await messages(http, mock, headers, {**MSG_BODY, "stream": True})
    assert status == 200 and "event: message_start" in text and text.rstrip().endswith('{"type":"message_stop"}')
    mock.config.policy_mode = True
    status, body = await messages(http, mock, headers, {**MSG_BODY, "system": "You are a pirate."})
    assert (status, body["error"]["message"]) == (400, MSG_POLICY)
    system = [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."}]
    status, _ = await messages(http, mock, headers, {**MSG_BODY, "system": system})
    assert status == 200


async def test_recording_and_control_endpoints(mock: MockOAuthServer, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{mock.url}/_mock/issue", json={"scope": "user:inference"}) as r:
        fam = await r.json()
    async with http.post(f"{mock.url}/_mock/config", json={"refresh_delay_s": 0.0, "strict_reuse": False}) as r:
        assert r.status == 200 and mock.config.strict_reuse is False
    async with http.post(f"{mock.url}/_mock/config", json={"nope": 1}) as r:
        assert r.status == 400
    await token(
        http,
        mock,
        {"grant_type": "refresh_token", "refresh_token": fam["refresh_token"], "client_id": CLIENT_ID},
    )
    async with http.post(f"{mock.url}/_mock/revoke", json={"access_token": fam["access_token"]}) as r:
        assert r.status == 200 and not mock.access_valid(fam["access_token"])
    async with http.get(f"{mock.url}/_mock/state") as r:
        state = await r.json()
    assert state["refresh_calls"] == 1 and state["refresh_successes"] == 1
    rec = next(r for r in mock.requests if r.path == "/v1/oauth/token")
    assert rec.method == "POST" and rec.json()["grant_type"] == "refresh_token"
    assert rec.headers["Content-Type"] == "application/json"


async def test_standalone(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.mocks.oauth",
        "--port",
        "0",
        "--access-lifetime",
        "5",
        cwd=str(ROOT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.strip().rsplit(" ", 1)[1]
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/_mock/issue") as r:
                assert (await r.json())["expires_in"] == 5
            async with http.get(f"{url}/_mock/state") as r:
                assert r.status == 200
    finally:
        proc.terminate()
        await proc.wait()
