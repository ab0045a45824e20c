"""``ccm start --workers N``: every worker listens on the one port before the router says it is ready.

With ``SO_REUSEPORT`` the kernel spreads a new connection over the sockets of the port that listen at that moment,
and a kept-alive connection stays where it landed. A worker that started listening later than the others got
none of the connections a client opened as soon as the router answered (the benchmark's ``--workers 2`` run
measured 0.82-1.09x one worker: the second worker sat idle).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _listeners(port: int) -> int:
    """Sockets listening on ``port`` (IPv4, any process), from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # state 0A: LISTEN
            count += 1
    return count


def test_every_worker_listens_on_one_port_before_ready(tmp_path: Path) -> None:
    port_file, home = tmp_path / "port", tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("CCM_CONFIG", "CCM_REUSEPORT")}
    cmd = [sys.executable, "-m", "claude_code_mux", "--home", str(home), "start", "--workers", "3"]
    cmd += ["--port", "0", "--port-file", str(port_file)]  # port 0: one free port, the same for every worker
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the router did not start"
            time.sleep(0.02)
        port = int(port_file.read_text())
        assert _listeners(port) == 3  # at the moment the first worker says it is ready, all of them listen
        with httpx.Client() as c:
            assert c.get(f"http://127.0.0.1:{port}/health").status_code == 200
        # The worker port files are the router's own business: gone with it.
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert not list(home.glob(".ccm-worker.*"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_a_worker_that_cannot_start_fails_the_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CCM_CONFIG", "CCM_REUSEPORT")}
    env["CCM_HOME"] = str(tmp_path)
    # Every worker refuses a non-loopback address without server.api_key; the first one reports it, once.
    cmd = [sys.executable, "-m", "claude_code_mux", "start", "--workers", "2", "--host", "0.0.0.0", "--port", "0"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "server.api_key" in r.stderr
