"""Entry point of ``ccm`` / ``claude-code-mux``."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence

from claude_code_mux import __version__

# Command groups; each module has add_commands(sub, common). Missing optional ones are skipped.
_GROUPS = (
    "claude_code_mux.cli.server",
    "claude_code_mux.cli.config_cmd",
    "claude_code_mux.cli.auth",
    "claude_code_mux.cli.route",
    "claude_code_mux.cli.models",
    "claude_code_mux.cli.code",
    "claude_code_mux.cli.usage",
    "claude_code_mux.cli.prices",
    "claude_code_mux.cli.keys",
    "claude_code_mux.cli.bench",
    "claude_code_mux.cli.service",
    "claude_code_mux.cli.accounts",
)
# The commands of ``cli.server``: running one of them builds a parser of that group alone, so starting the
# router does not import every other command's modules (logins, prices, config editing: ~0.3 s and ~10 MB).
_SERVER_GROUP = "claude_code_mux.cli.server"
_SERVER_COMMANDS = frozenset({"start", "restart", "stop", "status"})


def _command(args: Sequence[str]) -> str | None:
    """The subcommand named in ``args``: the first word that is neither an option nor a common option's value
    (never an error: the real parser reports those)."""
    words = iter(args)
    for word in words:
        if word in ("-c", "--config", "--home"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(groups: Sequence[str] = _GROUPS) -> argparse.ArgumentParser:
    from claude_code_mux.cli.common import common_parser

    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="ccm",
        description="claude-code-mux: route Claude Code to any provider, with failover.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"claude-code-mux {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in groups:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name == mod_name:
                continue
            raise
        mod.add_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["statusline"]:
        # Claude Code runs the statusline on every refresh: answer without importing the server stack.
        from claude_code_mux.cli.statusline import fast_main

        rc = fast_main(args_list[1:])
        if rc is not None:
            return rc
    command = _command(args_list)
    collecting = gc.isenabled()
    if command == "start":
        # Everything imported and built before the server serves lives as long as the process: no collection
        # would free it. The server freezes it and turns the collector back on (server/run.py settle_gc).
        gc.disable()
    try:
        parser = build_parser((_SERVER_GROUP,) if command in _SERVER_COMMANDS else _GROUPS)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        from claude_code_mux.cli.common import resolve_paths

        resolve_paths(args)
        try:
            rc = args.func(args)
        except KeyboardInterrupt:
            return 130
        return int(rc or 0)
    finally:
        if collecting:
            gc.enable()


if __name__ == "__main__":
    sys.exit(main())
