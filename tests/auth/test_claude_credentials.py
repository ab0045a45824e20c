"""Importing Claude Code's login, writing rotated tokens back, and picking up Claude Code's own rotation."""

from __future__ import annotations

import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from claude_code_mux.auth.claude_credentials import (
    SOURCE_PREFIX,
    ClaudeCodeSync,
    default_credentials_path,
    import_claude_code,
)
from claude_code_mux.auth.store import FileStore
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.errors import OAuthError
from tests.mocks.oauth import MockConfig, MockOAuthServer


def write_creds(path: Path, family: dict[str, Any], *, expires_in_s: float = 3600, mode: int = 0o600) -> dict[str, Any]:
    blob = {
        "claudeAiOauth": {
            "accessToken": family["access_token"],
            "refreshToken": family["refresh_token"],
            "expiresAt": int((time.time() + expires_in_s) * 1000),
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
            "rateLimitTier": "default_claude_max_20x",
        },
        "mcpOAuth": {"server": {"accessToken": "unrelated"}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(blob))
    path.chmod(mode)
    return blob


def test_default_path(tmp_path: Path) -> None:
    assert default_credentials_path({"CLAUDE_CONFIG_DIR": str(tmp_path)}) == tmp_path / ".credentials.json"
    assert default_credentials_path({}).parts[-2:] == (".claude", ".credentials.json")


async def test_import(mock: MockOAuthServer, tmp_path: Path) -> None:
    family = mock.issue_tokens()
    creds = tmp_path / ".claude" / ".credentials.json"
    write_creds(creds, family, expires_in_s=1800)
    rec = await import_claude_code("claude-max", creds)
    assert rec.access_token.reveal() == family["access_token"]
    assert rec.refresh_token.reveal() == family["refresh_token"]
    assert 1790 < rec.expires_in(time.time()) <= 1800
    assert rec.source == f"{SOURCE_PREFIX}{creds}"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no Claude Code credentials"),
        (b"[", "not valid JSON"),
        (b'{"mcpOAuth": {}}', "no 'claudeAiOauth'"),
    ],
)
async def test_import_errors(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / ".credentials.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(OAuthError, match=match):
        await import_claude_code("x", path)


@pytest.mark.parametrize("mode", [0o600, 0o640])
async def test_refresh_writes_back_keeping_other_fields_and_mode(
    mock: MockOAuthServer, tmp_path: Path, session: httpx.AsyncClient, mode: int
) -> None:
    family = mock.issue_tokens()
    creds = tmp_path / ".claude" / ".credentials.json"
    before = write_creds(creds, family, mode=mode)
    store = FileStore(tmp_path / "ccm" / "oauth_tokens.json")
    tm = TokenManager(store, mock.settings(), lambda: session, sync=ClaudeCodeSync(tmp_path / "unused"))
    await tm.save_record(await import_claude_code("claude-max", creds))
    new_token = await tm.force_refresh("claude-max", family["access_token"])
    after = orjson.loads(creds.read_bytes())
    oauth = after["claudeAiOauth"]
    assert oauth["accessToken"] == new_token
    stored = await store.get("claude-max")
    assert stored is not None and oauth["refreshToken"] == stored.refresh_token.reveal()
    assert mock.refresh_valid(oauth["refreshToken"])
    assert abs(oauth["expiresAt"] - stored.expires_at.timestamp() * 1000) < 2
    for key in ("scopes", "subscriptionType", "rateLimitTier"):
        assert oauth[key] == before["claudeAiOauth"][key]
    assert after["mcpOAuth"] == before["mcpOAuth"]
    assert stat.S_IMODE(creds.stat().st_mode) == mode
    assert [p.name for p in creds.parent.iterdir()] == [".credentials.json"]


async def test_write_back_never_touches_a_different_login(
    mock: MockOAuthServer, tmp_path: Path, session: httpx.AsyncClient
) -> None:
    ours, theirs = mock.issue_tokens(), mock.issue_tokens()
    creds = tmp_path / ".credentials.json"
    write_creds(creds, ours)
    tm = TokenManager(FileStore(tmp_path / "t.json"), mock.settings(), lambda: session, sync=ClaudeCodeSync(creds))
    await tm.save_record(await import_claude_code("claude-max", creds))
    rec = await tm.store.get("claude-max")
    assert rec is not None
    await tm.save_record(replace(rec, source=None))  # a login made by ccm itself, same tokens
    untouched = write_creds(creds, theirs)  # Claude Code is logged in to something else meanwhile
    await tm.force_refresh("claude-max", ours["access_token"])
    assert orjson.loads(creds.read_bytes()) == untouched


async def test_rotation_by_claude_code_is_picked_up_without_reuse(tmp_path: Path, session: httpx.AsyncClient) -> None:
    async with MockOAuthServer(MockConfig(strict_reuse=True)) as mock:
        family = mock.issue_tokens()
        creds = tmp_path / ".credentials.json"
        write_creds(creds, family, expires_in_s=-10)
        tm = TokenManager(FileStore(tmp_path / "t.json"), mock.settings(), lambda: session, sync=ClaudeCodeSync())
        await tm.save_record(await import_claude_code("claude-max", creds))
        # Claude Code refreshes on its own and rewrites its file
        resp = await session.post(
            f"{mock.url}/v1/oauth/token",
            json={
                "grant_type": "refresh_token",
                "refresh_token": family["refresh_token"],
                "client_id": mock.config.client_id,
            },
        )
        claude_side = resp.json()
        write_creds(creds, claude_side, expires_in_s=3600)
        token = await tm.get_access_token("claude-max")
        assert token == claude_side["access_token"]
        assert mock.refresh_calls == 1  # only Claude Code's; we never replayed the rotated token
        assert mock.refresh_valid(claude_side["refresh_token"])
