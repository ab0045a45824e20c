"""``ccm statusline`` with recorded stdin JSON, the last-request file behind it, and its ``install``."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from claude_code_mux.cli import instance
from claude_code_mux.cli.main import main
from claude_code_mux.cli.statusline import default_command, fast_main, format_line, read_stdin, status_line
from claude_code_mux.observe.last_request import FILE_NAME, LastRequestWriter, read_last, session_key
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic

SESSION = "0b7c6a53-41c8-4a5e-9d55-2f7b3c1d9e01"
# What Claude Code pipes into a statusLine command (shape of 2.1.x).
STDIN = {
    "hook_event_name": "Status",
    "session_id": SESSION,
    "transcript_path": f"/home/user/.claude/projects/-tmp-x/{SESSION}.jsonl",
    "cwd": "/tmp/x",
    "model": {"id": "claude-opus-4-8", "display_name": "Opus 4.8"},
    "workspace": {"current_dir": "/tmp/x", "project_dir": "/tmp/x"},
    "version": "2.1.197",
    "output_style": {"name": "default"},
    "cost": {"total_cost_usd": 0.42, "total_duration_ms": 12000, "total_api_duration_ms": 9000},
    "exceeds_200k_tokens": False,
}
PRICES = """
[router]
default = "glm"
[[providers]]
name = "openrouter"
provider_type = "openrouter"
api_key = "k"
models = ["glm"]
[prices."z-ai/glm-4.6"]
input = 0.6
output = 2.2
cache_read = 0.11
cache_write = 0.6
"""


def record(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "request_id": "req_1",
        "time": time.time(),
        "route": "default",
        "client_model": "claude-opus-4-8",
        "provider": "openrouter",
        "model": "z-ai/glm-4.6",
        "status": 200,
        "stream": True,
        "ttfb_ms": 120.5,
        "total_ms": 900.1,
        "attempts": [{"provider": "openrouter", "model": "z-ai/glm-4.6", "status": 200, "error": None}],
        "session_id": SESSION,
        "usage": {
            "input_tokens": 1200,
            "output_tokens": 456,
            "cache_read_input_tokens": 44000,
            "cache_creation_input_tokens": 0,
        },
    }
    rec.update(over)
    return rec


def running(home: Path) -> None:
    """A PID file naming a live process (this one), as ``ccm start`` leaves it."""
    home.mkdir(parents=True, exist_ok=True)
    instance.record(home / "ccm.pid", port=13456, host="127.0.0.1", config=None)


def statusline(home: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCM_")}
    env["CCM_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", "statusline", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
    )


# ------------------------------------------------------------------------------------- the line


def test_statusline_shows_route_model_tokens_and_cost(tmp_path: Path) -> None:
    running(tmp_path)
    (tmp_path / "config.toml").write_text(PRICES)
    w = LastRequestWriter(tmp_path)
    w(record(request_id="r0", usage={"input_tokens": 1000, "output_tokens": 1000}))
    w(record())
    w(record(session_id="other-session", provider="x", model="y", route="background"))
    r = statusline(tmp_path, json.dumps(STDIN))
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith("ccm default → openrouter/z-ai/glm-4.6")
    assert "last 45.2k in / 456 out" in line
    # session: 2200 in, 1456 out, 44000 cache reads at 0.6 / 2.2 / 0.11 per million
    cost = (2200 * 0.6 + 1456 * 2.2 + 44000 * 0.11) / 1e6
    assert f"session ~${cost:.4f}" in line


def test_statusline_fallbacks(tmp_path: Path) -> None:
    r = statusline(tmp_path, json.dumps(STDIN))
    assert (r.returncode, r.stdout) == (0, "ccm: not running\n")
    running(tmp_path)
    assert statusline(tmp_path, json.dumps(STDIN)).stdout == "ccm: no requests yet\n"
    LastRequestWriter(tmp_path)(record(session_id="someone-else"))
    assert status_line(tmp_path, None, STDIN) == "ccm: no requests yet"
    # Garbage on stdin: the newest session's last request, never a traceback.
    r = statusline(tmp_path, "not json")
    assert r.returncode == 0 and r.stdout.startswith("ccm default → openrouter/"), r.stdout + r.stderr


def test_format_line_without_provider_usage_or_prices() -> None:
    line = format_line({"route": "default", "status": 404, "provider": None, "usage": {}}, {})
    assert line == "ccm default ✗ 404"
    line = format_line(record(status=529, usage=None), {})
    assert line == "ccm default → openrouter/z-ai/glm-4.6 ✗ 529"
    long_route = format_line(record(route="long_context:172431>60000-and-some-more"), {})
    assert long_route.startswith("ccm long_context → ")


def test_stdin_that_never_closes_does_not_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = os.pipe()
    try:
        with os.fdopen(os.dup(r), "r") as f:
            monkeypatch.setattr(sys, "stdin", f)
            os.write(w, b'{"session_id": "x"')
            t0 = time.monotonic()
            assert read_stdin(0.3) == {}
            assert time.monotonic() - t0 < 1.0
    finally:
        os.close(w)
        os.close(r)


def test_fast_main_handles_only_the_bare_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fast_main(["install"], {"CCM_HOME": str(tmp_path)}) is None
    assert fast_main([], {"CCM_HOME": str(tmp_path)}) == 0
    assert capsys.readouterr().out == "ccm: not running\n"


# ------------------------------------------------------------------------------ last_requests.json


def test_writer_keeps_last_record_and_totals_per_session(tmp_path: Path) -> None:
    w = LastRequestWriter(tmp_path, max_sessions=2)
    raw_user_id = json.dumps({"device_id": "0" * 64, "account_uuid": "", "session_id": "s1"})
    w(record(session_id=raw_user_id, request_id="a", usage={"input_tokens": 10, "output_tokens": 5}))
    w(record(session_id="s1", request_id="b", model="m2", usage={"input_tokens": 1}))
    w(record(session_id=None, request_id="anon"))
    last = read_last(tmp_path, "s1")
    assert last is not None and last["request_id"] == "b" and last["attempts"] == 1
    assert last["totals"]["requests"] == 2
    assert last["totals"]["by_model"]["z-ai/glm-4.6"]["input_tokens"] == 10
    assert last["totals"]["by_model"]["m2"]["input_tokens"] == 1
    newest = read_last(tmp_path, None)
    assert newest is not None and newest["request_id"] == "anon"  # no session id: still the latest
    w(record(session_id="s3"))  # max_sessions=2: the oldest (s1) goes
    assert read_last(tmp_path, "s1") is None and read_last(tmp_path, "s3") is not None
    assert session_key("user_abc_account__session_s9") == "s9"
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600


def test_read_last_tolerates_missing_and_foreign_files(tmp_path: Path) -> None:
    assert read_last(tmp_path, "s") is None
    for text in ("{", "[]", '{"sessions": []}', '{"sessions": {"s": {"last": 3}}}'):
        (tmp_path / FILE_NAME).write_text(text)
        assert read_last(tmp_path, "s") is None


async def test_writer_writes_off_the_hot_path_at_most_every_interval(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    w = LastRequestWriter(tmp_path, interval_s=0.5)
    w(record(request_id="r1"))
    assert not path.exists()  # scheduled, not written inside the listener call
    await asyncio.sleep(0.2)
    assert read_last(tmp_path, SESSION)["request_id"] == "r1"  # type: ignore[index]
    for i in range(2, 50):
        w(record(request_id=f"r{i}"))
    await asyncio.sleep(0.1)
    assert read_last(tmp_path, SESSION)["request_id"] == "r1"  # type: ignore[index]
    await asyncio.sleep(0.7)
    assert read_last(tmp_path, SESSION)["request_id"] == "r49"  # type: ignore[index]
    w(record(request_id="final"))
    await w.flush()
    assert read_last(tmp_path, SESSION)["request_id"] == "final"  # type: ignore[index]


async def test_records_from_the_real_router_reach_the_statusline(tmp_path: Path) -> None:
    """The writer as a listener of the real server: session id from metadata.user_id, usage, route."""
    async with MockAnthropic(name="up") as mock:
        config = (
            '[router]\ndefault = "main"\nauto_map = true\n'
            + anthropic_provider("up", mock.url)
            + model_block("main", [("up", "upstream-main")])
            + '[prices."upstream-main"]\ninput = 3.0\noutput = 15.0\n'
        )
        async with run_router(config, tmp_path) as router:
            assert router.server.holder is not None
            # The server registers its own writer (observe.hub.build_observers); use that one.
            writer = next(x for x in router.server.holder.observers.observers if isinstance(x, LastRequestWriter))
            user_id = json.dumps({"device_id": "0" * 64, "account_uuid": "", "session_id": SESSION})
            body = {
                "model": "claude-opus-4-8",
                "max_tokens": 50,
                "stream": True,
                "metadata": {"user_id": user_id},
                "messages": [{"role": "user", "content": "Reply with exactly: HI"}],
            }
            async with httpx.AsyncClient() as c:
                r = await c.post(f"{router.url}/v1/messages?beta=true", json=body, headers={"x-api-key": "k"})
                assert r.status_code == 200
            await writer.flush()
    running(tmp_path)
    last = read_last(tmp_path, SESSION)
    assert last is not None and last["provider"] == "up" and last["model"] == "upstream-main"
    assert last["usage"].get("output_tokens", 0) > 0
    line = status_line(tmp_path, tmp_path / "config.toml", STDIN)
    assert line.startswith("ccm default:auto_map → up/upstream-main · last "), line
    assert "session ~$" in line


# ----------------------------------------------------------------------------------------- install


def install(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCM_", "CLAUDE_CONFIG_DIR"))}
    env.update({"HOME": str(home), "CCM_HOME": str(home / ".ccm")})
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", "statusline", "install", *args],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def install_here(home: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """The same command in this process (no interpreter start-up), for the slower cases."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CCM_HOME", str(home / ".ccm"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    return main(["statusline", "install", *args])


def test_install_merges_into_settings_and_keeps_other_keys(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    other = {
        "env": {"DISABLE_TELEMETRY": "1"},
        "permissions": {"allow": ["Bash(git status)"], "deny": []},
        "model": "opus",
        "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify"}]}]},
    }
    settings.write_text(json.dumps(other, indent=4))
    r = install(tmp_path, "--command", "ccm statusline")
    assert r.returncode == 0, r.stderr
    got = json.loads(settings.read_text())
    assert got == {**other, "statusLine": {"type": "command", "command": "ccm statusline"}}
    assert list(got)[: len(other)] == list(other)  # order kept too
    r = install(tmp_path, "--command", "ccm statusline")
    assert r.returncode == 0 and "already" in r.stdout
    assert not list(settings.parent.glob(".*tmp"))


