"""ChatGPT and Gemini CLI logins through the admin API of the real server, against the in-repo mocks.

The test plays the browser: it follows the authorize URL to the mock, then either lets the redirect reach the
server's loopback listener (the login completes by itself) or pastes the address the browser ended on. Also:
the Codex CLI import, refresh routed to each login's own token endpoint, count_tokens answered exactly by
Gemini's countTokens, and creating Gemini / Responses providers with their secrets masked.
"""

from __future__ import annotations

import asyncio
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from claude_code_mux.auth.chatgpt import NOTICE as CHATGPT_NOTICE
from claude_code_mux.auth.gemini_cli import BASE_URL_ENV, CODE_ASSIST_ENV
from claude_code_mux.cli.gemini_login import NOTICE as GEMINI_NOTICE
from tests.harness import RouterHandle, anthropic_provider, model_block, run_router
from tests.mocks.chatgpt_oauth import ACCOUNT, MockChatGPTAuth
from tests.mocks.gemini import MockGemini

MODEL = "gemini-2.5-pro"
BASE = (
    '[router]\ndefault = "main"\n' + anthropic_provider("up", "http://127.0.0.1:9") + model_block("main", [("up", "m")])
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def chatgpt() -> AsyncIterator[MockChatGPTAuth]:
    async with MockChatGPTAuth(redirect_uris=[f"http://localhost:{free_port()}/auth/callback"]) as auth:
        yield auth


def chatgpt_config(auth: MockChatGPTAuth) -> str:
    return (
        BASE + "[oauth.chatgpt]\n"
        f'authorize_url = "{auth.url}/oauth/authorize"\ntoken_url = "{auth.url}/oauth/token"\n'
        f'redirect_uri = "{auth.redirect_uris[0]}"\n'
    )


def gemini_config(mock: MockGemini, callback_port: int) -> str:
    return (
        f"[oauth]\ncallback_ports = [{callback_port}, {callback_port}]\n"
        '[router]\ndefault = "main"\n'
        f'[[providers]]\nname = "g"\nprovider_type = "gemini-cli"\nbase_url = "{mock.url}"\n'
        'auth_type = "oauth"\noauth_provider = "gemini"\n'
        f'[[providers]]\nname = "g2"\nprovider_type = "gemini-cli"\nbase_url = "{mock.url}"\n'
        'auth_type = "oauth"\noauth_provider = "gemini-2"\nproject = "ca-project-1"\n'
        + model_block("main", [("g", MODEL)])
    )


async def authorize(http: httpx.AsyncClient, router: RouterHandle, **body: Any) -> dict[str, Any]:
    r = await http.post(router.url + "/api/oauth/authorize", json=body)
    assert r.status_code == 200, r.text
    info = dict(r.json())
    assert {"url", "state", "instructions", "notice", "listening", "redirect_uri"} <= set(info)
    return info


async def browser_redirect(http: httpx.AsyncClient, url: str) -> str:
    """Where the provider's authorize page sends the browser (the mocks approve at once)."""
    r = await http.get(url, follow_redirects=False)
    assert r.status_code == 302, r.text
    return str(r.headers["location"])


async def wait_done(http: httpx.AsyncClient, router: RouterHandle, state: str) -> dict[str, Any]:
    for _ in range(60):  # the admin API allows 2 requests/s sustained
        r = await http.get(router.url + "/api/oauth/status", params={"state": state})
        assert r.status_code == 200, r.text
        if r.json()["status"] != "pending":
            return dict(r.json())
        await asyncio.sleep(0.5)
    raise AssertionError("the login did not complete")


async def token_row(http: httpx.AsyncClient, router: RouterHandle, pid: str) -> dict[str, Any]:
    rows = (await http.get(router.url + "/api/oauth/tokens")).json()
    return dict(next(t for t in rows if t["provider_id"] == pid))


def port_free(port: int) -> bool:
    """Nobody listens on ``port`` (SO_REUSEADDR: closed connections in TIME_WAIT do not count, as for servers)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_chatgpt_login_by_loopback_then_refresh(tmp_path: Path, chatgpt: MockChatGPTAuth) -> None:
    port = int(chatgpt.redirect_uris[0].split(":")[2].split("/")[0])
    async with run_router(chatgpt_config(chatgpt), tmp_path) as router, httpx.AsyncClient(timeout=20) as http:
        info = await authorize(http, router, provider="chatgpt", provider_id="chatgpt")
        assert info["listening"] is True and info["notice"] == CHATGPT_NOTICE
        assert info["redirect_uri"] == chatgpt.redirect_uris[0] and not port_free(port)
        assert "code_challenge=" in info["url"] and "verifier" not in info["url"]
        # The browser comes back to this machine: the listener completes the login by itself.
        page = await http.get(await browser_redirect_json(http, info["url"]))
        assert page.status_code == 200 and "Login complete" in page.text
        done = await wait_done(http, router, info["state"])
        assert done == {"status": "done", "provider_id": "chatgpt"}
        row = await token_row(http, router, "chatgpt")
        assert row["kind"] == "chatgpt" and row["source"] == "chatgpt" and row["is_expired"] is False
        for _ in range(50):  # the one-shot listener lets go of the port
            if port_free(port):
                break
            await asyncio.sleep(0.1)
        assert port_free(port)
        # Refresh goes to OpenAI's (the mock's) form-encoded endpoint, not Claude's.
        r = await http.post(router.url + "/api/oauth/tokens/refresh", json={"provider_id": "chatgpt"})
        assert r.status_code == 200, r.text
        assert chatgpt.refresh_count == 1 and r.json()["status"]["source"] == "chatgpt"
        seen = (await http.get(router.url + "/api/oauth/tokens")).text + r.text + str(done)
        assert (tmp_path / "oauth_tokens.json").stat().st_mode & 0o777 == 0o600
    for secret in chatgpt.secrets_issued():
        assert secret not in seen and secret not in router.log_text()


async def browser_redirect_json(http: httpx.AsyncClient, url: str) -> str:
    """The ChatGPT mock tells a JSON client where it would redirect the browser."""
    r = await http.get(url, headers={"accept": "application/json"})
    assert r.status_code == 200, r.text
    return str(r.json()["redirect"])


async def test_chatgpt_login_by_paste_when_the_port_is_taken(tmp_path: Path, chatgpt: MockChatGPTAuth) -> None:
    port = int(chatgpt.redirect_uris[0].split(":")[2].split("/")[0])
    async with run_router(chatgpt_config(chatgpt), tmp_path) as router, httpx.AsyncClient(timeout=20) as http:
        with socket.create_server(("127.0.0.1", port)):  # say, the Codex CLI is logging in
            info = await authorize(http, router, provider="chatgpt", provider_id="chatgpt-work")
            assert info["listening"] is False and "paste" in info["instructions"]
            landed = await browser_redirect_json(http, info["url"])
        r = await http.post(router.url + "/api/oauth/exchange", json={"state": info["state"], "code": landed})
        assert r.status_code == 200, r.text
        assert r.json()["provider_id"] == "chatgpt-work" and r.json()["source"] == "chatgpt"
        assert (await wait_done(http, router, info["state"]))["status"] == "done"
        # The same paste again: the attempt is spent.
        r = await http.post(router.url + "/api/oauth/exchange", json={"state": info["state"], "code": landed})
        assert r.status_code == 400 and "start the login again" in r.json()["error"]["message"]

        # Listening, but the browser runs elsewhere: the pasted address (state inside) completes it and the
        # listener lets go of the port.
        info = await authorize(http, router, provider_id="chatgpt")  # the id alone picks the ChatGPT login
        assert info["listening"] is True and not port_free(port)
        landed = await browser_redirect_json(http, info["url"])
        r = await http.post(router.url + "/api/oauth/exchange", json={"code": landed})
        assert r.status_code == 200, r.text
        assert port_free(port)
        rows = (await http.get(router.url + "/api/oauth/tokens")).json()
        assert {(t["provider_id"], t["kind"]) for t in rows} == {("chatgpt-work", "chatgpt"), ("chatgpt", "chatgpt")}
        assert chatgpt.token_requests and all(
            q.get("redirect_uri") == chatgpt.redirect_uris[0] for q in chatgpt.token_requests
        )


async def test_import_codex_login(tmp_path: Path, chatgpt: MockChatGPTAuth) -> None:
    issued = chatgpt.issue()
    codex = tmp_path / "codex" / "auth.json"
    codex.parent.mkdir()
    tokens = {**{k: issued[k] for k in ("id_token", "access_token", "refresh_token")}, "account_id": ACCOUNT}
    codex.write_bytes(orjson.dumps({"OPENAI_API_KEY": None, "tokens": tokens, "last_refresh": "2026-01-01T00:00:00Z"}))
    codex.chmod(0o600)
    home = tmp_path / "home"
    async with run_router(chatgpt_config(chatgpt), home) as router, httpx.AsyncClient(timeout=20) as http:
        r = await http.post(router.url + "/api/oauth/import-codex", json={"provider_id": "codex", "path": str(codex)})
        assert r.status_code == 200, r.text
        assert r.json()["source"] == f"codex:{codex}"
        row = await token_row(http, router, "codex")
        assert row["kind"] == "chatgpt" and row["source"] == f"codex:{codex}" and row["is_expired"] is False
        r = await http.post(router.url + "/api/oauth/import-codex", json={"path": str(tmp_path / "none.json")})
        assert r.status_code == 400 and r.json()["type"] == "error"
        assert "no Codex CLI login" in r.json()["error"]["message"]
        for special in ("/dev/zero", str(tmp_path)):  # never read without bound, nor a directory
            r = await http.post(router.url + "/api/oauth/import-codex", json={"path": special})
            assert r.status_code == 400 and "not a Codex CLI login file" in r.json()["error"]["message"]
        codex.write_text('{"OPENAI_API_KEY": "sk-only-a-key"}')
        r = await http.post(router.url + "/api/oauth/import-codex", json={"path": str(codex)})
        assert r.status_code == 400 and "sk-only-a-key" not in r.text
        seen = (await http.get(router.url + "/api/oauth/tokens")).text
    assert issued["access_token"] not in seen and issued["refresh_token"] not in router.log_text()
    assert stat.S_IMODE((home / "oauth_tokens.json").stat().st_mode) == 0o600


async def test_gemini_login_with_project_discovery_then_exact_count_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with MockGemini(name="g", onboarded=False) as mock:
        monkeypatch.setenv(BASE_URL_ENV, mock.url)  # Google's OAuth endpoints; Code Assist is the provider's base_url
        monkeypatch.delenv(CODE_ASSIST_ENV, raising=False)
        cb = free_port()
        async with run_router(gemini_config(mock, cb), tmp_path) as router, httpx.AsyncClient(timeout=30) as http:
            # Before the login: count_tokens still answers, by the estimate.
            body = {"model": "main", "max_tokens": 5, "messages": [{"role": "user", "content": "count me " * 50}]}
            r = await http.post(router.url + "/v1/messages/count_tokens", json=body)
            assert r.status_code == 200 and r.headers["x-ccm-count"] == "estimate"

            info = await authorize(http, router, provider="gemini")
            assert info["notice"] == GEMINI_NOTICE and info["listening"] is True
            assert info["redirect_uri"] == f"http://localhost:{cb}/callback"
            page = await http.get(await browser_redirect(http, info["url"]))
            assert page.status_code == 200, page.text
            done = await wait_done(http, router, info["state"])
            assert done == {"status": "done", "provider_id": "gemini"}, done
            row = await token_row(http, router, "gemini")
            assert row["kind"] == "gemini-cli" and row["source"] == "gemini-cli"
            assert row["project_id"] == mock.code_assist_project  # discovered by onboarding
            assert [r.path for r in mock.requests if "v1internal" in r.path] == [
                "/v1internal:loadCodeAssist",
                "/v1internal:onboardUser",
                "/v1internal:onboardUser",
            ]
            assert mock.token_grants == ["authorization_code"]

            # count_tokens through the Gemini route: Code Assist's countTokens, exact.
            r = await http.post(router.url + "/v1/messages/count_tokens", json=body)
            assert r.status_code == 200, r.text
            assert r.headers["x-ccm-count"] == "exact" and r.json()["input_tokens"] > 50
            assert any(r.path == "/v1internal:countTokens" for r in mock.requests)

            # The refresh action goes to Google's token endpoint (with the public client secret).
            r = await http.post(router.url + "/api/oauth/tokens/refresh", json={"provider_id": "gemini"})
            assert r.status_code == 200, r.text
            assert mock.token_grants == ["authorization_code", "refresh_token"]
            assert r.json()["status"]["project_id"] == mock.code_assist_project

            # A second login by paste (Google's page did not load on this machine), with a given project.
            info = await authorize(http, router, provider="gemini-cli", provider_id="gemini-2")
            landed = await browser_redirect(http, info["url"])
            r = await http.post(router.url + "/api/oauth/exchange", json={"state": info["state"], "code": landed})
            assert r.status_code == 200, r.text
            assert r.json()["source"] == "gemini-cli" and r.json()["project_id"] == mock.code_assist_project
            load = [q for q in mock.requests if q.path == "/v1internal:loadCodeAssist"][-1]
            assert load.json["cloudaicompanionProject"] == "ca-project-1"  # g2's configured project
            seen = (await http.get(router.url + "/api/oauth/tokens")).text + str(done) + r.text
        for token in [*mock.access_tokens, *mock.refresh_tokens]:
            assert token not in seen and token not in router.log_text()


async def test_gemini_exchange_with_a_wrong_code_is_a_clean_400(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with MockGemini(name="g") as mock:
        monkeypatch.setenv(BASE_URL_ENV, mock.url)
        monkeypatch.setenv(CODE_ASSIST_ENV, mock.url)
        async with (
            run_router(gemini_config(mock, free_port()), tmp_path) as router,
            httpx.AsyncClient(timeout=30) as http,
        ):
            info = await authorize(http, router, provider="gemini")
            bogus = f"{info['redirect_uri']}?code=4/not-issued&state={info['state']}"
            r = await http.post(router.url + "/api/oauth/exchange", json={"state": info["state"], "code": bogus})
            assert r.status_code == 400 and r.json()["type"] == "error", r.text
            assert "Malformed auth code" in r.json()["error"]["message"]
            assert (await wait_done(http, router, info["state"]))["status"] == "failed"
            r = await http.get(router.url + "/api/oauth/status", params={"state": "x" * 600})
            assert r.status_code == 400
            # A new start replaces the listener; one still pending when the server stops is closed with it.
            info = await authorize(http, router, provider="gemini")
            port = int(info["redirect_uri"].split(":")[2].split("/")[0])
            assert info["listening"] is True and not port_free(port)
        assert port_free(port)


async def test_create_gemini_and_responses_providers_with_masked_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESP_KEY_TWO", "sk-resp-two-222")
    async with run_router(BASE, tmp_path) as router, httpx.AsyncClient(base_url="", timeout=20) as http:
        url = router.url
        r = await http.post(
            url + "/api/providers",
            json={
                "name": "vx",
                "provider_type": "vertex-ai",
                "dialect": "gemini",
                "project": "my-project",
                "location": "global",
                "credentials_file": str(tmp_path / "sa.json"),
                "safety_settings": {"HARM_CATEGORY_HARASSMENT": "BLOCK_ONLY_HIGH"},
                "proxy": "http://user:proxy-pass-1@127.0.0.1:3128",
            },
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            url + "/api/providers",
            json={
                "name": "resp",
                "provider_type": "openai-responses",
                "dialect": "openai-responses",
                "api_keys": ["sk-resp-one-111", "$RESP_KEY_TWO"],
                "strategy": "round_robin",
                "weights": [2, 1],
            },
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            url + "/api/providers",
            json={"name": "gpt", "provider_type": "chatgpt", "auth_type": "oauth", "oauth_accounts": ["chatgpt"]},
        )
        assert r.status_code == 201, r.text
        view = (await http.get(url + "/api/config")).json()
        provs = {p["name"]: p for p in view["config"]["providers"]}
        assert provs["vx"]["proxy"] == "********" and provs["vx"]["project"] == "my-project"
        assert provs["vx"]["safety_settings"] == {"HARM_CATEGORY_HARASSMENT": "BLOCK_ONLY_HIGH"}
        assert provs["resp"]["api_keys"] == ["********", "$RESP_KEY_TWO"] and provs["resp"]["strategy"] == "round_robin"
        assert provs["gpt"]["oauth_accounts"] == ["chatgpt"]
        text = router.config_path.read_text()
        assert "proxy-pass-1" in text and "sk-resp-one-111" in text
        # "********" keeps what the file has, per secret and per position.
        r = await http.put(
            url + "/api/providers/resp", json={"api_keys": ["********", "sk-resp-new-333"], "weights": [1, 1]}
        )
        assert r.status_code == 200, r.text
        r = await http.put(url + "/api/providers/vx", json={"proxy": "********", "location": "europe-west4"})
        assert r.status_code == 200, r.text
        text = router.config_path.read_text()
        assert "sk-resp-one-111" in text and "sk-resp-new-333" in text and "$RESP_KEY_TWO" not in text
        assert "proxy-pass-1" in text and "europe-west4" in text
        # Bad values name the field; secrets are never echoed.
        for name, body, field in [
            ("vx", {"dialect": "bedrock"}, "dialect"),
            ("vx", {"safety_settings": {"x": "y"}}, "safety_settings"),
            ("vx", {"proxy": "socks5://a:b@h:1"}, "proxy"),
            ("resp", {"api_keys": ["********", "********", "********"]}, "api_keys"),
            ("resp", {"weights": [1]}, "weights"),
        ]:
            r = await http.put(url + f"/api/providers/{name}", json=body)
            assert r.status_code == 400, (body, r.text)
            assert field in r.json()["error"]["message"] and "a:b" not in r.text
        everything = (await http.get(url + "/api/config")).text + (await http.get(url + "/api/status")).text
        assert "proxy-pass-1" not in everything and "sk-resp-one-111" not in everything
        assert "sk-resp-new-333" not in everything


async def test_notices_and_login_kinds(tmp_path: Path) -> None:
    async with run_router(BASE, tmp_path) as router:
        async with httpx.AsyncClient(timeout=20) as http:
            n = (await http.get(router.url + "/api/oauth/notices")).json()
            assert n["chatgpt"] == CHATGPT_NOTICE and n["gemini"] == GEMINI_NOTICE and "terms" in n["claude"]
            r = await http.post(router.url + "/api/oauth/authorize", json={"provider": "bard"})
            assert r.status_code == 400 and r.json()["error"]["message"].startswith("provider:")
            r = await http.post(router.url + "/api/oauth/import-codex", json={"provider_id": "../x"})
            assert r.status_code == 400 and r.json()["error"]["message"].startswith("provider_id:")
