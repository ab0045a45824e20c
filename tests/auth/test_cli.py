"""``ccm login / logout / tokens / tokens refresh`` end to end, in a real subprocess, against the mock."""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import FileStore, TokenRecord
from claude_code_mux.cli.auth import add_commands, format_status_table
from tests.auth._cli_child import parse
from tests.mocks.oauth import MockOAuthServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@dataclass
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "ccm"


@pytest.fixture
def env(tmp_path: Path, home: Path) -> dict[str, str]:
    userhome = tmp_path / "user"
    userhome.mkdir()
    base = {k: v for k, v in os.environ.items() if k not in ("CLAUDE_CONFIG_DIR", "CCM_OAUTH_BASE_URL", "BROWSER")}
    return {
        **base,
        "HOME": str(userhome),
        "CCM_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }


def write_config(home: Path, mock: MockOAuthServer) -> None:
    s = mock.settings()
    home.mkdir(parents=True, exist_ok=True)
    lines = ["[server]", "port = 13456", "", "[oauth]"]
    for key in (
        "authorize_url_max",
        "authorize_url_console",
        "token_url",
        "redirect_uri",
        "create_api_key_url",
    ):
        lines.append(f'{key} = "{getattr(s, key)}"')
    lines.append("token_url_fallbacks = []")
    (home / "config.toml").write_text("\n".join(lines) + "\n")


async def start(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "_cli_child.py"),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def run_subprocess(env: dict[str, str], *args: str, stdin: bytes = b"") -> Result:
    proc = await start(env, *args)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


@pytest.fixture
def run(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Awaitable[Result]]:
    """Run a command in this process (in a thread, as it calls asyncio.run), with the test's environment."""
    for key in ("CLAUDE_CONFIG_DIR", "CCM_OAUTH_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key in ("HOME", "CCM_HOME"):
        monkeypatch.setenv(key, env[key])

    async def go(*argv: str, extra_env: dict[str, str] | None = None) -> Result:
        for key, value in (extra_env or {}).items():
            monkeypatch.setenv(key, value)
        args = parse(list(argv))
        rc = await asyncio.to_thread(args.func, args)
        captured = capsys.readouterr()
        return Result(rc, captured.out, captured.err)

    return go


async def seed(home: Path, mock: MockOAuthServer, pid: str = "claude-max", expires_in: float = 3600) -> TokenRecord:
    family = mock.issue_tokens()
    rec = TokenRecord(
        provider_id=pid,
        access_token=Secret(family["access_token"]),
        refresh_token=Secret(family["refresh_token"]),
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
    )
    await FileStore(home / "oauth_tokens.json").put(rec)
    return rec


def assert_no_secrets(mock: MockOAuthServer, *texts: str) -> None:
    for secret in mock.secrets_issued():
        for text in texts:
            assert secret not in text


def test_parser_shape() -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=Path("/h"))
    parser = argparse.ArgumentParser(prog="ccm")
    add_commands(parser.add_subparsers(dest="command"), common)
    a = parser.parse_args(["login"])
    assert (a.provider_id, a.mode, a.no_browser, a.import_claude_code, a.home) == (
        "claude-max",
        "max",
        False,
        None,
        Path("/h"),
    )
    a = parser.parse_args(["login", "work", "--mode", "console", "--no-browser", "--home", "/x"])
    assert (a.provider_id, a.mode, a.no_browser, a.home) == ("work", "console", True, Path("/x"))
    a = parser.parse_args(["login", "--import-claude-code"])
    assert a.import_claude_code is not None
    a = parser.parse_args(["login", "w", "--import-claude-code", "/p/creds.json"])
    assert a.import_claude_code == "/p/creds.json"
    assert parser.parse_args(["logout"]).provider_id == "claude-max"
    assert parser.parse_args(["tokens"]).func.__name__ == "cmd_tokens"
    a = parser.parse_args(["tokens", "refresh", "work"])
    assert a.func.__name__ == "cmd_tokens_refresh" and a.provider_id == "work"


def test_status_table() -> None:
    rows = [
        {
            "provider_id": "a",
            "expires_at": "2030-01-01T00:00:00Z",
            "expires_in_s": 7260,
            "is_expired": False,
            "needs_refresh": False,
            "has_api_key": True,
            "source": None,
        },
        {
            "provider_id": "bb",
            "expires_at": "2020-01-01T00:00:00Z",
            "expires_in_s": -30,
            "is_expired": True,
            "needs_refresh": True,
            "has_api_key": False,
            "source": "claude-code:/x",
        },
    ]
    table = format_status_table(rows).splitlines()
    assert table[0].split() == ["PROVIDER", "EXPIRES", "AT", "(UTC)", "EXPIRES", "IN", "STATUS", "SOURCE"]
    assert table[1].split() == ["a", "2030-01-01T00:00:00Z", "2h01m", "valid", "ccm", "+api-key"]
    assert table[2].split() == ["bb", "2020-01-01T00:00:00Z", "-0m30s", "expired", "claude-code"]


async def test_login_paste_flow(
    mock: MockOAuthServer, home: Path, env: dict[str, str], session: httpx.AsyncClient
) -> None:
    write_config(home, mock)
    proc = await start(env, "login", "--no-browser")
    assert proc.stdout is not None and proc.stdin is not None
    url = ""
    while not url:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line, "CLI exited before printing the URL"
        if line.strip().startswith("http"):
            url = line.strip()
    resp = await session.get(url, headers={"Accept": "application/json"})
    shown = (resp.json())["code"]
    proc.stdin.write(f"{shown}\n".encode())
    await proc.stdin.drain()
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert "Logged in as 'claude-max'" in out.decode()
    data = orjson.loads((home / "oauth_tokens.json").read_bytes())
    assert mock.access_valid(data["claude-max"]["access_token"])
    assert stat.S_IMODE((home / "oauth_tokens.json").stat().st_mode) == 0o600
    assert_no_secrets(mock, out.decode(), err.decode())


async def test_login_loopback_flow(mock: MockOAuthServer, home: Path, env: dict[str, str], tmp_path: Path) -> None:
    write_config(home, mock)
    browser = tmp_path / "fake-browser"
    browser.write_text(
        f"#!{sys.executable}\n"
        "import sys, urllib.request\n"
        "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
        "opener.open(sys.argv[1], timeout=10).read()\n"
    )
    browser.chmod(0o755)
    proc = await start({**env, "BROWSER": str(browser)}, "login", "work")
    out, err = await asyncio.wait_for(proc.communicate(), 30)  # stdin closes at once: only the callback can win
    assert proc.returncode == 0, err.decode()
    assert "Logged in as 'work'" in out.decode()
    redirect = mock.requests[-1].json()["redirect_uri"]
    port = int(redirect.split(":")[2].split("/")[0])
    assert redirect == f"http://localhost:{port}/callback" and 8765 <= port <= 8795
    assert_no_secrets(mock, out.decode(), err.decode())


async def test_tokens_refresh_and_logout(
    mock: MockOAuthServer, home: Path, run: Callable[..., Awaitable[Result]]
) -> None:
    write_config(home, mock)
    r = await run("tokens")
    assert r.rc == 0 and "No OAuth logins" in r.out
    rec = await seed(home, mock)
    await seed(home, mock, "old", expires_in=-60)
    r = await run("tokens")
    assert r.rc == 0
    assert "claude-max" in r.out and "valid" in r.out and "expired" in r.out
    r = await run("tokens", "refresh", "claude-max")
    assert r.rc == 0 and "Refreshed 'claude-max'" in r.out, r.err
    assert mock.refresh_calls == 1
    stored = await FileStore(home / "oauth_tokens.json").get("claude-max")
    assert stored is not None and stored.access_token != rec.access_token
    r = await run("logout")
    assert r.rc == 0 and "Logged out 'claude-max'" in r.out
    r = await run("logout")
    assert r.rc == 1 and "No OAuth login" in r.err
    r = await run("tokens", "refresh", "claude-max")
    assert r.rc == 1 and "run: ccm login claude-max" in r.err
    assert_no_secrets(mock, r.out, r.err)


async def test_env_override_and_dead_login(mock: MockOAuthServer, home: Path, env: dict[str, str]) -> None:
    rec = await seed(home, mock)  # no config file: CCM_OAUTH_BASE_URL points the defaults at the mock
    mock.revoke_refresh(rec.refresh_token.reveal())
    r = await run_subprocess({**env, "CCM_OAUTH_BASE_URL": mock.url}, "tokens", "refresh", "claude-max")
    assert r.rc == 1
    assert "expired or was revoked" in r.err and "run: ccm login claude-max" in r.err
    assert mock.refresh_calls == 1
    assert_no_secrets(mock, r.out, r.err)


async def test_import_claude_code(
    mock: MockOAuthServer,
    home: Path,
    env: dict[str, str],
    tmp_path: Path,
    run: Callable[..., Awaitable[Result]],
) -> None:
    write_config(home, mock)
    family = mock.issue_tokens()
    creds = Path(env["HOME"]) / ".claude" / ".credentials.json"
    creds.parent.mkdir()
    blob = {
        "claudeAiOauth": {
            "accessToken": family["access_token"],
            "refreshToken": family["refresh_token"],
            "expiresAt": int((datetime.now(UTC).timestamp() + 10) * 1000),
            "subscriptionType": "max",
        }
    }
    creds.write_bytes(orjson.dumps(blob))
    creds.chmod(0o600)
    r = await run("login", "--import-claude-code")
    assert r.rc == 0 and "Imported Claude Code's login" in r.out, r.err
    r = await run("tokens")
    assert "claude-code" in r.out and "refresh due" in r.out
    r = await run("tokens", "refresh", "claude-max")
    assert r.rc == 0, r.err
    written = orjson.loads(creds.read_bytes())["claudeAiOauth"]
    assert written["refreshToken"] != family["refresh_token"] and mock.refresh_valid(written["refreshToken"])
    assert written["subscriptionType"] == "max"
    r = await run("login", "x", "--import-claude-code", str(tmp_path / "missing.json"))
    assert r.rc == 1 and "no Claude Code credentials" in r.err
