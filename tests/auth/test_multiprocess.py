"""Two separate processes sharing one token file: exactly one refresh, both keep working, no token lost."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import FileStore, TokenRecord
from tests.mocks.oauth import MockOAuthServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.mark.parametrize("mode", ["force", "expired"])
async def test_two_processes_refresh_once(mock: MockOAuthServer, tmp_path: Path, mode: str) -> None:
    mock.config.refresh_delay_s = 0.3  # both processes are inside their refresh path at the same time
    family = mock.issue_tokens()
    path = tmp_path / "oauth_tokens.json"
    store = FileStore(path)
    expires = timedelta(hours=1) if mode == "force" else timedelta(seconds=-10)
    await store.put(
        TokenRecord(
            provider_id="claude-max",
            access_token=Secret(family["access_token"]),
            refresh_token=Secret(family["refresh_token"]),
            expires_at=datetime.now(UTC) + expires,
        )
    )
    if mode == "force":
        mock.revoke_access(family["access_token"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    args = [str(path), mock.settings().model_dump_json(), mock.url, mode, family["access_token"]]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "_refresh_child.py"),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None
        assert (await asyncio.wait_for(p.stdout.readline(), 20)).strip() == b"ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        await p.stdin.drain()
    results = []
    for p in procs:
        assert p.stdout is not None
        results.append(json.loads(await asyncio.wait_for(p.stdout.readline(), 20)))
        assert await asyncio.wait_for(p.wait(), 10) == 0

    assert mock.refresh_calls == 1, mock.state()
    assert sum(r["refresh_count"] for r in results) == 1
    assert results[0]["token"] == results[1]["token"] != family["access_token"]
    assert [r["status"] for r in results] == [200, 200]
    stored = await store.get("claude-max")
    assert stored is not None and stored.access_token.reveal() == results[0]["token"]
    assert mock.refresh_valid(stored.refresh_token.reveal())  # the rotated refresh token survived
