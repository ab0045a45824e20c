"""The usage store's SQLite schema (``HOME/usage.db``): the table, the columns added since, and opening a file
of any age, and the per-group summary behind ``ccm usage`` (and an admin usage endpoint). Shared by the writer
(:mod:`.usage`), ``ccm usage`` and the budget ledger; imports nothing heavy.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
  ts REAL NOT NULL,
  request_id TEXT,
  session_id TEXT,
  route TEXT,
  provider TEXT,
  model TEXT,
  client_model TEXT,
  status INTEGER,
  input_tokens INTEGER DEFAULT 0,
  output_tokens INTEGER DEFAULT 0,
  cache_read_tokens INTEGER DEFAULT 0,
  cache_write_tokens INTEGER DEFAULT 0,
  latency_ms REAL,
  ttfb_ms REAL,
  cost_usd REAL DEFAULT 0,
  key_name TEXT,
  project TEXT,
  endpoint TEXT,
  error_type TEXT
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage(ts);
"""
# Columns added after the first release: (name, SQL type). Old files gain them on open.
ADDED_COLUMNS = (("key_name", "TEXT"), ("project", "TEXT"), ("endpoint", "TEXT"), ("error_type", "TEXT"))
COLUMNS = (
    "ts, request_id, session_id, route, provider, model, client_model, status, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_tokens, latency_ms, ttfb_ms, cost_usd, key_name, project"
)
# What the writer fills: the above, then which endpoint and, for a failed request, the error type.
WRITER_COLUMNS = COLUMNS + ", endpoint, error_type"
WRITER_COLUMN_NAMES = tuple(c.strip() for c in WRITER_COLUMNS.split(","))


PARTIAL_INDEXED = ("key_name", "project")


def migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a file written by an older version lacks (NULL in its old rows)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
    for name, sql_type in ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE usage ADD COLUMN {name} {sql_type}")
    # Budgets read spend per scope and period (``col = ? AND ts >= ?``): keep that an index range scan. Most rows
    # have no virtual key or project, so those two indexes hold only the rows that have one (SQLite uses a
    # partial index for ``col = ?``); each index a row enters costs the writer ~1.5 µs of CPU per row.
    conn.execute("CREATE INDEX IF NOT EXISTS usage_session_id ON usage(session_id, ts)")
    for col in PARTIAL_INDEXED:
        conn.execute(f"DROP INDEX IF EXISTS usage_{col}")  # the full index of earlier versions
        conn.execute(f"CREATE INDEX IF NOT EXISTS usage_{col}_set ON usage({col}, ts) WHERE {col} IS NOT NULL")
    conn.commit()


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10)
    conn.executescript(SCHEMA)
    migrate(conn)
    return conn


# ``--by`` name -> usage column (route: its rule, the part before ":")
GROUP_BY = {
    "model": "model",
    "provider": "provider",
    "session": "session_id",
    "route": "route",
    "key": "key_name",
    "project": "project",
}


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One group of ``summarize``: requests, errors, tokens, latency and cost (None: no row had a price)."""

    group: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    avg_ms: float
    cost_usd: float | None
    unpriced: int  # requests whose model had no price

    def to_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__slots__}


def summarize(conn: sqlite3.Connection, by: str, since: float) -> list[SpendRow]:
    """Usage since epoch ``since`` grouped by ``by`` (a :data:`GROUP_BY` name), the costliest first."""
    col = GROUP_BY[by]
    key = "substr(route, 1, instr(route || ':', ':') - 1)" if col == "route" else f"coalesce({col}, '-')"
    sql = (
        f"SELECT {key} AS k, count(*), sum(status >= 400), sum(input_tokens), sum(output_tokens), "
        "sum(cache_read_tokens), sum(cache_write_tokens), avg(latency_ms), sum(cost_usd), "
        "sum(cost_usd IS NULL AND provider IS NOT NULL) "
        "FROM usage WHERE ts >= ? GROUP BY k ORDER BY coalesce(sum(cost_usd), 0) DESC, count(*) DESC"
    )
    return [
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
        for r in conn.execute(sql, (since,))
    ]


def daily(conn: sqlite3.Connection, since: float, *, top: int = 8) -> dict[str, Any]:
    """Per-day (UTC) series since epoch ``since``, for the UI's Usage charts: spend stacked by model, tokens
    stacked by route rule, and the cache hit ratio (cache reads over all input tokens; None for a day with no
    input). At most ``top`` models or routes are named; the rest are summed as ``other``. A day without rows
    is absent from ``days``; spend of unpriced rows counts 0 (their ``unpriced`` count says how many)."""
    rule = "substr(route, 1, instr(route || ':', ':') - 1)"
    sql = (
        f"SELECT date(ts, 'unixepoch') AS d, coalesce(model, '-'), coalesce({rule}, '-'), "
        "sum(coalesce(cost_usd, 0)), sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens), "
        "sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), "
        "sum(cost_usd IS NULL AND provider IS NOT NULL) "
        "FROM usage WHERE ts >= ? GROUP BY d, 2, 3 ORDER BY d"
    )
    rows = conn.execute(sql, (since,)).fetchall()
    days = sorted({str(r[0]) for r in rows})
    index = {d: i for i, d in enumerate(days)}

    def ranked(col: int, weight: int) -> list[str]:
        totals: dict[str, float] = {}
        for r in rows:
            totals[str(r[col])] = totals.get(str(r[col]), 0.0) + float(r[weight] or 0)
        names = sorted(totals, key=lambda k: (-totals[k], k))
        return names[:top]

    models, routes = ranked(1, 3), ranked(2, 4)
    spend: dict[str, list[float]] = {}
    tokens: dict[str, list[int]] = {}
    fresh = [0] * len(days)
    read = [0] * len(days)
    unpriced = 0
    for r in rows:
        i = index[str(r[0])]
        m = str(r[1]) if str(r[1]) in models else "other"
        spend.setdefault(m, [0.0] * len(days))[i] += float(r[3] or 0.0)
        rt = str(r[2]) if str(r[2]) in routes else "other"
        tokens.setdefault(rt, [0] * len(days))[i] += int(r[4] or 0)
        fresh[i] += int(r[5] or 0) + int(r[7] or 0)
        read[i] += int(r[6] or 0)
        unpriced += int(r[8] or 0)
    ratio = [(read[i] / (read[i] + fresh[i])) if read[i] + fresh[i] else None for i in range(len(days))]
    return {
        "days": days,
        "spend_by_model": {k: [round(v, 6) for v in vs] for k, vs in spend.items()},
        "tokens_by_route": tokens,
        "cache_hit_ratio": ratio,
        "unpriced": unpriced,
    }
