"""``ccm service install --user`` / ``uninstall``: run the router as a systemd user service on this host.

The unit runs the ``ccm`` this command runs from (an absolute path, so a virtualenv install works), with the
same home and config, restarts it on failure, and stops it with SIGTERM so open streams can finish.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

UNIT_NAME = "claude-code-mux.service"


def ccm_executable() -> str:
    """The absolute path of the running ``ccm`` (or ``python -m claude_code_mux`` when run that way)."""
    argv0 = Path(sys.argv[0])
    if argv0.name in ("ccm", "claude-code-mux") and argv0.exists():
        return str(argv0.resolve())
    found = shutil.which("ccm")
    if found:
        return str(Path(found).resolve())
    return f"{Path(sys.executable).resolve()} -m claude_code_mux"


def unit_text(exe: str, home: Path, config: Path | None) -> str:
    cmd = f"{exe} start"
    if config is not None:
        cmd += f" --config {shlex.quote(str(config))}"
    return f"""[Unit]
Description=claude-code-mux: a router for Claude Code
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
Environment=CCM_HOME={home}
ExecStart={cmd}
ExecReload=/bin/kill -HUP $MAINPID
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=2
UMask=0077
NoNewPrivileges=true

[Install]
WantedBy=default.target
"""


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def cmd_service_install(args: argparse.Namespace) -> int:
    if not args.user:
        print("error: only user services are supported: ccm service install --user", file=sys.stderr)
        return 2
    config = args.config_path if Path(args.config_path).exists() else None
    text = unit_text(ccm_executable(), Path(args.home), config)
    path = unit_dir() / UNIT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    print(f"wrote {path}")
    if args.no_start or shutil.which("systemctl") is None:
        print("start it with: systemctl --user daemon-reload && systemctl --user enable --now claude-code-mux")
        return 0
    for step in (["daemon-reload"], ["enable", "--now", "claude-code-mux"]):
        done = subprocess.run(["systemctl", "--user", *step], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            print(f"error: systemctl --user {' '.join(step)}: {done.stderr.strip()}", file=sys.stderr)
            print("the unit is written; fix the above and run: systemctl --user enable --now claude-code-mux")
            return 1
    print("claude-code-mux runs as a user service: systemctl --user status claude-code-mux")
    print("to keep it running after you log out: loginctl enable-linger $USER")
    return 0


def cmd_service_uninstall(args: argparse.Namespace) -> int:
    path = unit_dir() / UNIT_NAME
    if shutil.which("systemctl") is not None and not args.no_start:
        subprocess.run(["systemctl", "--user", "disable", "--now", "claude-code-mux"], capture_output=True, timeout=60)
    if path.exists():
        path.unlink()
        print(f"removed {path}")
    else:
        print(f"no unit at {path}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    svc = sub.add_parser("service", parents=[common], help="run the router as a systemd user service")
    svc_sub = svc.add_subparsers(dest="service_command", metavar="{install,uninstall}")
    for name, func in (("install", cmd_service_install), ("uninstall", cmd_service_uninstall)):
        p = svc_sub.add_parser(name, parents=[common], help=f"{name} the systemd user unit")
        p.add_argument("--user", action="store_true", help="a user service (~/.config/systemd/user)")
        p.add_argument("--no-start", action="store_true", help="write (or remove) the unit only")
        p.set_defaults(func=func)
