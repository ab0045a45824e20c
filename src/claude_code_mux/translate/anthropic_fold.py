"""Fold an Anthropic Messages SSE stream into the final message, like the SDK's ``accumulate_event``.

Useful in tests (compare a translated stream with a non-streamed answer) and for logging a streamed
reply.  Tool inputs are parsed at ``content_block_stop`` (an unparseable input becomes
``{"_raw": text}``).  An ``event: error`` ends the fold; the result then carries ``"error"``.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from claude_code_mux.wire.sse import SSEDecoder


def fold_anthropic_events(sse: bytes) -> dict[str, Any]:
    """The message a client would hold after reading the whole stream ``sse``."""
    decoder = SSEDecoder()
    events = decoder.feed(sse) + decoder.close()
    msg: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for ev in events:
        try:
            data = orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        kind = data.get("type", ev.event)
        if kind == "message_start":
            msg = copy.deepcopy(data.get("message") or {})
            msg["content"] = list(msg.get("content") or [])
        elif kind == "content_block_start":
            msg.setdefault("content", []).append(copy.deepcopy(data.get("content_block") or {}))
        elif kind == "content_block_delta":
            block = _block(msg, data.get("index"))
            if block is not None:
                _apply_delta(block, data.get("delta") or {}, partial, data["index"])
        elif kind == "content_block_stop":
            index = data.get("index")
            block = _block(msg, index)
            if block is not None and block.get("type") in ("tool_use", "server_tool_use") and index in partial:
                text = partial.pop(index)
                try:
                    block["input"] = orjson.loads(text) if text.strip() else {}
                except orjson.JSONDecodeError:
                    block["input"] = {"_raw": text}
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            msg["stop_reason"] = delta.get("stop_reason")
            msg["stop_sequence"] = delta.get("stop_sequence")
            usage = msg.setdefault("usage", {})
            for key, value in (data.get("usage") or {}).items():
                if value is not None:
                    usage[key] = value
        elif kind == "error":
            msg["error"] = data.get("error")
            break
    return msg


def _block(msg: dict[str, Any], index: Any) -> dict[str, Any] | None:
    content = msg.get("content")
    if isinstance(index, int) and isinstance(content, list) and 0 <= index < len(content):
        block = content[index]
        return block if isinstance(block, dict) else None
    return None


def _apply_delta(block: dict[str, Any], delta: dict[str, Any], partial: dict[int, str], index: int) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + delta.get("text", "")
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
    elif kind == "signature_delta":
        block["signature"] = delta.get("signature", "")
    elif kind == "input_json_delta":
        partial[index] = partial.get(index, "") + delta.get("partial_json", "")
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta.get("citation"))
