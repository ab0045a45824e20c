"""Virtual keys in SQLite (``HOME/keys.db``, 0600): one row per key, the key itself stored only as a hash.

A key is ``ccm-`` + 43 URL-safe characters (256 random bits). It is shown once, at creation or rotation; the
store keeps ``sha256(key)``. A fast hash is right here and a password hash (argon2, bcrypt) is not: those slow
down guessing of *low-entropy* secrets, but 256 random bits cannot be guessed at any hash speed, while argon2
would add tens of milliseconds of CPU to every request (or need a cache of plaintext keys to avoid it).

Synchronous by design: the CLI calls it directly and the server only through :class:`~.identity.KeyRing`,
which reads it in a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_code_mux.errors import KeyStoreError

PREFIX = "ccm-"
FILENAME = "keys.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  hint TEXT NOT NULL,
  created REAL NOT NULL,
  expires REAL,
  revoked REAL,
  models TEXT NOT NULL DEFAULT '[]',
  rps REAL,
  budget_usd REAL,
  budget_period TEXT
);
CREATE INDEX IF NOT EXISTS keys_name ON keys(name);
"""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdwmy])\s*$")
_DURATION_S = {"h": 3600, "d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400}
_BUDGET = re.compile(r"^\s*\$?(\d+(?:\.\d+)?)\s*/\s*(day|week|month|total)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One stored key (never the key itself)."""

    id: str
    name: str
    hash: str
    hint: str  # the last 4 characters, to tell keys apart in a list
    created: float
    expires: float | None = None
    revoked: float | None = None
    models: tuple[str, ...] = ()  # names or globs; empty = every model
    rps: float | None = None
    budget_usd: float | None = None
    budget_period: str | None = None  # "day" | "week" | "month" | "total"

    def state(self, now: float) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``2w``, ``6m`` (30-day months), ``1y`` -> seconds."""
    m = _DURATION.match(text)
    if m is None:
        raise KeyStoreError(f"--expires: use e.g. 12h, 30d, 2w, 6m or 1y, not {text!r}")
    return float(m.group(1)) * _DURATION_S[m.group(2)]


def parse_budget(text: str) -> tuple[float, str]:
    """``50/month``, ``5/day``, ``$20/week``, ``100/total`` -> (USD, period)."""
    m = _BUDGET.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise KeyStoreError(f"--budget: use e.g. 50/month, 5/day, 20/week or 100/total, not {text!r}")
    return float(m.group(1)), m.group(2)


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)


def _row(r: tuple[Any, ...]) -> KeyRecord:
    models = json.loads(r[7]) if r[7] else []
    return KeyRecord(
        id=str(r[0]),
        name=str(r[1]),
        hash=str(r[2]),
        hint=str(r[3]),
        created=float(r[4]),
        expires=_opt(r[5]),
        revoked=_opt(r[6]),
        models=tuple(str(m) for m in models),
        rps=_opt(r[8]),
        budget_usd=_opt(r[9]),
        budget_period=None if r[10] is None else str(r[10]),
    )


class KeyStore:
    """The keys table of ``path``; each call opens, works and closes (the CLI and a reload thread share it)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock

    def _now(self) -> float:
        return self._clock()

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not self.path.exists()
        if fresh:  # create it 0600 before SQLite writes a byte
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(str(self.path), timeout=10)
        try:
            conn.executescript(_SCHEMA)
            with conn:
                yield conn
        finally:
            conn.close()

    def all(self) -> list[KeyRecord]:
        if not self.path.exists():
            return []
        with self._conn() as c:
            return [_row(r) for r in c.execute("SELECT * FROM keys ORDER BY created")]

    def active(self, name: str) -> KeyRecord | None:
        now = self._now()
        return next((k for k in self.all() if k.name == name and k.state(now) == "active"), None)

    def create(
        self,
        name: str,
        *,
        models: tuple[str, ...] = (),
        rps: float | None = None,
        budget: tuple[float, str] | None = None,
        expires_in: float | None = None,
    ) -> tuple[str, KeyRecord]:
        """A new key for ``name``: (the key, shown once; its record)."""
        if not _NAME.match(name):
            raise KeyStoreError(f"key name {name!r}: use letters, digits and . _ @ - (at most 64 characters)")
        if rps is not None and rps <= 0:
            raise KeyStoreError("--rps must be greater than 0")
        if self.active(name) is not None:
            raise KeyStoreError(f"an active key named {name!r} exists; `ccm keys rotate {name}` replaces it")
        key = new_key()
        now = self._now()
        rec = KeyRecord(
            id=secrets.token_hex(6),
            name=name,
            hash=hash_key(key),
            hint=key[-4:],
            created=now,
            expires=None if expires_in is None else now + expires_in,
            models=models,
            rps=rps,
            budget_usd=budget[0] if budget else None,
            budget_period=budget[1] if budget else None,
        )
        with self._conn() as c:
            c.execute(
                "INSERT INTO keys VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rec.id,
                    rec.name,
                    rec.hash,
                    rec.hint,
                    rec.created,
                    rec.expires,
                    None,
                    json.dumps(list(rec.models)),
                    rec.rps,
                    rec.budget_usd,
                    rec.budget_period,
                ),
            )
        return key, rec

    def revoke(self, name: str) -> KeyRecord:
        """Revoke the active key named ``name`` (or with id ``name``)."""
        now = self._now()
        target = next(
            (k for k in self.all() if name in (k.name, k.id) and k.state(now) == "active"),
            None,
        )
        if target is None:
            raise KeyStoreError(f"no active key named {name!r} (see `ccm keys list`)")
        with self._conn() as c:
            c.execute("UPDATE keys SET revoked = ? WHERE id = ?", (now, target.id))
        return target

    def rotate(self, name: str, *, expires_in: float | None = None) -> tuple[str, KeyRecord]:
        """Replace the active key ``name`` by a new one with the same settings; the old one stops working."""
        old = self.active(name)
        if old is None:
            raise KeyStoreError(f"no active key named {name!r} to rotate (see `ccm keys list`)")
        self.revoke(old.id)
        if expires_in is None and old.expires is not None:
            expires_in = max(old.expires - old.created, 0.0)
        budget = (old.budget_usd, old.budget_period) if old.budget_usd and old.budget_period else None
        return self.create(name, models=old.models, rps=old.rps, budget=budget, expires_in=expires_in)
