"""Builders of OpenAI Responses streams (and the equivalent non-streamed response) for tests and goldens.

An answer is a list of output items: ``("reasoning", [summary, ...])``, ``("text", str)``, ``("refusal", str)``
or ``("call", call_id, name, arguments)``. :func:`build` renders it as the API's event sequence (every text cut
by ``cut``) and as the ``response`` object the non-streamed API returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

Item = tuple[Any, ...]
RESP_ID = "resp_test123"


def usage(inp: int = 30, out: int = 12, cached: int = 0, written: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inp + out,
    }


def response(
    output: list[dict[str, Any]],
    *,
    status: str = "completed",
    use: dict[str, Any] | None = None,
    incomplete: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": RESP_ID,
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "model": "gpt-5-test",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": use,
    }


def sse(events: Sequence[dict[str, Any]], *, crlf: bool = False) -> bytes:
    out = b""
    for n, ev in enumerate(events):
        ev = {**ev, "sequence_number": n}
        frame = b"event: " + str(ev["type"]).encode() + b"\ndata: " + orjson.dumps(ev) + b"\n\n"
        out += frame.replace(b"\n", b"\r\n") if crlf else frame
    return out


def whole(s: str) -> list[str]:
    return [s] if s else []


def build(
    items: Sequence[Item],
    *,
    cut: Callable[[str], list[str]] = whole,
    use: dict[str, Any] | None = None,
    status: str = "completed",
    incomplete: str | None = None,
    end: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(events, response) for the answer ``items``."""
    output: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    start = response([], status="in_progress")
    events += [{"type": "response.created", "response": start}, {"type": "response.in_progress", "response": start}]
    for n, it in enumerate(items):
        kind = it[0]
        base = {"output_index": n, "item_id": f"item_{n}"}
        if kind == "reasoning":
            item: dict[str, Any] = {
                "type": "reasoning",
                "id": f"item_{n}",
                "summary": [{"type": "summary_text", "text": s} for s in it[1]],
            }
            events.append({"type": "response.output_item.added", "output_index": n, "item": {**item, "summary": []}})
            for k, s in enumerate(it[1]):
                part = {"type": "summary_text", "text": ""}
                events.append(
                    {"type": "response.reasoning_summary_part.added", **base, "summary_index": k, "part": part}
                )
                events += [
                    {"type": "response.reasoning_summary_text.delta", **base, "summary_index": k, "delta": p}
                    for p in cut(s)
                ]
                events.append({"type": "response.reasoning_summary_text.done", **base, "summary_index": k, "text": s})
        elif kind in ("text", "refusal"):
            part = (
                {"type": "output_text", "text": it[1], "annotations": []}
                if kind == "text"
                else {"type": "refusal", "refusal": it[1]}
            )
            item = {"type": "message", "id": f"item_{n}", "role": "assistant", "status": "completed", "content": [part]}
            events.append({"type": "response.output_item.added", "output_index": n, "item": {**item, "content": []}})
            delta = "response.output_text.delta" if kind == "text" else "response.refusal.delta"
            events += [{"type": delta, **base, "content_index": 0, "delta": p} for p in cut(it[1])]
            if kind == "text":
                events.append({"type": "response.output_text.done", **base, "content_index": 0, "text": it[1]})
        else:
            _, call_id, name, args = it
            item = {"type": "function_call", "id": f"item_{n}", "call_id": call_id, "name": name, "arguments": args}
            events.append({"type": "response.output_item.added", "output_index": n, "item": {**item, "arguments": ""}})
            events += [{"type": "response.function_call_arguments.delta", **base, "delta": p} for p in cut(args)]
            events.append({"type": "response.function_call_arguments.done", **base, "arguments": args})
        events.append({"type": "response.output_item.done", "output_index": n, "item": item})
        output.append(item)
    final = response(output, status=status, use=use, incomplete=incomplete)
    if end:
        events.append(
            {"type": "response.incomplete" if status == "incomplete" else "response.completed", "response": final}
        )
    return events, final


def failed(code: str, message: str) -> dict[str, Any]:
    return {
        "type": "response.failed",
        "response": response([], status="failed", error={"code": code, "message": message}),
    }


def error_event(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "param": None}
