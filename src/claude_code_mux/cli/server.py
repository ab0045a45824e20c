"""``ccm start | stop | restart | status``: run the server in the foreground or detached, with a PID file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from claude_code_mux.cli.common import fail, load_or_default
from claude_code_mux.errors import ConfigError


def pid_path(home: Path) -> Path:
    return home / "ccm.pid"


def read_pid(home: Path) -> int | None:
    """The PID in the PID file if that process is alive; a stale file is removed."""
    path = pid_path(home)
    try:
        text = path.read_text().split()
        pid = int(text[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    except PermissionError:
        return pid
    return pid


def pid_port(home: Path) -> int | None:
    try:
        parts = pid_path(home).read_text().split()
        return int(parts[1]) if len(parts) > 1 else None
    except (OSError, ValueError):
        return None


def health_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    h = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    try:
        with urllib.request.urlopen(f"http://{h}:{port}/health", timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def cmd_start(args: argparse.Namespace) -> int:
    try:
        cfg, path = load_or_default(args)
    except ConfigError as exc:
        return fail(exc)
    host = args.host or cfg.server.host
    port = args.port if args.port is not None else cfg.server.port
    home: Path = args.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    running = None if args.worker else read_pid(home)
    if running is not None:
        print(f"claude-code-mux is already running (PID {running}); use `ccm restart`", file=sys.stderr)
        return 1
    if args.detach:
        return spawn_detached(args, host, port)
    children: list[subprocess.Popen[bytes]] = []
    if args.workers > 1:
        # SO_REUSEPORT: every worker binds the same port and the kernel spreads connections.
        # Token refreshes stay safe across workers through the token store's file lock.
        os.environ["CCM_REUSEPORT"] = "1"
        cmd = [sys.executable, "-m", "claude_code_mux", "--home", str(home)]
        if path is not None:
            cmd += ["--config", str(path)]
        cmd += ["start", "--worker", "--host", host, "--port", str(port)]
        if args.insecure_no_auth:
            cmd.append("--insecure-no-auth")
        children = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL) for _ in range(args.workers - 1)]
    from claude_code_mux.server.run import ServerOptions, run_server

    opts = ServerOptions(
        host=host,
        port=port,
        config_path=path,
        home=home,
        insecure_no_auth=args.insecure_no_auth,
        port_file=Path(args.port_file) if args.port_file else None,
        tune_gc=True,  # this process is the server: its garbage collector is ours to tune
    )
    if not args.worker:
        pid_path(home).write_text(f"{os.getpid()} {port}\n")
    try:
        try:
            import uvloop

            return uvloop.run(run_server(cfg, opts))
        except ImportError:
            return asyncio.run(run_server(cfg, opts))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=15)
        with contextlib.suppress(OSError):
            if not args.worker and read_pid(home) == os.getpid():
                pid_path(home).unlink()


def spawn_detached(args: argparse.Namespace, host: str, port: int) -> int:
    home: Path = args.home
    cmd = [sys.executable, "-m", "claude_code_mux", "--home", str(home), "--config", str(args.config_path)]
    if not args.config_path.exists():
        cmd = [sys.executable, "-m", "claude_code_mux", "--home", str(home)]
    cmd += ["start", "--host", host, "--port", str(port)]
    if args.insecure_no_auth:
        cmd.append("--insecure-no-auth")
    if args.workers > 1:
        cmd += ["--workers", str(args.workers)]
    log = open(home / "ccm.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"claude-code-mux failed to start; see {home / 'ccm.log'}", file=sys.stderr)
            return 1
        if health_ok(host, port, 0.5):
            print(f"claude-code-mux running in the background (PID {proc.pid}) on http://{host}:{port}")
            return 0
        time.sleep(0.1)
    print(f"claude-code-mux did not answer within 10 s; see {home / 'ccm.log'}", file=sys.stderr)
    return 1


def stop_router(home: Path, timeout: float = 15.0) -> bool:
    pid = read_pid(home)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        pid_path(home).unlink()
    return True


def cmd_stop(args: argparse.Namespace) -> int:
    if stop_router(args.home):
        print("claude-code-mux stopped")
        return 0
    print("claude-code-mux is not running")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    stop_router(args.home)
    args.detach = True
    return cmd_start(args)


def cmd_status(args: argparse.Namespace) -> int:
    pid = read_pid(args.home)
    if pid is None:
        print("claude-code-mux is not running")
        return 3
    port = pid_port(args.home)
    health = "healthy" if port and health_ok("127.0.0.1", port) else "not answering"
    print(f"claude-code-mux is running (PID {pid}, port {port}, {health})")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    for name in ("start", "restart"):
        p = sub.add_parser(name, parents=[common], help=f"{name} the router")
        p.add_argument("--host", default=None, help="bind address (default: server.host)")
        p.add_argument("-p", "--port", type=int, default=None, help="port (default: server.port, 13456)")
        p.add_argument("--detach", action="store_true", help="run in the background")
        p.add_argument("--insecure-no-auth", action="store_true", help="allow a non-loopback bind without api_key")
        p.add_argument("--port-file", default=None, help=argparse.SUPPRESS)
        p.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (SO_REUSEPORT)")
        p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
        p.set_defaults(func=cmd_start if name == "start" else cmd_restart)
    p = sub.add_parser("stop", parents=[common], help="stop the background router")
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser("status", parents=[common], help="is the router running?")
    p.set_defaults(func=cmd_status)
