"""Shared CLI plumbing: resolving the home dir and config path, loading the config for a command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from claude_code_mux.config.default import DEFAULT_CONFIG_TOML
from claude_code_mux.config.load import default_config_path, default_home, load_config, parse_config
from claude_code_mux.config.schema import Config
from claude_code_mux.errors import ConfigError, ConfigProblems


def common_parser() -> argparse.ArgumentParser:
    """Options accepted both before and after the subcommand."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "-c",
        "--config",
        dest="config",
        default=argparse.SUPPRESS,
        help="config file (default: $CCM_CONFIG or HOME/config.toml)",
    )
    p.add_argument(
        "--home",
        dest="home_dir",
        default=argparse.SUPPRESS,
        help="ccm home dir (default: $CCM_HOME or ~/.claude-code-mux)",
    )
    return p


def resolve_paths(args: argparse.Namespace) -> None:
    home_dir = getattr(args, "home_dir", None)
    args.home = Path(home_dir).expanduser() if home_dir else default_home()
    cfg = getattr(args, "config", None)
    if cfg:
        args.config_path = Path(cfg).expanduser()
    elif home_dir and not os.environ.get("CCM_CONFIG"):
        args.config_path = args.home / "config.toml"
    else:
        args.config_path = default_config_path()


def load_or_default(args: argparse.Namespace) -> tuple[Config, Path | None]:
    """The config file when it exists, otherwise the embedded default (zero configuration)."""
    path: Path = args.config_path
    explicit = bool(getattr(args, "config", None) or os.environ.get("CCM_CONFIG"))
    if path.exists() or explicit:
        return load_config(path), path
    return parse_config(DEFAULT_CONFIG_TOML, path="<embedded default>"), None


def fail(exc: ConfigError) -> int:
    """Print the config error (every problem, when there are several) and return exit code 2."""
    for problem in exc.problems if isinstance(exc, ConfigProblems) else [exc]:
        print(f"error: {problem}", file=sys.stderr)
    return 2
