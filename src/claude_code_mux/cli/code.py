"""``ccm code [claude args…]``: run Claude Code through the router, starting the router when needed.

Every argument after ``code`` goes to ``claude`` untouched (``ccm code -p hi``, ``ccm code -c``, even
``--help``); ccm's own ``--home`` / ``--config`` go before ``code``. The environment is the one described in
:mod:`claude_code_mux.cli.env`, plus ``CCM_HOME`` (and ``CCM_CONFIG`` for an explicit config) so that
``ccm statusline`` inside the session reads the same router, and ``x-ccm-project: <git root name>`` in
``ANTHROPIC_CUSTOM_HEADERS`` for project budgets (:mod:`claude_code_mux.cli.project`).

Lifecycle: the sessions of ``ccm code`` are registered in ``HOME/code_sessions`` (one file per config, see
:mod:`claude_code_mux.cli.instance`; JSON, under a file lock) by
PID. The first session starts the router in the background when none answers and records that it did; the
last one to end stops it again, but only that very process, and never a router that was already running.
Sessions whose process died are pruned, so a killed ``ccm code`` cannot keep the router alive forever.

``claude`` is ``$CLAUDE_BIN`` (a path or a command name) or the first on ``PATH``; without it the command
exits 127. The exit code of ``claude`` is passed through (128+N when a signal N ended it). This module also
registers ``ccm env`` and ``ccm statusline``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from filelock import FileLock

from claude_code_mux.cli import env as env_cmd
from claude_code_mux.cli import instance, project, statusline
from claude_code_mux.cli.common import fail, load_or_default
from claude_code_mux.cli.server import health_ok, spawn_detached, stop_router
from claude_code_mux.config.schema import Config
from claude_code_mux.errors import ConfigError

INSTALL_HINT = (
    "error: Claude Code (`claude`) was not found on PATH.\n"
    "Install it with `npm install -g @anthropic-ai/claude-code`, or set CLAUDE_BIN=/path/to/claude."
)


def find_claude(environ: dict[str, str] | os._Environ[str]) -> str | None:
    """``$CLAUDE_BIN`` (a path, or a name looked up on PATH), else ``claude`` on PATH."""
    want = environ.get("CLAUDE_BIN") or "claude"
    if os.sep in want or (os.altsep and os.altsep in want):
        p = Path(want).expanduser()
        return str(p) if p.is_file() and os.access(p, os.X_OK) else None
    return shutil.which(want, path=environ.get("PATH"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _registry(home: Path, config_path: Path) -> Iterator[dict[str, Any]]:
    """This config's session registry, locked; changes to the yielded dict are saved (atomically) on exit."""
    path = instance.sessions_file(home, config_path)
    with FileLock(str(path) + ".lock", timeout=30):
        try:
            state = json.loads(path.read_text())
            if not isinstance(state, dict):
                state = {}
        except (OSError, ValueError):
            state = {}
        sessions = state.get("sessions")
        state["sessions"] = (
            [p for p in sessions if isinstance(p, int) and _alive(p)] if isinstance(sessions, list) else []
        )
        try:
            yield state
        finally:  # saved even when interrupted: a router we spawned must stay recorded as ours
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(state) + "\n")
            os.replace(tmp, path)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)


