"""``ccm start | stop | restart | status``: run the server in the foreground or detached, with a PID file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from claude_code_mux.cli import instance
from claude_code_mux.cli.common import fail, load_or_default
from claude_code_mux.errors import ConfigError


def health_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    import urllib.request  # not imported by `ccm start` itself (http.client, email: ~3 ms)

    h = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in h and not h.startswith("["):
        h = f"[{h}]"
    try:
        with urllib.request.urlopen(f"http://{h}:{port}/health", timeout=timeout) as r:
            return bool(r.status == 200)
    except (OSError, ValueError):
        return False


def this_pid_file(args: argparse.Namespace) -> Path:
    """The PID file of the router of this command's config (see :mod:`claude_code_mux.cli.instance`)."""
    return instance.pid_file(args.home, args.config_path)


def find_router(args: argparse.Namespace) -> instance.Instance | None:
    """This config's running router; a stale PID file is removed with a note on stderr."""
    found = instance.lookup(this_pid_file(args))
    if isinstance(found, instance.Stale):
        print(f"note: removed a stale PID file ({found.why}; nothing was signalled)", file=sys.stderr)
        return None
    return found


def _config_args(args: argparse.Namespace) -> list[str]:
    """``--config PATH`` when this command's config is not the home's default one, for printed commands."""
    path: Path = args.config_path
    if instance.config_key(args.home, path):
        return ["--config", str(path)]
    return []


def next_steps(args: argparse.Namespace, host: str, port: int) -> str:
    """What to do now that the router answers: point Claude Code at it."""
    from claude_code_mux.cli.env import base_url

    url = base_url(host, port)
    ccm = " ".join(["ccm", *(shlex.quote(a) for a in _config_args(args))])
    return (
        "Next steps:\n"
        f"  {ccm} code                              run Claude Code through this router\n"
        f'  export ANTHROPIC_BASE_URL={url}   for plain `claude` (all settings: eval "$({ccm} env)")\n'
        f"  {url}/                         web UI (routing, providers, logins, live requests)"
    )


async def _announce_when_ready(
    args: argparse.Namespace, host: str, port_file: Path, pid_file: Path | None, config: Path | None
) -> None:
    """Once the server has bound (it writes ``port_file``): record the real port and print the next steps."""
    while True:
        with contextlib.suppress(OSError, ValueError):
            port = int(await asyncio.to_thread(port_file.read_text))
            break
        await asyncio.sleep(0.05)
    if pid_file is not None:
        await asyncio.to_thread(instance.record, pid_file, port=port, host=host, config=config)
    if not args.worker:
        print(f"claude-code-mux is ready on http://{host}:{port}\n{next_steps(args, host, port)}", flush=True)


WORKERS_READY_S = 60.0


async def _workers_ready(children: list[subprocess.Popen[bytes]], port_files: list[Path]) -> str | None:
    """Wait until every other worker serves (it writes its port file once it listens); why not, if one exited.
    A worker still starting after :data:`WORKERS_READY_S` is waited for no longer (it joins when it listens)."""
    deadline = time.monotonic() + WORKERS_READY_S
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                return f"a worker (PID {child.pid}) exited with code {child.returncode} before it served"
        if all(f.exists() and f.stat().st_size for f in port_files):
            return None
        await asyncio.sleep(0.02)
    return None


def cmd_start(args: argparse.Namespace) -> int:
    try:
        cfg, path = load_or_default(args)
    except ConfigError as exc:
        return fail(exc)
    host = args.host or cfg.server.host
    port = args.port if args.port is not None else cfg.server.port
    home: Path = args.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    running = None if args.worker else find_router(args)
    if running is not None:
        print(
            f"claude-code-mux is already running for this config (PID {running.pid}, port {running.port}); "
            "use `ccm restart`",
            file=sys.stderr,
        )
        return 1
    if args.detach:
        return spawn_detached(args, host, port)
    children: list[subprocess.Popen[bytes]] = []
    worker_files: list[Path] = []
    sock = None
    if args.workers > 1:
        # SO_REUSEPORT: every worker binds the same port and the kernel spreads connections over those that listen.
        # This process binds first (so a port 0 is one port for all) and listens only once every other worker
        # does: a connection made before would stay with the first worker for as long as the client keeps it.
        # Token refreshes stay safe across workers through the token store's file lock.
        from claude_code_mux.server.listen import bind_socket

        try:
            sock = bind_socket(host, port, reuse_port=True)
        except OSError as exc:
            print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        port = sock.getsockname()[1]
        os.environ["CCM_REUSEPORT"] = "1"
        cmd = [sys.executable, "-m", "claude_code_mux", "--home", str(home)]
        if path is not None:
            cmd += ["--config", str(path)]
        cmd += ["start", "--worker", "--host", host, "--port", str(port)]
        if args.insecure_no_auth:
            cmd.append("--insecure-no-auth")
        worker_files = [home / f".ccm-worker.{os.getpid()}.{i}.port" for i in range(1, args.workers)]
        for f in worker_files:
            with contextlib.suppress(OSError):
                f.unlink()
        children = [subprocess.Popen([*cmd, "--port-file", str(f)], stdin=subprocess.DEVNULL) for f in worker_files]
    from claude_code_mux.server.run import ServerOptions, run_server

    own_port_file = args.port_file is None
    port_file = Path(args.port_file) if args.port_file else home / f".ccm-ready.{os.getpid()}.port"
    with contextlib.suppress(OSError):
        port_file.unlink()
    opts = ServerOptions(
        host=host,
        port=port,
        config_path=path,
        home=home,
        insecure_no_auth=args.insecure_no_auth,
        port_file=port_file,
        tune_gc=True,  # this process is the server: its garbage collector is ours to tune
        sock=sock,
    )
    pid_file = None if args.worker else this_pid_file(args)
    if pid_file is not None:
        instance.record(pid_file, port=port, host=host, config=path)

    async def serve() -> int:
        failed = await _workers_ready(children, worker_files)
        if failed is not None:
            print(f"error: {failed}", file=sys.stderr)
            return 1
        announce = asyncio.create_task(_announce_when_ready(args, host, port_file, pid_file, path))
        try:
            return await run_server(cfg, opts)
        finally:
            announce.cancel()

    try:
        try:
            import uvloop

            return uvloop.run(serve())
        except ImportError:
            return asyncio.run(serve())
    finally:
        for child in children:
            child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=15)
        if pid_file is not None:
            mine = instance.lookup(pid_file)
            if isinstance(mine, instance.Instance) and mine.pid == os.getpid():
                instance.remove(mine)
        if own_port_file:
            with contextlib.suppress(OSError):
                port_file.unlink()
        for f in worker_files:
            with contextlib.suppress(OSError):
                f.unlink()