def test_install_creates_settings_when_missing(tmp_path: Path) -> None:
    r = install(tmp_path)
    assert r.returncode == 0, r.stderr
    got = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    assert got["statusLine"]["type"] == "command"
    assert got["statusLine"]["command"].endswith("statusline")


def test_install_refuses_to_clobber_a_different_statusline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    theirs = {"statusLine": {"type": "command", "command": "~/.claude/my-line.sh"}, "model": "opus"}
    settings.write_text(json.dumps(theirs))
    assert install_here(tmp_path, monkeypatch, "--command", "ccm statusline") == 1
    err = capsys.readouterr().err
    assert "--force" in err and "my-line.sh" in err
    assert json.loads(settings.read_text()) == theirs
    assert install_here(tmp_path, monkeypatch, "--command", "ccm statusline", "--force") == 0
    assert json.loads(settings.read_text()) == {
        "statusLine": {"type": "command", "command": "ccm statusline"},
        "model": "opus",
    }
    # Our own entry in another spelling is updated (extra keys such as padding kept), not refused.
    ours = {"type": "command", "command": "/opt/bin/ccm statusline", "padding": 0}
    settings.write_text(json.dumps({"statusLine": ours}))
    assert install_here(tmp_path, monkeypatch, "--command", "ccm statusline") == 0
    assert json.loads(settings.read_text())["statusLine"] == {**ours, "command": "ccm statusline"}


