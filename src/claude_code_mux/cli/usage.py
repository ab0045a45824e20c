"""``ccm usage [--since 2h|1d|DATE] [--by model|provider|session|route]``: a usage table from usage.db (or the
PostgreSQL database of ``[usage] database``)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime

from claude_code_mux.observe.usage_query import SqliteUsageQuery, UsageQueryError, query_for

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COLUMNS = {"model": "model", "provider": "provider", "session": "session_id", "route": "route"}


def parse_since(text: str, now: float | None = None) -> float:
    now = time.time() if now is None else now
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since: use e.g. 2h, 1d, 30m or an ISO date, not {text!r}") from None


def cmd_usage(args: argparse.Namespace) -> int:
    try:
        query = query_for(args.home, getattr(args, "config_path", None))
    except UsageQueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(query, SqliteUsageQuery) and not query.path.exists():
        print(f"no usage recorded yet ({query.path} does not exist)")
        return 0
    since = args.since or 0.0
    col = _COLUMNS[args.by]
    try:
        rows = query.summary(col, since)  # the same SELECT on SQLite and PostgreSQL (observe/usage_query.py)
    except UsageQueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    head = (
        args.by,
        "requests",
        "errors",
        "input",
        "output",
        "cache_read",
        "cache_write",
        "avg_ms",
        "cost_usd",
    )
    table = [head] + [
        (
            str(r[0]),
            str(r[1]),
            str(r[2] or 0),
            str(r[3] or 0),
            str(r[4] or 0),
            str(r[5] or 0),
            str(r[6] or 0),
            f"{r[7] or 0:.0f}",
            f"{r[8] or 0:.4f}",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for n, row in enumerate(table):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if not rows:
        print("(no requests in this period)")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("usage", parents=[common], help="token usage and cost from usage.db")
    p.add_argument("--since", type=parse_since, default=None, help="e.g. 2h, 1d, 30m or an ISO date")
    p.add_argument("--by", choices=sorted(_COLUMNS), default="model")
    p.set_defaults(func=cmd_usage)
