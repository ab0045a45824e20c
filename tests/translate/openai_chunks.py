"""Builders for OpenAI chat.completion.chunk streams and the matching non-streamed answers (test data)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

CHUNK_BASE: dict[str, Any] = {
    "id": "chatcmpl-test",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
}


def frame(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {**CHUNK_BASE, "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **extra}


def usage_chunk(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {**CHUNK_BASE, "choices": [], "usage": usage(prompt, completion, cached)}


def usage(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def tool_head(index: int, call_id: str, name: str, args: str = "") -> dict[str, Any]:
    return {
        "tool_calls": [
            {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
        ]
    }


def tool_args(index: int, args: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, "function": {"arguments": args}}]}


def stream(*objs: Any, done: bool = True) -> bytes:
    return b"".join(frame(o) for o in objs) + (b"data: [DONE]\n\n" if done else b"")


def completion(
    *,
    text: str | None = None,
    reasoning: str | None = None,
    tools: Sequence[tuple[str, str, str]] = (),
    finish: str | None = "stop",
    usage_obj: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tools:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in tools
        ]
    out: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if usage_obj is not None:
        out["usage"] = usage_obj
    return out
