"""Claude Pro/Max login through the admin API and the device page, then requests served with the Bearer token.

Everything runs against the in-repo mock OAuth + resource server, which checks PKCE, single-use codes, exact
redirect URIs, rotating refresh tokens and the oauth beta header.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.e2e.claude_cli import run_claude
from tests.harness import RouterHandle, model_block, run_router
from tests.mocks.oauth import MockOAuthServer


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def oauth_config(mock: MockOAuthServer, extra: str = "") -> str:
    s = mock.settings()
    return (
        "[server]\n"
        + extra
        + '[router]\ndefault = "main"\nauto_map = true\n'
        + "[oauth]\n"
        + f'client_id = "{s.client_id}"\n'
        + f'authorize_url_max = "{s.authorize_url_max}"\n'
        + f'authorize_url_console = "{s.authorize_url_console}"\n'
        + f'token_url = "{s.token_url}"\n'
        + "token_url_fallbacks = []\n"
        + f'redirect_uri = "{s.redirect_uri}"\n'
        + f'create_api_key_url = "{s.create_api_key_url}"\n'
        + '[[providers]]\nname = "claude-max"\nprovider_type = "anthropic"\nauth_type = "oauth"\n'
        + f'oauth_provider = "claude-max"\nbase_url = "{mock.url}"\n'
        + model_block("main", [("claude-max", "claude-sonnet-4-5")])
    )


async def login_via_api(router: RouterHandle, http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.post(router.url + "/api/oauth/authorize", json={"oauth_type": "max", "provider_id": "claude-max"})
    assert r.status_code == 200, r.text
    info = r.json()
    assert set(info) == {"url", "state", "instructions"}
    shown = (await http.get(info["url"], headers={"accept": "application/json"})).json()["code"]
    r = await http.post(router.url + "/api/oauth/exchange", json={"code": shown, "state": info["state"]})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_login_via_admin_api_then_bearer_requests(tmp_path: Path) -> None:
    async with MockOAuthServer() as mock, run_router(oauth_config(mock), tmp_path) as router:
        seen: list[str] = []
        async with httpx.AsyncClient(timeout=20) as http:
            # Before login: a clear 401 naming the command to run.
            r = await http.post(
                router.url + "/v1/messages",
                json={"model": "main", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 401 and "ccm login claude-max" in r.json()["error"]["message"]
            done = await login_via_api(router, http)
            seen.append(str(done))
            assert done["provider_id"] == "claude-max"
            toks = await http.get(router.url + "/api/oauth/tokens")
            seen.append(toks.text)
            row = next(t for t in toks.json() if t["provider_id"] == "claude-max")
            assert row["is_expired"] is False and row["needs_refresh"] is False
            assert (tmp_path / "oauth_tokens.json").stat().st_mode & 0o777 == 0o600

        client = anthropic.AsyncAnthropic(
            base_url=router.url,
            api_key="whatever",
            max_retries=0,
            default_headers={"anthropic-beta": "claude-code-20250219"},
        )
        msg = await client.messages.create(model="main", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        assert msg.content[0].text == "ok"  # type: ignore[union-attr]
        req = [q for q in mock.requests if q.path == "/v1/messages"][-1]
        hdrs = lower(req.headers)
        assert hdrs["authorization"].startswith("Bearer ")
        assert "x-api-key" not in hdrs
        betas = hdrs["anthropic-beta"].split(",")
        assert betas == ["claude-code-20250219", "oauth-2025-04-20"]
        token1 = hdrs["authorization"][7:]

        # A revoked access token: one forced refresh and one retry, invisible to the client.
        mock.revoke_access(token1)
        msg = await client.messages.create(model="main", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        assert msg.content[0].text == "ok"  # type: ignore[union-attr]
        holder = router.server.holder
        assert holder is not None
        assert getattr(holder.current.tokens, "refresh_count", None) == 1
        token2 = lower([q for q in mock.requests if q.path == "/v1/messages"][-1].headers)["authorization"][7:]
        assert token2 != token1

        # A revoked login: a clear 401, no refresh loop.
        mock.revoke_family_of(token2)
        calls_before = len(mock.requests)
        with pytest.raises(anthropic.AuthenticationError) as info:
            await client.messages.create(model="main", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        assert "ccm login" in str(info.value)
        assert len(mock.requests) - calls_before <= 3
        log = router.log_text()
        for secret in mock.secrets_issued():
            assert secret not in log
            for text in seen:
                assert secret not in text


async def test_exchange_with_the_documented_body_honours_provider_id(tmp_path: Path) -> None:
    """Issue 14 item 8: the original's ``POST /api/oauth/exchange {code, verifier, provider_id}`` stores the login
    under ``provider_id`` (not the id given at authorize), ignores ``verifier`` (ours stays on the server) and
    answers the documented shape; the documented ``oauth_provider = "anthropic-max"`` then serves requests."""
    async with MockOAuthServer() as mock:
        config = oauth_config(mock).replace('oauth_provider = "claude-max"', 'oauth_provider = "anthropic-max"')
        async with run_router(config, tmp_path) as router, httpx.AsyncClient(timeout=20) as http:
            r = await http.post(router.url + "/api/oauth/authorize", json={"oauth_type": "max"})
            assert r.status_code == 200, r.text
            shown = (await http.get(r.json()["url"], headers={"accept": "application/json"})).json()["code"]
            body = {"code": shown, "verifier": "verifier-from-step-2", "provider_id": "anthropic-max"}
            r = await http.post(router.url + "/api/oauth/exchange", json=body)
            assert r.status_code == 200, r.text
            done = r.json()
            assert set(done) == {"success", "message", "provider_id", "expires_at"}
            assert done["success"] is True and done["provider_id"] == "anthropic-max"
            assert done["expires_at"].endswith("+00:00")
            assert datetime.fromisoformat(done["expires_at"]) > datetime.now(UTC)
            ids = [t["provider_id"] for t in (await http.get(router.url + "/api/oauth/tokens")).json()]
            assert ids == ["anthropic-max"]
            r = await http.post(
                router.url + "/v1/messages",
                json={"model": "main", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 200, r.text
            assert "verifier-from-step-2" not in router.log_text()


async def test_device_login_page_with_signed_cookie(tmp_path: Path) -> None:
    async with MockOAuthServer() as mock, run_router(oauth_config(mock), tmp_path) as router:
        async with httpx.AsyncClient(timeout=20) as http:
            page = await http.get(router.url + "/auth/device")
            assert page.status_code == 200 and "Start authorization" in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
            # Submitting without starting in this browser is refused.
            r = await http.post(router.url + "/auth/device/submit", json={"code": "abc#def"})
            assert r.status_code == 400 and "Start authorization" in r.json()["error"]["message"]
            r = await http.post(router.url + "/auth/device/start", json={"provider_id": "claude-max"})
            assert r.status_code == 200
            set_cookie = r.headers["set-cookie"]
            assert "HttpOnly" in set_cookie and "samesite=strict" in set_cookie.lower()  # attribute values: any case
            assert "state" not in r.json()  # the browser only gets the URL
            shown = (await http.get(r.json()["url"], headers={"accept": "application/json"})).json()["code"]
            # A tampered cookie is refused.
            good = http.cookies.get("ccm_device_session")
            assert good
            async with httpx.AsyncClient(
                timeout=20, cookies={"ccm_device_session": good[:-1] + ("1" if good.endswith("0") else "0")}
            ) as other:
                r = await other.post(router.url + "/auth/device/submit", json={"code": shown})
                assert r.status_code == 400
            r = await http.post(router.url + "/auth/device/submit", json={"code": shown})
            assert r.status_code == 200, r.text
            st = (await http.get(router.url + "/auth/status")).json()
            assert [s["provider_id"] for s in st] == ["claude-max"]
            r = await http.post(router.url + "/auth/refresh", json={"provider_id": "claude-max"})
            assert r.status_code == 200
            r = await http.post(router.url + "/auth/logout", json={"provider_id": "claude-max"})
            assert r.json()["success"] is True
            assert (await http.get(router.url + "/auth/status")).json() == []
            # CSRF: a cross-origin state change is refused.
            r = await http.post(router.url + "/auth/device/start", json={}, headers={"origin": "http://evil.example"})
            assert r.status_code == 403


@pytest.mark.e2e
async def test_claude_code_through_an_oauth_provider(tmp_path: Path) -> None:
    async with MockOAuthServer() as mock, run_router(oauth_config(mock), tmp_path) as router:
        async with httpx.AsyncClient(timeout=20) as http:
            await login_via_api(router, http)
        res = await run_claude(router.url, "Reply with exactly: ok", model="main")
        assert res.ok, res.stdout + res.stderr
        assert res.text.strip().lower().startswith("ok")
        reqs = [q for q in mock.requests if q.path == "/v1/messages"]
        assert reqs and all(lower(q.headers)["authorization"].startswith("Bearer ") for q in reqs)
        assert all("oauth-2025-04-20" in lower(q.headers)["anthropic-beta"] for q in reqs)
        # Claude Code's own key never reached the subscription endpoint.
        assert all("sk-test-key" not in str(q.headers) for q in reqs)
