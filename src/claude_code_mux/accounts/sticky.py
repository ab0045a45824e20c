"""Sticky sessions: keep each Claude Code session on one (provider, account) so its prompt cache stays warm.

Claude Code sends ``X-Claude-Code-Session-Id`` and the same id inside ``metadata.user_id`` (a JSON string).
Requests without either are keyed by a hash of their cached prefix (everything up to the first
``cache_control`` marker), which is what the prompt cache itself keys on. A pin lives ``ttl_s`` (renewed on
use); the table is bounded (least recently used pins go first). Pure: time is passed in.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Pin:
    provider: str
    account: str
    expires: float


def session_key(headers: Mapping[str, str], metadata: Any, body: Mapping[str, Any] | None = None) -> str | None:
    """``sid:<id>`` from the header or ``metadata.user_id``; else ``prefix:<hash>``; None when neither exists."""
    sid = (headers.get("x-claude-code-session-id") or "").strip()
    if not sid and isinstance(metadata, dict):
        uid = metadata.get("user_id")
        if isinstance(uid, str) and uid.startswith("{"):
            try:
                parsed = orjson.loads(uid)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict) and isinstance(parsed.get("session_id"), str):
                sid = parsed["session_id"].strip()
    if sid:
        return "sid:" + sid[:128]
    if body is not None:
        prefix = cached_prefix(body)
        if prefix is not None:
            return "prefix:" + hashlib.sha256(prefix).hexdigest()[:32]
    return None


def cached_prefix(body: Mapping[str, Any]) -> bytes | None:
    """The request up to and including the first block marked ``cache_control`` (tools, system, messages)."""
    parts: list[Any] = []
    for section in ("tools", "system", "messages"):
        val = body.get(section)
        if isinstance(val, list):
            for item in val:
                parts.append(item)
                if _marked(item):
                    return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
        elif val is not None:
            parts.append(val)
    return None


def _marked(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if "cache_control" in item:
        return True
    content = item.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and "cache_control" in b for b in content)


class StickyTable:
    """session key -> Pin, with a TTL renewed on use and a size bound."""

    def __init__(self, ttl_s: float = 3600.0, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._pins: OrderedDict[str, Pin] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pins)

    def get(self, key: str, now: float) -> Pin | None:
        pin = self._pins.get(key)
        if pin is None:
            return None
        if pin.expires <= now:
            del self._pins[key]
            return None
        return pin

    def pin(self, key: str, provider: str, account: str, now: float) -> Pin:
        pin = Pin(provider, account, now + self.ttl_s)
        self._pins[key] = pin
        self._pins.move_to_end(key)
        while len(self._pins) > self.max_entries:
            self._pins.popitem(last=False)
        return pin

    def count_by_account(self, now: float) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for pin in self._pins.values():
            if pin.expires > now:
                k = (pin.provider, pin.account)
                out[k] = out.get(k, 0) + 1
        return out
