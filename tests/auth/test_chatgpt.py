"""The ChatGPT (Codex) login: ``ccm login chatgpt`` (loopback and paste), refresh, Codex CLI import with write-back."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from claude_code_mux.auth.chatgpt import ChatGPTLogins, build_authorize_url
from claude_code_mux.auth.chatgpt_claims import account_id_from_token, plan_from_token
from claude_code_mux.auth.codex_credentials import import_codex
from claude_code_mux.auth.store import FileStore, MemoryStore
from claude_code_mux.auth.wiring import make_manager
from claude_code_mux.config.oauth_schema import ChatGPTOAuthSettings, OAuthSettings
from claude_code_mux.errors import AuthenticationFailed
from tests.mocks.chatgpt_oauth import ACCOUNT, MockChatGPTAuth

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def auth() -> AsyncIterator[MockChatGPTAuth]:
    port = free_port()
    async with MockChatGPTAuth(redirect_uris=[f"http://localhost:{port}/auth/callback"]) as server:
        yield server


def settings_for(auth: MockChatGPTAuth) -> OAuthSettings:
    cg = ChatGPTOAuthSettings(
        authorize_url=auth.url + "/oauth/authorize",
        token_url=auth.url + "/oauth/token",
        redirect_uri=auth.redirect_uris[0],
    )
    return OAuthSettings(chatgpt=cg)


def write_config(home: Path, auth: MockChatGPTAuth) -> None:
    home.mkdir(parents=True, exist_ok=True)
    cg = settings_for(auth).chatgpt
    (home / "config.toml").write_text(
        "[oauth.chatgpt]\n"
        f'authorize_url = "{cg.authorize_url}"\ntoken_url = "{cg.token_url}"\nredirect_uri = "{cg.redirect_uri}"\n'
    )


def child_env(tmp_path: Path, home: Path) -> dict[str, str]:
    user = tmp_path / "user"
    user.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CCM_", "CODEX_"))}
    return {
        **base,
        "HOME": str(user),
        "CCM_HOME": str(home),
        "BROWSER": "true",  # "opens" the URL without doing anything; the test plays the browser
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }


async def cli(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "_cli_child.py"),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def read_url(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line, "the CLI exited before printing the URL"
        if line.strip().startswith("http"):
            return line.strip()


async def login_via_cli(tmp_path: Path, home: Path, auth: MockChatGPTAuth, *, paste: bool = False) -> str:
    """Run ``ccm login chatgpt`` in a subprocess and play the browser; returns the CLI's output."""
    write_config(home, auth)
    proc = await cli(child_env(tmp_path, home), "login", "chatgpt", *(["--no-browser"] if paste else []))
    url = await read_url(proc)
    assert url.startswith(auth.url + "/oauth/authorize?")
    async with httpx.AsyncClient() as s:
        r = await s.get(url, headers={"Accept": "application/json"})
        redirect = r.json()["redirect"]
        if paste:
            assert proc.stdin is not None
            proc.stdin.write(redirect.encode() + b"\n")
            await proc.stdin.drain()
        else:
            for _ in range(50):  # the listener is up once the URL is printed; allow for scheduling
                try:
                    r = await s.get(redirect)
                    assert r.status_code == 200, r.text
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode() + out.decode()
    return out.decode()


@pytest.mark.parametrize("paste", [False, True], ids=["loopback", "paste"])
async def test_ccm_login_chatgpt(tmp_path: Path, auth: MockChatGPTAuth, paste: bool) -> None:
    home = tmp_path / "ccm"
    out = await login_via_cli(tmp_path, home, auth, paste=paste)
    assert "Logged in to ChatGPT (plus) as 'chatgpt'" in out
    q = auth.authorize_requests[0]
    assert q["client_id"] == "app_EMoamEEZ73f0CkXaXp7hrann" and q["originator"] == "claude-code-mux"
    assert q["state"] and q["code_challenge_method"] == "S256"
    path = home / "oauth_tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = orjson.loads(path.read_bytes())["chatgpt"]
    assert entry["source"] == "chatgpt" and auth.token_ok(entry["access_token"], ACCOUNT)
    for secret in auth.secrets_issued():
        assert secret not in out


async def test_refresh_is_form_encoded_single_flight_and_rotation_safe(auth: MockChatGPTAuth) -> None:
    async with httpx.AsyncClient() as session:
        manager = make_manager(MemoryStore(), settings_for(auth), lambda: session)
        logins = ChatGPTLogins(manager)
        info = logins.start("chatgpt")
        r = await session.get(info["url"], headers={"Accept": "application/json"})
        redirect = r.json()["redirect"]
        record = await logins.complete(redirect)
        assert account_id_from_token(record.access_token.reveal()) == ACCOUNT
        assert plan_from_token(record.access_token.reveal()) == "plus"
        old = record.access_token.reveal()
        tokens = await asyncio.gather(*(manager.force_refresh("chatgpt", old) for _ in range(8)))
        assert len(set(tokens)) == 1 and tokens[0] != old and auth.refresh_count == 1
        assert auth.token_requests[-1]["grant_type"] == "refresh_token"
        # the rotated-away refresh token is never sent again; a reuse elsewhere kills the login cleanly
        stale = auth._families[0].rotated.copy().pop()
        r = await session.post(
            auth.url + "/oauth/token",
            data={"grant_type": "refresh_token", "client_id": auth.client_id, "refresh_token": stale},
        )
        assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_reused"
        with pytest.raises(AuthenticationFailed, match="expired or was revoked"):
            await manager.force_refresh("chatgpt", tokens[0])


