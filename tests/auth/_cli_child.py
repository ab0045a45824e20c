"""Runs the auth CLI commands the way ``ccm`` wires them: a parent parser with --home and --config."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from claude_code_mux.cli.auth import add_commands


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", type=Path, default=Path(os.environ.get("CCM_HOME", "~/.claude-code-mux")).expanduser()
    )
    common.add_argument("--config", dest="config_path", type=Path, default=None)
    parser = argparse.ArgumentParser(prog="ccm")
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub, common)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.config_path is None:
        args.config_path = args.home / "config.toml"
    return args


if __name__ == "__main__":
    ns = parse(sys.argv[1:])
    sys.exit(int(ns.func(ns)))
