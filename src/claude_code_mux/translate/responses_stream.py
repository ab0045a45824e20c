"""OpenAI Responses SSE -> Anthropic Messages SSE, as a sans-IO state machine.

Feed raw upstream bytes in any chunking; get Anthropic SSE bytes back. The output depends only on the
sequence of upstream events, never on where the byte chunks were cut.

Rules:

- ``message_start`` is sent with the first real output (a reasoning summary or text delta, a function call),
  so a ``response.failed`` or ``error`` event before it costs the client nothing: ``feed`` returns ``b""``,
  :attr:`~ResponsesStreamTranslator.error` is set and the caller may fail over. After ``message_start`` such
  an event becomes an ``event: error`` and the stream ends there.
- Blocks are emitted in arrival order, one open at a time: reasoning summary deltas (and raw
  ``reasoning_text`` deltas) -> a ``thinking`` block (``signature: ""``; a new summary part or reasoning item
  is separated by a blank line); ``output_text`` and ``refusal`` deltas -> a ``text`` block; each
  ``function_call`` item -> a ``tool_use`` block (``call_id`` kept) whose
  ``response.function_call_arguments.delta`` events become ``input_json_delta``. Consecutive output of one
  kind stays in one block, as the non-streamed translation merges it. The API sends items one after
  another; an argument delta for a call whose block was already closed is dropped.
- ``response.output_item.done`` of a call closes its block at once (Claude Code can start the tool); when no
  argument deltas came, the item's ``arguments`` are sent then.
- ``response.completed`` / ``response.incomplete`` -> ``message_delta`` (stop reason, real usage with cached
  input tokens as ``cache_read_input_tokens``) and ``message_stop``. A stream that ends without one of them
  ends with an ``event: error`` (or, before any output, as a failure to fail over from).

The shared plumbing (buffering, framing, block bookkeeping, failures) is :mod:`.anthropic_out`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from claude_code_mux.translate.anthropic_out import AnthropicStreamTranslator
from claude_code_mux.translate.openai_response import message_id_for, unique_id
from claude_code_mux.translate.responses_response import failure_of, stop_reason_for, usage_from_responses
from claude_code_mux.wire.anthropic import Usage
from claude_code_mux.wire.sse import SSEEvent

_THINKING_DELTAS = frozenset({"response.reasoning_summary_text.delta", "response.reasoning_text.delta"})
_ENDS = frozenset({"response.completed", "response.incomplete"})


class ResponsesStreamTranslator(AnthropicStreamTranslator):
    """See the module docstring. One instance per upstream response."""

    _close_block_on_error = True

    def __init__(
        self, *, model: str, message_id: str | None = None, tool_names: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(model=model, message_id=message_id)
        self._names = dict(tool_names or {})
        self._open_part: tuple[int, int] | None = None  # (output_index, summary_index) of the open thinking
        self._open_tool: int | None = None  # output_index of the open tool_use block
        self._tool_args_sent = False
        self._tools: dict[int, str] = {}  # output_index -> tool_use id (blocks opened)
        self._closed_tools: set[int] = set()
        self._text_items: set[tuple[int, int]] = set()
        self._used_ids: set[str] = set()
        self._text_seen = False
        self._refusal_seen = False
        self._usage_raw: dict[str, Any] | None = None

    @property
    def usage(self) -> Usage:
        return usage_from_responses(self._usage_raw) if self._usage_raw is not None else {}

    def _ended(self) -> None:
        self._fail("api_error", "upstream stream ended before response.completed")

    def _on_event(self, ev: SSEEvent) -> None:
        data = ev.data.strip()
        if not data:
            return
        self._data_events += 1
        if data == "[DONE]":
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._fail("api_error", f"malformed event from upstream: {data[:200]}")
            return
        if not isinstance(obj, dict):
            return
        kind = obj.get("type") if isinstance(obj.get("type"), str) else ev.event
        if kind in ("error", "response.failed") or ev.event == "error":
            self._fail(*failure_of(obj))
            return
        self._on(str(kind or ""), obj)

    # ---- events ------------------------------------------------------------------------------

    def _on(self, kind: str, obj: dict[str, Any]) -> None:
        index = obj.get("output_index")
        idx = index if isinstance(index, int) and not isinstance(index, bool) else -1
        delta = obj.get("delta")
        if kind in ("response.created", "response.in_progress", "response.queued"):
            resp = obj.get("response")
            if self._message_id is None and isinstance(resp, dict):
                rid = resp.get("id")
                if isinstance(rid, str) and rid:
                    self._message_id = message_id_for(rid)
        elif kind in _THINKING_DELTAS and isinstance(delta, str) and delta:
            summary = obj.get("summary_index", obj.get("content_index", 0))
            self._thinking(delta, (idx, summary if isinstance(summary, int) else 0))
        elif kind in ("response.output_text.delta", "response.refusal.delta") and isinstance(delta, str) and delta:
            if kind == "response.refusal.delta":
                self._refusal_seen = True
            else:
                self._text_seen = True
            content = obj.get("content_index")
            self._text_items.add((idx, content if isinstance(content, int) else 0))
            self._text(delta)
        elif kind == "response.output_text.done":
            content = obj.get("content_index")
            text = obj.get("text")
            key = (idx, content if isinstance(content, int) else 0)
            if key not in self._text_items and isinstance(text, str) and text:
                self._text_items.add(key)
                self._text_seen = True
                self._text(text)
        elif kind == "response.output_item.added":
            item = obj.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                self._open_tool_block(idx, item)
        elif kind == "response.function_call_arguments.delta" and isinstance(delta, str) and delta:
            if self._open_tool == idx:
                self._args(delta)
        elif kind == "response.function_call_arguments.done":
            args = obj.get("arguments")
            if self._open_tool == idx and not self._tool_args_sent and isinstance(args, str) and args:
                self._args(args)
        elif kind == "response.output_item.done":
            item = obj.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                self._tool_done(idx, item)
        elif kind in _ENDS:
            resp = obj.get("response")
            self._finalize(resp if isinstance(resp, dict) else {})

    # ---- blocks ------------------------------------------------------------------------------

    def _open(self, kind: str, block: dict[str, Any]) -> None:
        self._start()
        self._close_open()
        self._open_block(kind, block)

    def _closing(self) -> None:
        if self._open_kind == "tool":
            if not self._tool_args_sent:
                self._delta({"type": "input_json_delta", "partial_json": "{}"})
            if self._open_tool is not None:
                self._closed_tools.add(self._open_tool)
        self._open_tool = None
        self._open_part = None

    def _thinking(self, text: str, part: tuple[int, int]) -> None:
        if self._open_kind != "thinking":
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        elif self._open_part != part:
            text = "\n\n" + text
        self._open_part = part
        self._delta({"type": "thinking_delta", "thinking": text})

    def _text(self, text: str) -> None:
        if self._open_kind != "text":
            self._open("text", {"type": "text", "text": ""})
        self._delta({"type": "text_delta", "text": text})

    def _open_tool_block(self, idx: int, item: dict[str, Any]) -> None:
        if idx in self._tools:
            return
        raw_id = item.get("call_id") or item.get("id")
        fallback = f"toolu_{(self._message_id or 'msg_')[4:]}_{len(self._tools)}"
        tool_id = unique_id(raw_id if isinstance(raw_id, str) and raw_id else fallback, self._used_ids)
        raw_name = item.get("name")
        name = raw_name if isinstance(raw_name, str) and raw_name else "unknown"
        self._open("tool", {"type": "tool_use", "id": tool_id, "name": self._names.get(name, name), "input": {}})
        self._tools[idx] = tool_id
        self._open_tool = idx
        self._tool_args_sent = False

    def _args(self, text: str) -> None:
        self._tool_args_sent = True
        self._delta({"type": "input_json_delta", "partial_json": text})

    def _tool_done(self, idx: int, item: dict[str, Any]) -> None:
        if idx in self._closed_tools:
            return
        if idx not in self._tools:
            self._open_tool_block(idx, item)
        if self._open_tool == idx:
            args = item.get("arguments")
            if not self._tool_args_sent and isinstance(args, str) and args:
                self._args(args)
            self._close_open()

    def _finalize(self, response: dict[str, Any]) -> None:
        self._start()
        self._close_open()
        usage = response.get("usage")
        if isinstance(usage, dict):
            self._usage_raw = usage
        refused = self._refusal_seen and not self._text_seen
        stop = stop_reason_for(response, tool_calls=bool(self._tools), refused=refused)
        self._end_message(stop, dict(usage_from_responses(self._usage_raw)))
