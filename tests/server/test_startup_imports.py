"""Start-up stays lean: the router on the embedded default config serves without importing the heavy surfaces.

The server runs as users run it (``python -m claude_code_mux start``) under ``-X importtime``, which lists every
module the process imports on stderr; a module imported eagerly again (at start or by the first request) shows up
there and fails this test. The admin side must still load, and answer, on the first request that needs it.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from claude_code_mux.server.memory import trim_when_idle

# Not needed to serve /v1/* on the default config: logins, Google, PostgreSQL, config editing, the admin side,
# cold-path HTTP client, the non-Anthropic dialects.
LAZY = (
    "httpx",
    "google.auth",
    "psycopg",
    "tomlkit",
    "claude_code_mux.server.admin",
    "claude_code_mux.providers.gemini",
    "claude_code_mux.providers.openai_chat",
    "claude_code_mux.providers.openai_responses",
    "claude_code_mux.auth.gemini_cli",
    "claude_code_mux.auth.login",
    "cryptography.fernet",  # the token store's sealing, for sealed stores only
    "redis",  # the fleet's shared state, for [state] backend = "redis" only
    "prometheus_client",  # the metrics observer counts in plain dicts; /metrics renders them
)

# Not needed by the hot routes, HEAD / and /health: the Starlette side is built on the first other request.
STARLETTE_SIDE = (
    "starlette.applications",
    "claude_code_mux.server.api.routes",
    "claude_code_mux.server.api.passthrough",
    "claude_code_mux.server.lazy_routes",
)


def _imported(text: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^import time:.*\|\s+(\S+)\s*$", text, re.M)}


def test_serving_does_not_import_the_heavy_surfaces(tmp_path: Path) -> None:
    home, port_file, err = tmp_path / "home", tmp_path / "port", tmp_path / "stderr"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    env.pop("CCM_CONFIG", None)
    cmd = [sys.executable, "-X", "importtime", "-m", "claude_code_mux", "--home", str(home), "start"]
    cmd += ["--port", "0", "--port-file", str(port_file)]
    with err.open("wb") as errf:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, env=env)
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, "the router did not start"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{int(port_file.read_text())}"
        with httpx.Client(base_url=base, timeout=10) as c:
            assert c.get("/health").status_code == 200
            r = c.post("/v1/messages", content=b"{", headers={"content-type": "application/json"})
            assert r.status_code == 400 and r.json()["type"] == "error"  # the hot route answered
            assert c.head("/").status_code == 200  # Claude Code's preconnect
            time.sleep(0.3)
            hot_only = _imported(err.read_text())
            starlette_side = [m for m in STARLETTE_SIDE if m in hot_only]
            assert starlette_side == [], f"built before a request needed the Starlette side: {starlette_side}"
            assert c.get("/v1/models").status_code < 500  # a Starlette /v1/* route
            time.sleep(0.3)  # importtime lines are written as modules load
            imported = _imported(err.read_text())
            eager = sorted(m for m in imported for lazy in LAZY if m == lazy)
            assert eager == [], f"imported before anyone needed them: {eager}"
            if "prometheus_client" not in imported:  # its exposition module imports urllib.request
                assert "urllib.request" not in imported  # ccm's own use: the health check of stop/status
            # The admin side loads on the first request for it, and answers as before.
            ui = c.get("/")
            assert ui.status_code == 200 and "text/html" in ui.headers["content-type"]
            assert c.get("/no/such/page").json()["error"]["type"] == "not_found_error"
            time.sleep(0.3)
            assert "claude_code_mux.server.admin" in _imported(err.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_importing_the_server_imports_no_optional_backend() -> None:
    code = (
        "import sys, claude_code_mux.server.run, claude_code_mux.cli.server;"
        f"print(','.join(m for m in {LAZY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.asyncio
async def test_trims_once_after_a_burst_when_idle() -> None:
    clock, count, busy, trims = _Clock(), [0], [False], []

    async def drive() -> None:
        task = asyncio.create_task(
            trim_when_idle(
                lambda: count[0],
                lambda: busy[0],
                idle_s=2.0,
                min_requests=16,
                tick_s=0.001,
                trim=lambda: trims.append(clock.t) is None,
                clock=clock,
            )
        )
        await asyncio.sleep(0.01)  # it takes its starting count

        async def step(dt: float, requests: int = 0) -> None:
            count[0] += requests
            clock.t += dt
            await asyncio.sleep(0.01)

        await step(0.1, 10)
        await step(5.0)  # idle, but only 10 requests: no trim
        assert trims == []
        await step(0.1, 10)
        busy[0] = True  # 20 requests, but a stream is still open
        await step(5.0)
        assert trims == []
        busy[0] = False
        await step(0.5)
        for _ in range(500):  # the trim runs in a worker thread
            if trims:
                break
            await asyncio.sleep(0.01)
        assert len(trims) == 1
        await step(5.0)  # still idle, nothing new: no second trim
        assert len(trims) == 1
        task.cancel()

    await asyncio.wait_for(drive(), 10)


def test_the_server_commands_are_told_apart_from_the_others() -> None:
    from claude_code_mux.cli.main import _command

    assert _command(["--home", "h", "-c", "start", "start", "--port", "0"]) == "start"
    assert _command(["--config", "x.toml", "stop"]) == "stop"
    assert _command(["code", "-p", "start", "-c"]) == "code"
    assert _command(["--version"]) is None


def test_start_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    """``ccm start`` imports with the collector off (the server turns it on once it serves); a start that ends
    early, here refused, must not leave it off in the calling process."""
    import gc

    from claude_code_mux.cli.main import main

    assert gc.isenabled()
    assert main(["--home", str(tmp_path), "start", "--host", "0.0.0.0", "--port", "0"]) == 2  # no api_key
    assert gc.isenabled()


def test_settle_gc_freezes_start_up_and_turns_the_collector_on() -> None:
    import gc

    from claude_code_mux.server.run import settle_gc

    threshold = gc.get_threshold()
    gc.disable()
    try:
        settle_gc()
        assert gc.isenabled() and gc.get_freeze_count() > 0 and gc.get_threshold()[0] == 20_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        gc.enable()


def test_malloc_trim_is_looked_up_when_first_needed() -> None:
    import platform

    from claude_code_mux.server import memory

    assert isinstance(memory.malloc_trim(), bool)
    if platform.libc_ver()[0] == "glibc":
        assert memory._load_trim() is not None