def test_install_leaves_invalid_json_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"model": "opus",}')
    assert install_here(tmp_path, monkeypatch) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert settings.read_text() == '{"model": "opus",}'


def test_install_writes_the_absolute_path_of_the_ccm_it_runs_from(tmp_path: Path) -> None:
    # A venv install: bin/ccm is on the shell's PATH (venv activated), but not on the PATH Claude Code runs with.
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    script = venv_bin / "ccm"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom claude_code_mux.cli.main import main\nsys.exit(main())\n")
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCM_", "CLAUDE_CONFIG_DIR"))}
    env.update({"HOME": str(tmp_path), "CCM_HOME": str(tmp_path / ".ccm")})
    env["PATH"] = f"{venv_bin}{os.pathsep}/usr/bin{os.pathsep}/bin"
    r = subprocess.run(
        ["ccm", "statusline", "install"], capture_output=True, text=True, timeout=20, env=env, stdin=subprocess.DEVNULL
    )
    assert r.returncode == 0, r.stderr
    command = json.loads((tmp_path / ".claude" / "settings.json").read_text())["statusLine"]["command"]
    assert command == f"{shlex.quote(str(script))} statusline"
    # Claude Code runs it through a shell whose PATH has no venv.
    env["PATH"] = f"/usr/bin{os.pathsep}/bin"
    out = subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, text=True, timeout=20, env=env, stdin=subprocess.DEVNULL
    )
    assert out.returncode == 0 and out.stdout == "ccm: not running\n", out.stderr


def test_default_command_without_a_ccm_script(tmp_path: Path) -> None:
    py = tmp_path / "bin" / "python3"
    assert default_command(str(tmp_path / "x" / "__main__.py"), str(py)) == f"{py} -m claude_code_mux statusline"
    (tmp_path / "bin").mkdir()
    beside = tmp_path / "bin" / "ccm"
    beside.write_text("#!/bin/sh\n")
    beside.chmod(0o755)
    assert default_command(str(tmp_path / "x" / "__main__.py"), str(py)) == f"{beside} statusline"
