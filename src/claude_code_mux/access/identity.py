"""``authenticate(headers)`` and ``check_model(identity, model)``: who is calling, and may they use this model.

The request path reads only :class:`KeySnapshot`, an immutable in-memory copy of ``keys.db`` that
:class:`KeyRing` swaps when the file changes (read in a worker thread), so ``ccm keys revoke`` takes effect
within a second without a restart and without a disk read per request.

Credentials come as ``x-api-key`` or ``Authorization: Bearer`` (Claude Code's ``ANTHROPIC_API_KEY`` /
``ANTHROPIC_AUTH_TOKEN``); both headers are looked at, because with a passthrough provider one of them may
carry the user's own Anthropic credential. Comparisons are constant-time (:func:`hmac.compare_digest`); a
virtual key is found by its SHA-256, so lookup timing can only reveal something about a hash, never the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hmac
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from claude_code_mux.access.keystore import PREFIX, KeyRecord, KeyStore, hash_key
from claude_code_mux.errors import AuthenticationFailed, PermissionDenied

ROUTER_KEY = "router-key"
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is: a virtual key by name, or the shared ``server.api_key``. Holds no secret."""

    name: str
    kind: Literal["key", "router-key"]
    models: tuple[str, ...] = ()
    rps: float | None = None
    budget: tuple[float, str] | None = None  # (USD, period) set with `ccm keys create --budget`

    @property
    def client(self) -> str:
        """The ``RequestRecord.client`` value: ``key:<name>``."""
        return f"key:{self.name}"


@dataclass(frozen=True)
class KeySnapshot:
    """Every stored key by hash (revoked and expired ones too, to say so in the 401)."""

    by_hash: dict[str, KeyRecord] = field(default_factory=dict)

    @classmethod
    def of(cls, records: list[KeyRecord]) -> KeySnapshot:
        return cls({r.hash: r for r in records})


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _presented(headers: Mapping[str, str]) -> list[str]:
    out = []
    key = headers.get("x-api-key")
    if key:
        out.append(key.strip())
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        out.append(auth[7:].strip())
    return out


def authenticate(
    headers: Mapping[str, str],
    snapshot: KeySnapshot,
    router_key: str | None,
    now: float,
) -> Identity | None:
    """The caller's identity; None when the router is open (no ``server.api_key``) and no ``ccm-`` key came.

    Raises :class:`AuthenticationFailed` (401) for an unknown, revoked or expired virtual key, and for a
    missing or wrong key when ``server.api_key`` is set. ``headers`` has lower-case names.
    """
    got = _presented(headers)
    if router_key is not None:
        want = router_key.encode()
        if any(hmac.compare_digest(g.encode(), want) for g in got):
            return Identity(ROUTER_KEY, "router-key")
    for g in got:
        if not g.startswith(PREFIX):
            continue
        h = hash_key(g)
        rec = snapshot.by_hash.get(h)
        if rec is None or not hmac.compare_digest(rec.hash, h):
            raise AuthenticationFailed(
                "unknown claude-code-mux key (ccm-…): it was mistyped, or deleted; "
                "`ccm keys list` shows the keys that exist"
            )
        if rec.revoked is not None:
            raise AuthenticationFailed(
                f"claude-code-mux key {rec.name!r} was revoked on {_day(rec.revoked)}; "
                f"ask for a new one (`ccm keys create` or `ccm keys rotate {rec.name}`)"
            )
        if rec.expires is not None and now >= rec.expires:
            raise AuthenticationFailed(
                f"claude-code-mux key {rec.name!r} expired on {_day(rec.expires)}; "
                f"`ccm keys rotate {rec.name}` issues a fresh one"
            )
        budget = (rec.budget_usd, rec.budget_period) if rec.budget_usd and rec.budget_period else None
        return Identity(rec.name, "key", rec.models, rec.rps, budget)
    if router_key is not None:
        raise AuthenticationFailed(
            "invalid or missing API key for claude-code-mux: send server.api_key or a `ccm keys` key as "
            "x-api-key or Authorization: Bearer (ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN for Claude Code)"
        )
    return None


def model_allowed(pattern: str, model: str) -> bool:
    """A glob matches the whole name; a plain name matches exactly or as a whole ``-``-separated word
    (``sonnet`` allows ``claude-sonnet-4-5``; ``sonnet-4-5`` allows ``claude-sonnet-4-5-20250929``)."""
    p, m = pattern.strip().lower(), model.strip().lower()
    if _GLOB.search(p):
        return fnmatch.fnmatchcase(m, p)
    return m == p or re.search(rf"(^|[-/,.:@]){re.escape(p)}($|[-/,.:@])", m) is not None


def check_model(identity: Identity | None, model: str) -> None:
    """Raise :class:`PermissionDenied` (403) when ``identity``'s allow-list excludes ``model``."""
    if identity is None or not identity.models:
        return
    if any(model_allowed(p, model) for p in identity.models):
        return
    raise PermissionDenied(
        f"claude-code-mux key {identity.name!r} may not use model {model!r}; allowed: {', '.join(identity.models)}"
    )


def rate_limit(identity: Identity | None) -> tuple[str, float, int] | None:
    """(client id, requests per second, burst) for a key with ``--rps``, for the server's token bucket."""
    if identity is None or not identity.rps:
        return None
    return identity.client, identity.rps, max(1, math.ceil(identity.rps))


class KeyRing:
    """The live :class:`KeySnapshot` of a :class:`KeyStore`, re-read when ``keys.db`` changes."""

    def __init__(self, store: KeyStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.snapshot = KeySnapshot()
        self._stamp: tuple[int, int] | None = None
        # One load at a time: the watch task's and an admin call's loads run in two worker threads, and the
        # slower one must not put back the snapshot it read before the other's newer one.
        self._loading = threading.Lock()

    def load(self) -> bool:
        """Re-read the store if the file changed (blocking: call from a thread). True when reloaded."""
        with self._loading:
            return self._load()

    def _load(self) -> bool:
        try:
            st = self.store.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return False
        self.snapshot = KeySnapshot.of(self.store.all()) if stamp else KeySnapshot()
        self._stamp = stamp
        return True

    async def refresh(self) -> bool:
        return await asyncio.to_thread(self.load)

    async def watch(self, interval_s: float = 1.0) -> None:
        """Reload on change until cancelled (the server runs this as a background task)."""
        while True:
            with contextlib.suppress(sqlite3.Error, OSError, ValueError):  # locked or mid-write: next tick
                await self.refresh()
            await asyncio.sleep(interval_s)

    def authenticate(self, headers: Mapping[str, str], router_key: str | None) -> Identity | None:
        return authenticate(headers, self.snapshot, router_key, self.clock())
