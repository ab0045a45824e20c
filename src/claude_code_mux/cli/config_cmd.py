"""``ccm init``, ``ccm config check`` and ``ccm model`` (the routing table)."""

from __future__ import annotations

import argparse
import stat
import sys
from pathlib import Path

from claude_code_mux.cli.common import fail, load_or_default
from claude_code_mux.config.default import DEFAULT_CONFIG_TOML
from claude_code_mux.config.edit import write_atomic
from claude_code_mux.config.load import load_config
from claude_code_mux.errors import ConfigError, ConfigProblems
from claude_code_mux.runtime import build_providers


def ensure_home(home: Path) -> None:
    """Create the ccm home 0700 (it holds keys and logins); warn when an existing one is open to others."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077:
        print(
            f"warning: {home} is accessible to other users (mode {mode:04o}) and holds keys and logins; "
            f"fix: chmod 700 {home}",
            file=sys.stderr,
        )


def cmd_init(args: argparse.Namespace) -> int:
    path = args.config_path
    if path.exists() and not args.force:
        print(f"{path} already exists (use --force to overwrite)", file=sys.stderr)
        return 1
    ensure_home(args.home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, DEFAULT_CONFIG_TOML)  # 0600, replaced atomically
    print(f"wrote {path}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config_path)
    except ConfigProblems as exc:
        fail(exc)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n > 1 else ''} in {args.config_path}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        return fail(exc)
    print(f"{args.config_path}: OK ({len(cfg.providers)} providers, {len(cfg.models)} models)")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    try:
        cfg, path = load_or_default(args)
    except ConfigError as exc:
        return fail(exc)
    r = cfg.router
    print(f"config: {path or '<embedded default>'}")
    print("routes:")
    for key in ("default", "background", "think", "websearch", "image", "long_context"):
        val = getattr(r, key)
        extra = f" (> {r.long_context_threshold} tokens)" if key == "long_context" and val else ""
        print(f"  {key:<13} {val or '-'}{extra}")
    print(f"  auto_map      {'on ' + repr(r.auto_map_regex) if r.auto_map else 'off'}")
    print(f"  rule order    {', '.join(x for x in r.order if x not in r.disabled)}")
    providers = build_providers(cfg)
    print("providers:")
    for p in cfg.providers:
        built = providers.get(p.name)
        state = "enabled" if p.enabled else "disabled"
        where = built.base_url if built else "-"
        dialect = built.dialect if built else "-"
        print(f"  {p.name:<16} {p.provider_type:<12} {dialect:<9} {p.auth_type:<11} {state:<8} {where}")
    if cfg.models:
        print("models:")
        for m in cfg.models:
            maps = ", ".join(
                f"{mp.priority}:{mp.provider}/{mp.actual_model}" for mp in sorted(m.mappings, key=lambda x: x.priority)
            )
            print(f"  {m.name:<24} {maps}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="write a commented default config")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("model", parents=[common], help="print the routing table and providers")
    p.set_defaults(func=cmd_model)
    cfg = sub.add_parser("config", parents=[common], help="config commands")
    csub = cfg.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    p = csub.add_parser("check", parents=[common], help="validate the config file")
    p.set_defaults(func=cmd_check)
