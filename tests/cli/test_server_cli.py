"""The ccm CLI as a user runs it: init, config check, model, start --detach, status, stop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest


def ccm(
    *args: str, home: Path, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != "CCM_CONFIG"}
    e.update({"CCM_HOME": str(home), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=e,
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_version(tmp_path: Path) -> None:
    r = ccm("--version", home=tmp_path)
    assert r.returncode == 0 and "claude-code-mux" in r.stdout


def test_init_and_check(tmp_path: Path) -> None:
    r = ccm("init", home=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "config.toml").read_text()
    assert "# claude-code-mux configuration" in text
    assert ccm("init", home=tmp_path).returncode == 1  # refuses to overwrite
    r = ccm("config", "check", home=tmp_path)
    assert r.returncode == 0 and "OK" in r.stdout


def test_config_check_reports_file_line_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[router]\ndefault = "x"\n[[providers]]\nname = "p"\napi_key = "k"\nmodels=["x"]\nauth_type = "token"\n'
    )
    # --config accepted before and after the subcommand.
    for args in (("--config", str(bad), "config", "check"), ("config", "check", "--config", str(bad))):
        r = ccm(*args, home=tmp_path)
        assert r.returncode == 2
        assert f"{bad}:7" in r.stderr
        assert "providers[0].auth_type" in r.stderr
        assert "apikey" in r.stderr


def test_ccm_config_env(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('[router]\ndefualt = "x"\n')
    r = ccm("config", "check", home=tmp_path, env={"CCM_CONFIG": str(cfg)})
    assert r.returncode == 2 and "did you mean 'default'" in r.stderr


def test_model_prints_routing_table(tmp_path: Path) -> None:
    r = ccm("model", home=tmp_path)
    assert r.returncode == 0
    assert "anthropic" in r.stdout and "passthrough" in r.stdout


def test_start_detach_status_stop(tmp_path: Path) -> None:
    port = free_port()
    r = ccm("start", "--detach", "--port", str(port), home=tmp_path)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"
        # The next steps: where to point Claude Code, ccm code, the UI.
        assert f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}" in r.stdout
        assert "ccm code" in r.stdout and f"http://127.0.0.1:{port}/ " in r.stdout
        s = ccm("status", home=tmp_path)
        assert s.returncode == 0 and "running" in s.stdout and "healthy" in s.stdout
        again = ccm("start", "--detach", "--port", str(port), home=tmp_path)
        assert again.returncode == 1 and "already running" in again.stderr
        # A PID file of an older version ("PID PORT") still names our router: its command line says so.
        pid = json.loads((tmp_path / "ccm.pid").read_text())["pid"]
        (tmp_path / "ccm.pid").write_text(f"{pid} {port}\n")
        s = ccm("status", home=tmp_path)
        assert s.returncode == 0 and f"PID {pid}, port {port}, healthy" in s.stdout
    finally:
        st = ccm("stop", home=tmp_path)
    assert st.returncode == 0 and "stopped" in st.stdout
    assert ccm("status", home=tmp_path).returncode == 3
    assert not (tmp_path / "ccm.pid").exists()


def test_foreground_start_prints_the_next_steps_once_ready(tmp_path: Path) -> None:
    port = free_port()
    other = tmp_path / "other.toml"
    other.write_text(
        '[router]\ndefault = "claude-x"\n[[providers]]\nname = "a"\nauth_type = "passthrough"\nmodels = ["claude-*"]\n'
    )
    e = {k: v for k, v in os.environ.items() if k != "CCM_CONFIG"}
    e["CCM_HOME"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_code_mux", "--config", str(other), "start", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=e,
    )
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not any("web UI" in x for x in lines) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        out = "".join(lines)
        assert f"ready on http://127.0.0.1:{port}" in out
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200  # said only once it answers
        assert f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}" in out
        assert f"ccm --config {other} code" in out and f"ccm --config {other} env" in out
        assert f"http://127.0.0.1:{port}/ " in out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_stale_pid_file_is_handled(tmp_path: Path) -> None:
    (tmp_path / "ccm.pid").write_text("999999 13456\n")
    r = ccm("status", home=tmp_path)
    assert r.returncode == 3 and "not running" in r.stdout
    assert not (tmp_path / "ccm.pid").exists()


def test_start_refuses_bad_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[router]\ndefault = "x"\n[server]\nport = "x"\n')
    r = ccm("start", home=tmp_path)
    assert r.returncode == 2 and "server.port" in r.stderr


def test_non_loopback_without_key_refused(tmp_path: Path) -> None:
    r = ccm("start", "--host", "0.0.0.0", "--port", str(free_port()), home=tmp_path, timeout=20)
    assert r.returncode == 2
    assert "server.api_key" in r.stderr and "--insecure-no-auth" in r.stderr


def test_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    r = ccm("start", "--detach", "--workers", "2", "--port", str(port), home=tmp_path)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        for _ in range(10):
            with httpx.Client() as c:  # new connection each time, so both workers can take some
                assert c.get(f"http://127.0.0.1:{port}/health").status_code == 200
        out = subprocess.run(["pgrep", "-f", "--", f"--port {port}"], capture_output=True, text=True)
        assert len(out.stdout.split()) >= 2
    finally:
        assert ccm("stop", home=tmp_path).returncode == 0
    import time

    for _ in range(50):
        out = subprocess.run(["pgrep", "-f", "--", f"--port {port}"], capture_output=True, text=True)
        if not out.stdout.split():
            break
        time.sleep(0.1)
    assert out.stdout.split() == []


def test_config_check_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[router]\n"  # 1
        'default = "main"\n'  # 2
        'think = "deep"\n'  # 3: no such model
        "[[providers]]\n"  # 4
        'name = "gw"\n'  # 5
        'provider_type = "openai-compatible"\n'  # 6: no base_url
        'auth_type = "bearer"\n'  # 7: not an auth type
        "[[models]]\n"  # 8
        'name = "main"\n'  # 9
        "[[models.mappings]]\n"  # 10
        'provider = "gww"\n'  # 11: no such provider
        'actual_model = "m"\n'  # 12
    )
    r = ccm("--config", str(bad), "config", "check", home=tmp_path)
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert [x.split(": ")[1] for x in lines] == [f"{bad}:7", f"{bad}:11", f"{bad}:3"], r.stderr
    assert "router.think" in lines[2] and "'deep'" in lines[2]
    assert "unknown provider 'gww'" in lines[1] and "did you mean 'gw'" in lines[1]
    assert "3 problems" in r.stderr
    # With the auth_type fixed, the provider checks run too: openai-compatible needs its endpoint.
    bad.write_text(bad.read_text().replace('auth_type = "bearer"\n', 'api_key = "k"\n'))
    r = ccm("--config", str(bad), "config", "check", home=tmp_path)
    assert f"{bad}:6: providers[0].base_url (gw)" in r.stderr and "add base_url" in r.stderr
    assert "localhost:8000" not in r.stdout + r.stderr


def _zombie() -> int:
    """A child that has exited but was not reaped: ``kill(pid, 0)`` still succeeds on it."""
    z = subprocess.Popen(["true"])
    stat = Path(f"/proc/{z.pid}/stat")
    for _ in range(200):
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return z.pid
        time.sleep(0.01)
    raise AssertionError("no zombie")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_status_and_stop_never_trust_a_pid_that_is_not_our_router(tmp_path: Path) -> None:
    # A router of another home answers on the port the stale PID file names.
    other, home = tmp_path / "other", tmp_path / "home"
    port = free_port()
    assert ccm("start", "--detach", "--port", str(port), home=other).returncode == 0
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        zombie = _zombie()
        stale = [
            f"{sleeper.pid} {port}\n",  # the older "PID PORT" form, PID reused by another program
            f"{zombie} {port}\n",  # the router died, its child-zombie still holds the PID
            json.dumps(
                {
                    "pid": sleeper.pid,
                    "port": port,
                    "host": "127.0.0.1",
                    "config": None,
                    "started": "1",
                    "cmdline": f"{sys.executable} -m claude_code_mux start",
                }
            ),
        ]
        for content in stale:
            home.mkdir(exist_ok=True)
            (home / "ccm.pid").write_text(content)
            s = ccm("status", home=home)
            assert s.returncode == 3, s.stdout
            assert "not running" in s.stdout and "stale" in s.stdout and "healthy" not in s.stdout
            assert not (home / "ccm.pid").exists()
            (home / "ccm.pid").write_text(content)
            st = ccm("stop", home=home)
            assert st.returncode == 0 and "stale" in st.stdout and "nothing was signalled" in st.stdout
            assert sleeper.poll() is None  # never signalled
            assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200  # nor the other router
    finally:
        sleeper.kill()
        sleeper.wait()
        ccm("stop", home=other)


def test_detached_start_reports_a_failed_bind(tmp_path: Path) -> None:
    other, home = tmp_path / "other", tmp_path / "home"
    port = free_port()
    assert ccm("start", "--detach", "--port", str(port), home=other).returncode == 0
    try:
        # The port answers /health (the other router), but this start's own child failed to bind.
        r = ccm("start", "--detach", "--port", str(port), home=home)
        assert r.returncode != 0, r.stdout
        assert "failed to start" in r.stderr and "Address already in use" in r.stderr
        assert "running in the background" not in r.stdout
        s = ccm("status", home=home)
        assert s.returncode == 3 and "healthy" not in s.stdout
    finally:
        ccm("stop", home=other)
