"""``ccm code`` with the real Claude Code CLI: it starts the router, Claude Code talks through it, it stops it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e.claude_cli import find_claude
from tests.harness import anthropic_provider, model_block
from tests.mocks.anthropic import MockAnthropic

pytestmark = pytest.mark.e2e


async def test_ccm_code_runs_real_claude_through_the_router(tmp_path: Path) -> None:
    claude = find_claude()
    async with MockAnthropic(name="up") as mock:
        home = tmp_path / "ccm"
        home.mkdir()
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        (home / "config.toml").write_text(
            f"[server]\nport = {port}\n"
            '[router]\ndefault = "main"\nauto_map = true\n'
            + anthropic_provider("up", mock.url)
            + model_block("main", [("up", "up-model")])
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tempfile.mkdtemp(prefix="cc-home-"),
            "CCM_HOME": str(home),
            "CLAUDE_BIN": claude,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
            "CLAUDE_CODE_MAX_RETRIES": "1",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "claude_code_mux",
            "code",
            "-p",
            "Reply with exactly: VIA-CCM-CODE",
            "--output-format",
            "json",
            "--no-session-persistence",
            cwd=tempfile.mkdtemp(prefix="cc-work-"),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, out.decode() + err.decode()
        result = json.loads(out.decode().strip().splitlines()[-1])
        assert result["is_error"] is False and "VIA-CCM-CODE" in result["result"]
        assert mock.messages_requests() and mock.messages_requests()[0].json["model"] == "up-model"
        # ccm code started the router for this session and stopped it afterwards.
        for _ in range(50):
            if not (home / "ccm.pid").exists():
                break
            await asyncio.sleep(0.1)
        assert not (home / "ccm.pid").exists()
