"""Pull token usage and the session id out of what already passes through, without re-parsing bodies."""

from __future__ import annotations

from typing import Any

import orjson

from claude_code_mux.wire.usage import merge_usage


def _merge(into: dict[str, int], usage: Any) -> None:
    merge_usage(into, usage)


def _event_data(buf: bytes, name: bytes) -> Any:
    """The parsed ``data:`` of the last ``event: NAME`` fully contained in ``buf``."""
    i = buf.rfind(b"event: " + name)
    if i == -1:
        return None
    j = buf.find(b"data: ", i)
    if j == -1:
        return None
    end = buf.find(b"\n", j)
    if end == -1:
        return None
    try:
        return orjson.loads(buf[j + 6 : end])
    except orjson.JSONDecodeError:
        return None


def usage_from_stream(first: bytes, tail: bytes) -> dict[str, int]:
    """Usage from ``message_start`` (input, cache) and the final ``message_delta`` (output)."""
    out: dict[str, int] = {}
    start = _event_data(first, b"message_start")
    if isinstance(start, dict):
        _merge(out, (start.get("message") or {}).get("usage"))
    delta = _event_data(tail, b"message_delta")
    if isinstance(delta, dict):
        _merge(out, delta.get("usage"))
    return out


def usage_from_body(body: bytes | None) -> dict[str, int]:
    out: dict[str, int] = {}
    if not body or b'"usage"' not in body:
        return out
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return out
    if isinstance(data, dict):
        _merge(out, data.get("usage"))
    return out


def session_id(meta: Any) -> str | None:
    """Claude Code's session id from the body's ``metadata`` (``user_id``: a JSON string, or ``…_session_<id>``)."""
    if not isinstance(meta, dict):
        return None
    uid = meta.get("user_id")
    if not isinstance(uid, str) or not uid:
        return None
    if uid.startswith("{"):
        try:
            parsed = orjson.loads(uid)
        except orjson.JSONDecodeError:
            return None
        sid = parsed.get("session_id") if isinstance(parsed, dict) else None
        return str(sid) if sid else None
    marker = "_session_"
    if marker in uid:
        return uid.rsplit(marker, 1)[1] or None
    return uid[:128]
