"""The ccm CLI as a user runs it: init, config check, model, start --detach, status, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx


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
        s = ccm("status", home=tmp_path)
        assert s.returncode == 0 and "running" in s.stdout and "healthy" in s.stdout
        again = ccm("start", "--detach", "--port", str(port), home=tmp_path)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        st = ccm("stop", home=tmp_path)
    assert st.returncode == 0 and "stopped" in st.stdout
    assert ccm("status", home=tmp_path).returncode == 3
    assert not (tmp_path / "ccm.pid").exists()


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
