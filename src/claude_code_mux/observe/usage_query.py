"""The ``ccm usage`` summary query, on SQLite (``usage.db``) or PostgreSQL: same question, same answer.

Each backend groups the usage rows since a time by one column and sums them; the rows come back as plain Python
values (ints and floats, whatever the driver returns) and sorted here (cost, then requests, descending; then the
key), so the two backends print the same table for the same rows. Called from the CLI (no event loop), so the
PostgreSQL side uses psycopg's blocking API.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from claude_code_mux.config.secrets import resolve_env as _resolve_env
from claude_code_mux.config.usage_schema import UsageConfig
from claude_code_mux.observe.usage_db import GROUP_BY, SpendRow, connect, summarize

# One summary row: key, requests, errors, input, output, cache_read, cache_write, avg_ms, cost_usd.
SummaryRow = tuple[str, int, int, int, int, int, int, float, float]


class UsageQueryError(Exception):
    """The usage database could not be read (the message never holds a password)."""


class UsageQuery(Protocol):
    where: str  # what is read, for messages (a path, or a URL without its password)

    def summary(self, column: str, since: float) -> list[SummaryRow]: ...

    def spend(self, by: str, since: float) -> list[SpendRow]:
        """Usage since ``since`` grouped by a ``--by`` name (:data:`GROUP_BY`), costliest first, with the count
        of rows that had no price (their cost is NULL, never 0)."""
        ...


def _normalise(rows: list[tuple[Any, ...]]) -> list[SummaryRow]:
    out: list[SummaryRow] = [
        (
            str(r[0]),
            int(r[1] or 0),
            int(r[2] or 0),
            int(r[3] or 0),
            int(r[4] or 0),
            int(r[5] or 0),
            int(r[6] or 0),
            float(r[7] or 0),
            float(r[8] or 0),
        )
        for r in rows
    ]
    out.sort(key=lambda r: (-round(r[8], 9), -r[1], r[0]))
    return out


class SqliteUsageQuery:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def summary(self, column: str, since: float) -> list[SummaryRow]:
        if column == "route":
            key = "substr(route, 1, instr(route || ':', ':') - 1)"  # the rule, without its reason
        else:
            key = f"coalesce({column}, '-')"
        query = (
            f"SELECT {key} AS k, count(*), sum(status >= 400), sum(input_tokens), sum(output_tokens), "
            "sum(cache_read_tokens), sum(cache_write_tokens), avg(latency_ms), sum(cost_usd) "
            "FROM usage WHERE ts >= ? GROUP BY k"
        )
        try:
            with contextlib.closing(sqlite3.connect(str(self.path))) as conn:
                return _normalise(conn.execute(query, (since,)).fetchall())
        except sqlite3.Error as exc:
            raise UsageQueryError(f"cannot read {self.path}: {exc}") from None

    def spend(self, by: str, since: float) -> list[SpendRow]:
        try:
            with contextlib.closing(connect(self.path)) as conn:  # connect() adds columns an old file lacks
                return _spend_rows([astuple_row(r) for r in summarize(conn, by, since)])
        except sqlite3.Error as exc:
            raise UsageQueryError(f"cannot read {self.path}: {exc}") from None


def _spend_rows(rows: list[tuple[Any, ...]]) -> list[SpendRow]:
    out = [
        SpendRow(
            str(r[0]),
            int(r[1]),
            int(r[2] or 0),
            int(r[3] or 0),
            int(r[4] or 0),
            int(r[5] or 0),
            int(r[6] or 0),
            float(r[7] or 0.0),
            None if r[8] is None else float(r[8]),
            int(r[9] or 0),
        )
        for r in rows
    ]
    out.sort(key=lambda r: (-round(r.cost_usd or 0.0, 9), -r.requests, r.group))
    return out


class PgUsageQuery:
    def __init__(self, url: str, display: str, *, connect_timeout_s: int = 10) -> None:
        self._url = url
        self.where = display
        self._timeout = connect_timeout_s

    def summary(self, column: str, since: float) -> list[SummaryRow]:
        import psycopg  # loaded only when a PostgreSQL database is configured
        from psycopg import sql

        if column == "route":
            key: sql.Composable = sql.SQL("split_part(route, ':', 1)")
        else:
            key = sql.SQL("coalesce({}, '-')").format(sql.Identifier(column))
        query = sql.SQL(
            "SELECT {} AS k, count(*), count(*) FILTER (WHERE status >= 400), sum(input_tokens), "
            "sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), avg(latency_ms), sum(cost_usd) "
            "FROM usage WHERE ts >= %s GROUP BY k"
        ).format(key)
        try:
            with psycopg.connect(self._url, connect_timeout=self._timeout, application_name="ccm usage") as conn:
                return _normalise(conn.execute(query, (since,)).fetchall())
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise UsageQueryError(f"cannot read {self.where}: {first}") from None

    def spend(self, by: str, since: float) -> list[SpendRow]:
        import psycopg
        from psycopg import sql

        col = GROUP_BY[by]
        if col == "route":
            key: sql.Composable = sql.SQL("split_part(route, ':', 1)")
        else:
            key = sql.SQL("coalesce({}, '-')").format(sql.Identifier(col))
        query = sql.SQL(
            "SELECT {} AS k, count(*), count(*) FILTER (WHERE status >= 400), sum(input_tokens), "
            "sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), avg(latency_ms), sum(cost_usd), "
            "count(*) FILTER (WHERE cost_usd IS NULL AND provider IS NOT NULL) "
            "FROM usage WHERE ts >= %s GROUP BY k"
        ).format(key)
        try:
            with psycopg.connect(self._url, connect_timeout=self._timeout, application_name="ccm usage") as conn:
                return _spend_rows(conn.execute(query, (since,)).fetchall())
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise UsageQueryError(f"cannot read {self.where}: {first}") from None


def astuple_row(r: SpendRow) -> tuple[Any, ...]:
    return (
        r.group,
        r.requests,
        r.errors,
        r.input_tokens,
        r.output_tokens,
        r.cache_read_tokens,
        r.cache_write_tokens,
        r.avg_ms,
        r.cost_usd,
        r.unpriced,
    )


def usage_settings(config_path: Path | None, env: Mapping[str, str] | None = None) -> UsageConfig:
    """Only the ``[usage]`` table of the config (``$VAR`` resolved), so ``ccm usage`` works in a shell where the
    providers' keys are not exported. No file: the defaults (SQLite)."""
    env = os.environ if env is None else env
    if config_path is None or not config_path.exists():
        return UsageConfig()
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageQueryError(f"cannot read {config_path}: {exc}") from None
    table = raw.get("usage")
    if not isinstance(table, dict):
        return UsageConfig()
    db = table.get("database")
    if isinstance(db, str):
        resolved = _resolve_env(db, env)
        if resolved is None:
            raise UsageQueryError(f"{config_path}: usage.database refers to {db!r}, which is not set")
        table["database"] = resolved or None
    try:
        return UsageConfig.model_validate(table)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageQueryError(f"{config_path}: usage.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def query_for(home: Path, config_path: Path | None) -> UsageQuery:
    """PostgreSQL when the config names a usage database, else ``home/usage.db``."""
    settings = usage_settings(config_path)
    url = settings.database_url()
    if url is None:
        return SqliteUsageQuery(home / "usage.db")
    return PgUsageQuery(url, settings.display_database() or "")
