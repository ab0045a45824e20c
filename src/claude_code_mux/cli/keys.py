"""``ccm keys create|list|revoke|rotate``: virtual keys for the router (stored hashed in ``HOME/keys.db``).

``create`` and ``rotate`` print the key once; nothing can show it again. A running router picks up changes
within a second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from claude_code_mux.access.admin import key_json
from claude_code_mux.access.keystore import FILENAME, KeyRecord, KeyStore, parse_budget, parse_duration
from claude_code_mux.cli.table import render
from claude_code_mux.errors import KeyStoreError


def _store(args: argparse.Namespace) -> KeyStore:
    return KeyStore(args.home / FILENAME)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _show_new(key: str, rec: KeyRecord, verb: str) -> None:
    print(key)
    limits = []
    if rec.models:
        limits.append(f"models {','.join(rec.models)}")
    if rec.rps:
        limits.append(f"{rec.rps:g} req/s")
    if rec.budget_usd:
        limits.append(f"${rec.budget_usd:g}/{rec.budget_period}")
    if rec.expires:
        limits.append(f"expires {_when(rec.expires)} UTC")
    print(
        f"{verb} key {rec.name!r}" + (f" ({'; '.join(limits)})" if limits else "") + ". It is shown only now: "
        "give it to the client as ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN.",
        file=sys.stderr,
    )


def cmd_create(args: argparse.Namespace) -> int:
    try:
        models = tuple(m.strip() for m in (args.models or "").split(",") if m.strip())
        budget = parse_budget(args.budget) if args.budget else None
        expires = parse_duration(args.expires) if args.expires else None
        key, rec = _store(args).create(args.name, models=models, rps=args.rps, budget=budget, expires_in=expires)
    except KeyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _show_new(key, rec, "created")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    try:
        expires = parse_duration(args.expires) if args.expires else None
        key, rec = _store(args).rotate(args.name, expires_in=expires)
    except KeyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _show_new(key, rec, "rotated")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    try:
        rec = _store(args).revoke(args.name)
    except KeyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"revoked key {rec.name!r} (…{rec.hint})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    now = time.time()
    recs = _store(args).all()
    if not args.all:
        recs = [r for r in recs if r.state(now) == "active"]
    if args.json:
        out = [key_json(r, now) for r in recs]
        print(json.dumps(out, indent=1))
        return 0
    if not recs:
        print("no keys" + ("" if args.all else " (active; --all shows revoked and expired ones)"))
        return 0
    head = ("name", "id", "key", "state", "created", "expires", "models", "rps", "budget")
    rows = [
        (
            r.name,
            r.id,
            f"ccm-…{r.hint}",
            r.state(now),
            _when(r.created),
            _when(r.expires),
            ",".join(r.models) or "all",
            f"{r.rps:g}" if r.rps else "-",
            f"${r.budget_usd:g}/{r.budget_period}" if r.budget_usd else "-",
        )
        for r in recs
    ]
    print(render(head, rows, left=len(head)))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("keys", parents=[common], help="virtual keys: create, list, revoke, rotate")
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    c = ks.add_parser("create", parents=[common], help="create a key and print it once")
    c.add_argument("name", help="who the key is for (budgets use key:NAME)")
    c.add_argument("--budget", help="spend limit, e.g. 50/month, 5/day, 20/week, 100/total (blocks when reached)")
    c.add_argument("--models", help="allowed models, comma-separated names or globs (e.g. sonnet,haiku,glm-*)")
    c.add_argument("--rps", type=float, default=None, help="requests per second for this key")
    c.add_argument("--expires", help="lifetime, e.g. 12h, 30d, 2w, 6m, 1y")
    c.set_defaults(func=cmd_create)
    ls = ks.add_parser("list", parents=[common], help="list keys (never the keys themselves)")
    ls.add_argument("--all", action="store_true", help="include revoked and expired keys")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    r = ks.add_parser("revoke", parents=[common], help="revoke a key by name or id")
    r.add_argument("name")
    r.set_defaults(func=cmd_revoke)
    ro = ks.add_parser("rotate", parents=[common], help="replace a key with a new one (same settings)")
    ro.add_argument("name")
    ro.add_argument("--expires", help="lifetime of the new key (default: the old key's)")
    ro.set_defaults(func=cmd_rotate)
