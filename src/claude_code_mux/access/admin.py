"""Key management for the admin API, framework-free: JSON in (a pydantic model), JSON-ready dicts out.

The server maps these onto routes (suggested: ``GET /api/keys``, ``POST /api/keys``,
``POST /api/keys/{name}/rotate``, ``DELETE /api/keys/{name}``) and runs them with ``asyncio.to_thread`` (they
touch SQLite). A created or rotated key is in the response once, under ``key``; listings never hold it.
:class:`~claude_code_mux.errors.KeyStoreError` means a 400 with its message.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from claude_code_mux.access.keystore import KeyRecord, KeyStore, parse_budget, parse_duration


class KeyCreate(BaseModel):
    """``POST /api/keys`` body, the same options as ``ccm keys create``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    budget: str | None = None  # "50/month"
    models: list[str] = Field(default_factory=list, max_length=100)
    rps: float | None = Field(default=None, gt=0)
    expires: str | None = None  # "30d"


def key_json(rec: KeyRecord, now: float) -> dict[str, Any]:
    """A key as the admin API and ``ccm keys list --json`` show it (never the key)."""
    return {
        "id": rec.id,
        "name": rec.name,
        "hint": rec.hint,
        "state": rec.state(now),
        "created": rec.created,
        "expires": rec.expires,
        "revoked": rec.revoked,
        "models": list(rec.models),
        "rps": rec.rps,
        "budget_usd": rec.budget_usd,
        "budget_period": rec.budget_period,
    }


def list_keys(store: KeyStore, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    now = time.time()
    return [key_json(r, now) for r in store.all() if include_inactive or r.state(now) == "active"]


def create_key(store: KeyStore, body: KeyCreate) -> dict[str, Any]:
    key, rec = store.create(
        body.name,
        models=tuple(m.strip() for m in body.models if m.strip()),
        rps=body.rps,
        budget=parse_budget(body.budget) if body.budget else None,
        expires_in=parse_duration(body.expires) if body.expires else None,
    )
    return {**key_json(rec, time.time()), "key": key}


def rotate_key(store: KeyStore, name: str) -> dict[str, Any]:
    key, rec = store.rotate(name)
    return {**key_json(rec, time.time()), "key": key}


def revoke_key(store: KeyStore, name: str) -> dict[str, Any]:
    rec = store.revoke(name)
    return key_json(rec, time.time()) | {"state": "revoked"}
