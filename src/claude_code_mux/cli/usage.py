"""``ccm usage [--since 7d|2h|DATE] [--by model|provider|session|route|key|project]``: usage and cost from usage.db.

Costs come from the rows (priced when they were recorded). Rows whose model had no price have a NULL cost and
are counted as "no price", never as $0.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime

from claude_code_mux.cli.table import render
from claude_code_mux.observe.usage_query import SqliteUsageQuery, UsageQueryError, query_for

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BY = ("model", "provider", "session", "route", "key", "project")  # observe.usage_db.GROUP_BY


def parse_since(text: str, now: float | None = None) -> float:
    now = time.time() if now is None else now
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since: use e.g. 2h, 1d, 30m or an ISO date, not {text!r}") from None


def _cost(total: float | None, unpriced: int) -> str:
    """``0.1234``; ``no price`` when no row had one; ``0.1234 +2 no price`` when some had none."""
    if total is None:
        return "no price" if unpriced else "0.0000"
    return f"{total:.4f}" + (f" +{unpriced} no price" if unpriced else "")


def cmd_usage(args: argparse.Namespace) -> int:
    try:
        query = query_for(args.home, getattr(args, "config_path", None))
    except UsageQueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(query, SqliteUsageQuery) and not query.path.exists():
        print(f"no usage recorded yet ({query.path} does not exist)")
        return 0
    try:
        rows = query.spend(args.by, args.since or 0.0)  # the same question on SQLite and PostgreSQL
    except UsageQueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    head = (args.by, "requests", "errors", "input", "output", "cache_read", "cache_write", "avg_ms", "cost_usd")
    body = [
        (
            r.group,
            str(r.requests),
            str(r.errors),
            str(r.input_tokens),
            str(r.output_tokens),
            str(r.cache_read_tokens),
            str(r.cache_write_tokens),
            f"{r.avg_ms:.0f}",
            _cost(r.cost_usd, r.unpriced),
        )
        for r in rows
    ]
    print(render(head, body))
    if rows:
        priced = sum(r.cost_usd or 0.0 for r in rows)
        unpriced = sum(r.unpriced for r in rows)
        print(f"\ntotal: ${priced:.4f}" + (f" + {unpriced} request(s) with no price" if unpriced else ""))
    else:
        print("(no requests in this period)")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("usage", parents=[common], help="token usage and cost from usage.db")
    p.add_argument("--since", type=parse_since, default=None, help="e.g. 7d, 2h, 30m or an ISO date")
    p.add_argument("--by", choices=sorted(_BY), default="model")
    p.set_defaults(func=cmd_usage)