async def test_import_codex_login_with_write_back(tmp_path: Path, auth: MockChatGPTAuth) -> None:
    issued = auth.issue(expires_in=30)  # within the refresh skew: the first use refreshes it
    codex = tmp_path / "codex" / "auth.json"
    codex.parent.mkdir()
    blob = {
        "OPENAI_API_KEY": None,
        "auth_mode": "chatgpt",
        "tokens": {**{k: issued[k] for k in ("id_token", "access_token", "refresh_token")}, "account_id": ACCOUNT},
        "last_refresh": "2026-01-01T00:00:00Z",
    }
    codex.write_bytes(orjson.dumps(blob))
    codex.chmod(0o600)
    store = FileStore(tmp_path / "ccm" / "oauth_tokens.json")
    async with httpx.AsyncClient() as session:
        manager = make_manager(store, settings_for(auth), lambda: session)
        await manager.save_record(await import_codex("chatgpt", codex))
        token = await manager.get_access_token("chatgpt")
    assert token != issued["access_token"] and auth.token_ok(token, ACCOUNT) and auth.refresh_count == 1
    after = orjson.loads(codex.read_bytes())
    assert after["tokens"]["access_token"] == token
    assert after["tokens"]["refresh_token"] != issued["refresh_token"]
    assert after["tokens"]["id_token"] == issued["id_token"] and after["auth_mode"] == "chatgpt"
    assert after["last_refresh"] != "2026-01-01T00:00:00Z"
    assert stat.S_IMODE(codex.stat().st_mode) == 0o600


async def test_codex_rotated_first_is_picked_up_instead_of_reusing(tmp_path: Path, auth: MockChatGPTAuth) -> None:
    issued = auth.issue(expires_in=30)
    codex = tmp_path / "auth.json"
    codex.write_bytes(orjson.dumps({"tokens": {k: issued[k] for k in ("access_token", "refresh_token")}}))
    async with httpx.AsyncClient() as session:
        manager = make_manager(MemoryStore(), settings_for(auth), lambda: session)
        await manager.save_record(await import_codex("chatgpt", codex))
        # the Codex CLI refreshes on its own and rewrites its file
        r = await session.post(
            auth.url + "/oauth/token",
            data={"grant_type": "refresh_token", "client_id": auth.client_id, "refresh_token": issued["refresh_token"]},
        )
        theirs = r.json()
        codex.write_bytes(orjson.dumps({"tokens": {k: theirs[k] for k in ("access_token", "refresh_token")}}))
        token = await manager.get_access_token("chatgpt")
    assert token == theirs["access_token"] and auth.refresh_count == 1  # ours never reused the dead token


def test_authorize_url_has_the_documented_parameters() -> None:
    url = build_authorize_url(ChatGPTOAuthSettings(), challenge="c" * 43, state="s1")
    assert url.startswith(
        "https://auth.openai.com/oauth/authorize?response_type=code&client_id=app_EMoamEEZ73f0CkXaXp7hrann"
    )
    for part in (
        "redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback",
        "scope=openid+profile+email+offline_access",
        "code_challenge_method=S256",
        "id_token_add_organizations=true",
        "codex_cli_simplified_flow=true",
        "state=s1",
    ):
        assert part in url


def test_env_override_moves_only_the_chatgpt_endpoints() -> None:
    from claude_code_mux.auth.settings import apply_env_overrides

    moved = apply_env_overrides(OAuthSettings(), {"CCM_CHATGPT_OAUTH_BASE_URL": "http://127.0.0.1:9"})
    assert moved.chatgpt.authorize_url == "http://127.0.0.1:9/oauth/authorize"
    assert moved.chatgpt.token_url == "http://127.0.0.1:9/oauth/token"
    assert moved.chatgpt.redirect_uri == "http://localhost:1455/auth/callback"
    assert moved.token_url == OAuthSettings().token_url


def test_status_table_names_chatgpt_and_codex_logins() -> None:
    from claude_code_mux.cli.auth import format_status_table

    row = {"expires_at": "2030-01-01T00:00:00Z", "expires_in_s": 60, "is_expired": False, "needs_refresh": False}
    rows = [{**row, "provider_id": "chatgpt", "source": "chatgpt"}, {**row, "provider_id": "cx", "source": "codex:/p"}]
    lines = format_status_table(rows).splitlines()
    assert lines[1].split()[-1] == "chatgpt" and lines[2].split()[-1] == "codex"
