"""Versioned PostgreSQL migrations for the usage database, shipped in the package.

Each file ``observe/migrations/pg/NNNN_name.sql`` is one version, applied once, in order, and recorded in
``schema_migrations``. :func:`migrate` runs them in one transaction under a transaction-level advisory lock, so
several router instances starting together apply each version exactly once (the others wait, then see it done).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

# pg_advisory_xact_lock key: "ccm usage" folded into a bigint; any fixed number unique to this app will do.
LOCK_KEY = 0x63636D5F7573
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> tuple[Migration, ...]:
    """The packaged migrations, by version."""
    root = resources.files("claude_code_mux.observe").joinpath("migrations", "pg")
    found = []
    for entry in root.iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate usage migration versions: {versions}")
    return tuple(found)


async def migrate(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> list[int]:
    """Apply the missing migrations; returns the versions this call applied (empty when up to date)."""
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {int(str(row[0])) for row in await cur.fetchall()}
        for mig in migrations():
            if mig.version in done:
                continue
            await conn.execute(mig.sql.encode())  # no parameters: several statements in one file are fine
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (mig.version, mig.name))
            applied.append(mig.version)
    return applied
