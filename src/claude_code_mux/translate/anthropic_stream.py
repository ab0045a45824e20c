"""Render a complete Anthropic message as the SSE event sequence a streaming client expects."""

from __future__ import annotations

from typing import Any

import orjson

from claude_code_mux.wire.sse import PING, encode_event


def message_to_events(msg: dict[str, Any]) -> bytes:
    """``message_start`` … ``message_stop`` for ``msg``, one delta per block."""
    usage = dict(msg.get("usage") or {})
    start = {k: v for k, v in msg.items() if k not in ("content", "stop_reason", "stop_sequence")}
    start.update(content=[], stop_reason=None, stop_sequence=None, usage={**usage, "output_tokens": 1})
    out = [encode_event("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(msg.get("content") or []):
        btype = block.get("type")
        if btype == "text":
            first: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": block.get("text", "")}]
        elif btype == "tool_use":
            first = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": orjson.dumps(block.get("input", {})).decode()}]
        elif btype == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")}]
            if block.get("signature"):
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            first, deltas = block, []
        out.append(
            encode_event("content_block_start", {"type": "content_block_start", "index": i, "content_block": first})
        )
        if i == 0:
            out.append(PING)
        for d in deltas:
            out.append(encode_event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}))
        out.append(encode_event("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(
        encode_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg.get("stop_reason"), "stop_sequence": msg.get("stop_sequence")},
                "usage": {"output_tokens": usage.get("output_tokens", 0)},
            },
        )
    )
    out.append(encode_event("message_stop", {"type": "message_stop"}))
    return b"".join(out)
