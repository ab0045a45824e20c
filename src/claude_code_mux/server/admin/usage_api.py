"""The admin usage API, read from the usage store: ``GET /api/usage?by=model&since=7d`` (the ``ccm usage``
summary, SQLite or PostgreSQL) and ``GET /api/usage/daily?since=30d`` (per-day series for the UI's charts:
spend stacked by model, tokens by route, cache hit ratio; SQLite ``usage.db``). Queries run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.errors import HttpError, InvalidRequest, NotFound
from claude_code_mux.observe.usage_db import GROUP_BY, daily
from claude_code_mux.observe.usage_query import SqliteUsageQuery, UsageQueryError, query_for
from claude_code_mux.server.admin.context import holder_of, json_response
from claude_code_mux.server.admin.guard import guard

_SPAN = re.compile(r"^(\d{1,5})([mhdw])$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class UsageUnavailable(HttpError):
    status = 503
    error_type = "api_error"


def parse_since(text: str | None, default: str, now: float) -> float:
    """``30m``, ``24h``, ``7d``, ``2w`` back from now, or an ISO date (UTC); 400 otherwise."""
    text = (text or default).strip()
    m = _SPAN.match(text)
    if m:
        return now - int(m.group(1)) * _SECONDS[m.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"since: use e.g. 24h, 7d, 2w or an ISO date, not {text[:40]!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _home(request: Request) -> Path:
    home = holder_of(request).home
    if home is None:
        raise NotFound("this router runs without a home directory, so it records no usage")
    return home


async def handle_usage(request: Request) -> Response:
    guard(request)
    by = request.query_params.get("by", "model")
    if by not in GROUP_BY:
        raise InvalidRequest(f"by: one of {', '.join(GROUP_BY)}, not {by[:40]!r}")
    since = parse_since(request.query_params.get("since"), "7d", time.time())
    holder = holder_of(request)
    query = query_for(_home(request), holder.config_path)
    if isinstance(query, SqliteUsageQuery) and not query.path.exists():
        rows: list[dict[str, object]] = []
    else:
        try:
            rows = [r.to_dict() for r in await asyncio.to_thread(query.spend, by, since)]
        except UsageQueryError as exc:
            raise UsageUnavailable(holder.redactor(str(exc))) from None
    return json_response({"by": by, "since": since, "rows": rows})


def _daily(path: Path, since: float) -> dict[str, Any]:
    if not path.exists():
        return _empty()
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
        try:
            return daily(conn, since)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return _empty()
            raise


def _empty() -> dict[str, Any]:
    return {"days": [], "spend_by_model": {}, "tokens_by_route": {}, "cache_hit_ratio": [], "unpriced": 0}


async def handle_daily(request: Request) -> Response:
    guard(request)
    since = parse_since(request.query_params.get("since"), "30d", time.time())
    holder = holder_of(request)
    query = query_for(_home(request), holder.config_path)
    if not isinstance(query, SqliteUsageQuery):
        raise UsageUnavailable(f"the daily series reads usage.db; usage is recorded in {query.where} (ccm usage)")
    try:
        data = await asyncio.to_thread(_daily, query.path, since)
    except sqlite3.Error as exc:
        raise UsageUnavailable(f"cannot read {query.path}: {exc}") from None
    return json_response({"since": since, **data})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/usage", handle_usage, methods=["GET"]),
        Route("/api/usage/daily", handle_daily, methods=["GET"]),
    ]
