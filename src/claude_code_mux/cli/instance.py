"""The router instance of one config: its PID file, whether that PID really is our router, where it listens.

One home may run several routers, one per config file, so every per-router file is keyed by the config:
``HOME/ccm.pid`` (and ``HOME/code_sessions``) for the home's own ``config.toml`` or the embedded default, and
``HOME/ccm-<hash>.pid`` (``HOME/code_sessions-<hash>``) for any other config file, ``<hash>`` naming its
absolute path. ``ccm status``, ``stop``, ``env`` and ``code`` therefore only ever see the router of the config
they were given.

The PID file is JSON: ``pid``, ``port``, ``host``, ``config``, and the identity of the process that wrote it
(its start time and command line, as the OS reports them). It is believed only while a live process with that
PID has that same identity; otherwise it is stale (the router died; the PID may now belong to any program) and
is removed, and nothing is ever signalled on its word. A file of the older ``"PID PORT"`` form is believed
only when that PID's command line is ccm's.

Standard library only: ``ccm statusline`` reads it on every refresh of Claude Code's status line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

_SCRIPT_NAMES = ("ccm", "claude-code-mux")


@dataclass(frozen=True, slots=True)
class Identity:
    """What the OS says about a live process: enough to tell it from a later process with the same PID."""

    started: str
    cmdline: str


@dataclass(frozen=True, slots=True)
class Instance:
    """A verified, running router."""

    pid: int
    port: int | None
    host: str
    config: str | None
    pid_file: Path
    ident: Identity | None  # None: an older PID file without one (then the command line was checked)


@dataclass(frozen=True, slots=True)
class Stale:
    """A PID file that does not describe a running router of ours (already removed)."""

    pid: int
    why: str
    pid_file: Path


# ------------------------------------------------------------------------------------------- naming


def _same_file(a: Path, b: Path) -> bool:
    return os.path.abspath(a.expanduser()) == os.path.abspath(b.expanduser())


def config_key(home: Path, config_path: Path | None) -> str:
    """``""`` for the home's own config.toml (or none), else a short hash of the config's absolute path."""
    if config_path is None or _same_file(config_path, home / "config.toml"):
        return ""
    return hashlib.sha256(os.path.abspath(config_path.expanduser()).encode()).hexdigest()[:12]


def pid_file(home: Path, config_path: Path | None) -> Path:
    key = config_key(home, config_path)
    return home / (f"ccm-{key}.pid" if key else "ccm.pid")


def sessions_file(home: Path, config_path: Path | None) -> Path:
    key = config_key(home, config_path)
    return home / (f"code_sessions-{key}" if key else "code_sessions")


# ----------------------------------------------------------------------------------------- identity


def _identity_proc(pid: int) -> Identity | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3, starttime 22
    if fields[0] in ("Z", "X"):  # a zombie has exited: it is not running anything
        return None
    cmdline = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return Identity(started=fields[19], cmdline=cmdline)


def _identity_ps(pid: int) -> Identity | None:
    import subprocess  # only where there is no /proc; the status line's fast path stays lean

    try:
        out = subprocess.run(
            ["ps", "-o", "stat=", "-o", "lstart=", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return _identity_alive(pid)
    line = out.stdout.strip()
    if out.returncode != 0 or not line:
        return None
    parts = line.split()
    if parts[0].startswith("Z"):
        return None
    return Identity(started=" ".join(parts[1:6]), cmdline=" ".join(parts[6:]))


def _identity_alive(pid: int) -> Identity | None:
    """Last resort where neither /proc nor ps answers: alive or not, nothing more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return Identity(started="?", cmdline="?")


def identity(pid: int) -> Identity | None:
    """The identity of live process ``pid``; None when there is no such process (or only its zombie)."""
    if pid <= 0:
        return None
    if sys.platform.startswith("linux") and Path("/proc/self/stat").exists():
        try:
            return _identity_proc(pid)
        except (OSError, ValueError, IndexError):
            return _identity_alive(pid)
    return _identity_ps(pid)


def _looks_like_ccm(cmdline: str) -> bool:
    words = cmdline.split()
    return "claude_code_mux" in cmdline or any(Path(w).name in _SCRIPT_NAMES for w in words[:2])


# -------------------------------------------------------------------------------------- the PID file


def record(path: Path, *, port: int | None, host: str, config: Path | None) -> None:
    """Write this process's PID file (atomically)."""
    me = identity(os.getpid())
    data = {
        "pid": os.getpid(),
        "port": port,
        "host": host,
        "config": str(config) if config is not None else None,
        "started": me.started if me else None,
        "cmdline": me.cmdline if me else None,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)


def _read(path: Path) -> tuple[dict[str, object], str] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        parts = text.split()  # the older "PID PORT" form
        try:
            data = {"pid": int(parts[0]), "port": int(parts[1]) if len(parts) > 1 else None}
        except (ValueError, IndexError):
            return {"pid": 0}, text
    return (data, text) if isinstance(data, dict) else ({"pid": 0}, text)


def _remove_if_unchanged(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        if path.read_text() == text:  # not replaced meanwhile by a router that just started
            path.unlink()


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def lookup(path: Path) -> Instance | Stale | None:
    """The router the PID file describes, verified; a stale file is removed and reported; None: no file."""
    got = _read(path)
    if got is None:
        return None
    data, text = got
    pid = _int(data.get("pid")) or 0
    now = identity(pid)
    why = ""
    if now is None:
        why = f"PID {pid} is not running" if pid > 0 else "the PID file is unreadable"
    elif "started" in data:
        if (data.get("started"), data.get("cmdline")) != (now.started, now.cmdline):
            why = f"PID {pid} now belongs to another program ({now.cmdline[:80] or '?'})"
    elif not _looks_like_ccm(now.cmdline):
        why = f"PID {pid} is not claude-code-mux ({now.cmdline[:80] or '?'})"
    if why:
        _remove_if_unchanged(path, text)
        return Stale(pid=pid, why=why, pid_file=path)
    host = data.get("host")
    config = data.get("config")
    return Instance(
        pid=pid,
        port=_int(data.get("port")),
        host=host if isinstance(host, str) else "127.0.0.1",
        config=config if isinstance(config, str) else None,
        pid_file=path,
        ident=now if "started" in data else None,
    )


def still_running(inst: Instance) -> bool:
    """Whether the process of a verified instance is still that process (not exited, PID not reused)."""
    now = identity(inst.pid)
    if now is None:
        return False
    return now == inst.ident if inst.ident is not None else _looks_like_ccm(now.cmdline)


def remove(inst: Instance) -> None:
    """Remove the PID file if it still names this instance's PID."""
    got = _read(inst.pid_file)
    if got is not None and _int(got[0].get("pid")) == inst.pid:
        _remove_if_unchanged(inst.pid_file, got[1])


def others(home: Path, mine: Path) -> list[Instance]:
    """Verified routers of the other configs of this home."""
    out: list[Instance] = []
    for path in sorted(home.glob("ccm*.pid")):
        if path.name != mine.name:
            found = lookup(path)
            if isinstance(found, Instance):
                out.append(found)
    return out


def owner_of_port(home: Path, mine: Path, port: int) -> Instance | None:
    """The router of another config of this home that listens on ``port``, if any."""
    return next((i for i in others(home, mine) if i.port == port), None)