READY_TIMEOUT_S = 20.0


def _log_since(log_path: Path, offset: int) -> list[str]:
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read(64 * 1024).decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()]


def spawn_detached(args: argparse.Namespace, host: str, port: int, *, announce: bool = True) -> int:
    """Start the router in the background and wait until it is ready; report its real outcome.

    Ready means the child bound its socket (it writes a port file only then) and answers ``/health`` there,
    so a router of another process that already answers on the port is never mistaken for ours.
    """
    home: Path = args.home
    cmd = [sys.executable, "-m", "claude_code_mux", "--home", str(home), "--config", str(args.config_path)]
    if not args.config_path.exists():
        cmd = [sys.executable, "-m", "claude_code_mux", "--home", str(home)]
    ready = home / f".ccm-ready.{os.getpid()}.{time.monotonic_ns()}.port"
    cmd += ["start", "--host", host, "--port", str(port), "--port-file", str(ready)]
    if args.insecure_no_auth:
        cmd.append("--insecure-no-auth")
    if args.workers > 1:
        cmd += ["--workers", str(args.workers)]
    log_path = home / "ccm.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    offset = log.tell()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            rc = proc.poll()
            if rc is not None:
                lines = _log_since(log_path, offset)
                errors = [line for line in lines if line.startswith("error:")] or lines[-5:]
                detail = "\n".join(f"  {line}" for line in errors)
                print(
                    f"claude-code-mux failed to start (exit {rc}):\n{detail}\n(full log: {log_path})",
                    file=sys.stderr,
                )
                return rc or 1
            try:
                actual = int(ready.read_text())
            except (OSError, ValueError):
                actual = None
            if actual is not None and health_ok(host, actual, 0.5):
                print(f"claude-code-mux running in the background (PID {proc.pid}) on http://{host}:{actual}")
                if announce:
                    print(next_steps(args, host, actual))
                return 0
            time.sleep(0.1)
    finally:
        with contextlib.suppress(OSError):
            ready.unlink()
    print(
        f"claude-code-mux (PID {proc.pid}) did not become ready within {READY_TIMEOUT_S:.0f} s; see {log_path}",
        file=sys.stderr,
    )
    return 1


def stop_router(args: argparse.Namespace, timeout: float = 15.0) -> instance.Instance | instance.Stale | None:
    """Stop this config's router: SIGTERM, then SIGKILL after ``timeout``, only ever to a verified router."""
    found = instance.lookup(this_pid_file(args))
    if not isinstance(found, instance.Instance):
        return found
    with contextlib.suppress(ProcessLookupError):
        os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while instance.still_running(found):
        if time.monotonic() >= deadline:
            if instance.still_running(found):  # checked again: never a PID that was reused meanwhile
                with contextlib.suppress(ProcessLookupError):
                    os.kill(found.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    instance.remove(found)
    return found


def _others_hint(args: argparse.Namespace) -> str:
    other = instance.others(args.home, this_pid_file(args))
    if not other:
        return ""
    listed = "; ".join(f"PID {i.pid}, port {i.port}, config {i.config or '<default>'}" for i in other)
    return f" for config {args.config_path} (other routers from this home: {listed}; pass their --config)"


def cmd_stop(args: argparse.Namespace) -> int:
    found = stop_router(args)
    if isinstance(found, instance.Instance):
        print(f"claude-code-mux stopped (PID {found.pid})")
    elif isinstance(found, instance.Stale):
        print(f"claude-code-mux is not running (stale PID file removed: {found.why}; nothing was signalled)")
    else:
        print(f"claude-code-mux is not running{_others_hint(args)}")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    stop_router(args)
    args.detach = True
    return cmd_start(args)


def cmd_status(args: argparse.Namespace) -> int:
    found = instance.lookup(this_pid_file(args))
    if isinstance(found, instance.Stale):
        print(f"claude-code-mux is not running (stale PID file removed: {found.why}; nothing was signalled)")
        return 3
    if found is None:
        print(f"claude-code-mux is not running{_others_hint(args)}")
        return 3
    answering = found.port is not None and health_ok(found.host, found.port)
    # The PID was verified before the health check; make sure it did not die meanwhile.
    if not instance.still_running(found):
        print("claude-code-mux is not running (it exited just now)")
        return 3
    health = "healthy" if answering else "not answering"
    where = f", config {found.config}" if found.config else ""
    print(f"claude-code-mux is running (PID {found.pid}, port {found.port}, {health}{where})")
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
