"""The usage store's SQLite schema (``HOME/usage.db``): the table, the columns added since, and opening a file
of any age. Shared by the writer (:mod:`.usage`), ``ccm usage`` and the budget ledger; imports nothing heavy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
  project TEXT
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage(ts);
"""
# Columns added after the first release: (name, SQL type). Old files gain them on open.
ADDED_COLUMNS = (("key_name", "TEXT"), ("project", "TEXT"))
COLUMNS = (
    "ts, request_id, session_id, route, provider, model, client_model, status, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_tokens, latency_ms, ttfb_ms, cost_usd, key_name, project"
)


def migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a file written by an older version lacks (NULL in its old rows)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
    for name, sql_type in ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE usage ADD COLUMN {name} {sql_type}")
    # Budgets read spend per scope and period: keep that an index range scan.
    for col in ("key_name", "project", "session_id"):
        conn.execute(f"CREATE INDEX IF NOT EXISTS usage_{col} ON usage({col}, ts)")
    conn.commit()


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10)
    conn.executescript(SCHEMA)
    migrate(conn)
    return conn