def _wait_healthy(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if health_ok(host, port, 0.5):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _running(args: argparse.Namespace) -> instance.Instance | None:
    found = instance.lookup(instance.pid_file(args.home, args.config_path))
    return found if isinstance(found, instance.Instance) else None


def _join(args: argparse.Namespace, cfg: Config) -> tuple[str, int] | int:
    """Register this session and make sure this config's router answers: (host, port), or an exit code.

    Only the router started for this very config is used: a router of another config (or of another home)
    answering on the configured port would receive this config's settings and router key, so that is refused.
    """
    home: Path = args.home
    host = cfg.server.host
    with _registry(home, args.config_path) as state:
        found = _running(args)
        if found is not None:
            port = found.port or cfg.server.port
            if not _wait_healthy(host, port, 5.0):
                print(
                    f"error: the router (PID {found.pid}) does not answer on port {port}; try `ccm restart`",
                    file=sys.stderr,
                )
                return 1
            if not state["sessions"] and state.get("router_pid") != found.pid:
                state["router_pid"] = None  # someone else's router: never stop it
        else:
            port = cfg.server.port
            problem = env_cmd.foreign_router_error(home, args.config_path, port)
            if problem is None and health_ok(host, port, 0.5):
                problem = (
                    f"something already answers on port {port}, but it is not the router of "
                    f"{args.config_path} started from {home} (no PID file for it). Fix: stop it, give this config "
                    "its own server.port, or pass the --home/--config it was started with"
                )
            if problem is not None:
                print(f"error: {problem}", file=sys.stderr)
                return 1
            spawn = argparse.Namespace(home=home, config_path=args.config_path, insecure_no_auth=False, workers=1)
            # The start message goes to stderr: claude's stdout must stay clean (-p --output-format json).
            with contextlib.redirect_stdout(sys.stderr):
                rc = spawn_detached(spawn, host, port, announce=False)
            if rc != 0:
                return rc
            router = _running(args)
            state["router_pid"] = router.pid if router is not None else None
            if router is not None:
                port = router.port or port
                # The router is our child: reap it when it exits, or it would linger as a zombie.
                threading.Thread(target=_reap, args=(router.pid,), daemon=True, name="ccm-reap").start()
        state["sessions"].append(os.getpid())
    return host, port


def _leave(args: argparse.Namespace) -> None:
    """Unregister this session; the last one out stops the router that ``ccm code`` started."""
    with _registry(args.home, args.config_path) as state:
        me = os.getpid()
        state["sessions"] = [p for p in state["sessions"] if p != me]
        owned = state.get("router_pid")
        if not state["sessions"] and owned is not None:
            found = _running(args)
            if found is not None and found.pid == owned:
                stop_router(args)
            state["router_pid"] = None


def _settings_conflicts(names: set[str]) -> list[str]:
    """Variables we set that ``~/.claude/settings.json`` ``env`` would override."""
    path = statusline.claude_settings_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    env = data.get("env") if isinstance(data, dict) else None
    return sorted(n for n in env if n in names) if isinstance(env, dict) else []


def _run(argv: list[str], environ: dict[str, str]) -> int:
    proc = subprocess.Popen(argv, env=environ)

    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    # Ctrl-C reaches claude through the terminal's process group; sending it again would double it.
    old = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN)}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            old[sig] = signal.signal(sig, forward)
    try:
        rc = proc.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 128 - rc if rc < 0 else rc


def cmd_code(args: argparse.Namespace) -> int:
    try:
        cfg, path = load_or_default(args)
    except ConfigError as exc:
        return fail(exc)
    claude = find_claude(os.environ)
    if claude is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 127
    home: Path = args.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    joined = _join(args, cfg)
    if isinstance(joined, int):
        return joined
    try:
        host, port = joined
        env = env_cmd.claude_env(cfg, host=host, port=port, environ=os.environ)
        conflicts = _settings_conflicts(set(env.set))
        if conflicts:
            print(
                f'warning: {statusline.claude_settings_path()} sets {", ".join(conflicts)} in "env", which '
                "overrides what ccm code sets; remove them there",
                file=sys.stderr,
            )
        child_env = env.apply(os.environ)
        child_env["CCM_HOME"] = str(home)
        headers = project.with_project(
            child_env.get("ANTHROPIC_CUSTOM_HEADERS"), project.project_name(Path.cwd(), os.environ)
        )
        if headers:
            child_env["ANTHROPIC_CUSTOM_HEADERS"] = headers
        if path is not None and path != home / "config.toml":
            child_env["CCM_CONFIG"] = str(path)
        return _run([claude, *args.claude_args], child_env)
    finally:
        _leave(args)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    # No `common` parent and no option prefix: every argument, -c and --help included, belongs to claude.
    p = sub.add_parser(
        "code",
        add_help=False,
        prefix_chars="\x00",
        help="run Claude Code through the router (starts it if needed); arguments go to claude",
        description="Run `claude` through the router. ccm options (--home, --config) go before `code`.",
    )
    p.add_argument("claude_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_code)
    env_cmd.add_commands(sub, common)
    statusline.add_commands(sub, common)
