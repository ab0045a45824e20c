"""``ccm accounts``: the running router's account pools — 5h and 7d utilization with reset times, state, pinned
sessions — read from its ``GET /api/accounts`` (found like ``ccm status`` finds it; ``--url`` for another one)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from claude_code_mux.cli import instance
from claude_code_mux.cli.common import fail, load_or_default
from claude_code_mux.errors import ConfigError

TIMEOUT_S = 5.0
MAX_BODY = 4 * 1024 * 1024


def _router_url(args: argparse.Namespace) -> str | None:
    if args.url:
        return str(args.url).rstrip("/")
    found = instance.lookup(instance.pid_file(args.home, args.config_path))
    if not isinstance(found, instance.Instance) or found.port is None:
        return None
    host = "127.0.0.1" if found.host in ("0.0.0.0", "::", "") else found.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{found.port}"


def _admin_key(args: argparse.Namespace) -> str | None:
    key = os.environ.get("CCM_ADMIN_KEY")
    if key:
        return key
    try:
        cfg, _ = load_or_default(args)
    except ConfigError:
        return None
    return cfg.server.admin_key.get_secret_value() if cfg.server.admin_key is not None else None


def fetch_accounts(url: str, admin_key: str | None) -> dict[str, Any]:
    req = urllib.request.Request(url + "/api/accounts", headers={"accept": "application/json"})
    if admin_key:
        req.add_header("x-admin-key", admin_key)
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
        data = json.loads(r.read(MAX_BODY))
    if not isinstance(data, dict):
        raise ValueError("unexpected answer from /api/accounts")
    return data


def cmd_accounts(args: argparse.Namespace) -> int:
    from claude_code_mux.accounts.report import format_table

    url = _router_url(args)
    if url is None:
        print("claude-code-mux is not running (start it with `ccm start`, or pass --url)", file=sys.stderr)
        return 3
    try:
        data = fetch_accounts(url, _admin_key(args))
    except ConfigError as exc:
        return fail(exc)
    except urllib.error.HTTPError as exc:
        hint = " (set CCM_ADMIN_KEY or server.admin_key)" if exc.code in (401, 403) else ""
        print(f"error: {url}/api/accounts answered {exc.code}{hint}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {url}/api/accounts: {exc}", file=sys.stderr)
        return 1
    rows = data.get("accounts") or []
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("accounts", parents=[common], help="account pools: quota windows, state, sessions")
    p.add_argument("--json", action="store_true", help="print the accounts as JSON")
    p.add_argument("--url", default=None, help="the router's URL (default: this config's running router)")
    p.set_defaults(func=cmd_accounts)
