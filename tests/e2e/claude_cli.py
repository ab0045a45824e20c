"""Find and drive the real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in .ci/run)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def find_claude() -> str:
    """The claude binary, or skip (fail under CCM_REQUIRE_E2E=1, as in CI)."""
    candidates = [
        os.environ.get("CLAUDE_BIN", ""),
        str(ROOT / ".cache" / "cc" / "node_modules" / ".bin" / "claude"),
        shutil.which("claude") or "",
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    msg = "Claude Code CLI not found (set CLAUDE_BIN or run .ci/run to install it)"
    if os.environ.get("CCM_REQUIRE_E2E"):
        pytest.fail(msg)
    pytest.skip(msg)


@dataclass
class ClaudeResult:
    returncode: int
    result: dict[str, Any]
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.result.get("is_error", True)

    @property
    def text(self) -> str:
        return str(self.result.get("result", ""))


async def run_claude(
    base_url: str,
    prompt: str,
    *,
    api_key: str | None = "sk-test-key",
    auth_token: str | None = None,
    model: str | None = None,
    small_model: str | None = None,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
    timeout: float = 120,
) -> ClaudeResult:
    claude = find_claude()
    home = tempfile.mkdtemp(prefix="cc-home-")
    work = tempfile.mkdtemp(prefix="cc-work-")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "ANTHROPIC_BASE_URL": base_url,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_MAX_RETRIES": "2",
        # A broken stream must fail, not hide behind the non-streaming fallback.
        "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
    }
    if api_key:
        env["ANTHROPIC_API_KEY"] = api_key
    if auth_token:
        env["ANTHROPIC_AUTH_TOKEN"] = auth_token
    if model:
        env["ANTHROPIC_MODEL"] = model
    if small_model:
        env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = small_model
        env["ANTHROPIC_SMALL_FAST_MODEL"] = small_model
    env.update(extra_env or {})
    args = [
        claude,
        "-p",
        prompt,
        "--output-format",
        "json",
        "--no-session-persistence",
        *extra_args,
    ]
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=work,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    stdout = out.decode(errors="replace")
    result: dict[str, Any] = {}
    for line in reversed(stdout.strip().splitlines()):
        try:
            result = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return ClaudeResult(proc.returncode or 0, result, stdout, err.decode(errors="replace"))
