"""Anthropic Messages SSE -> OpenAI ``chat.completion.chunk`` SSE, for inbound ``/v1/chat/completions``.

A sans-IO state machine: feed Anthropic SSE bytes in any chunking, get ``data: {...}\\n\\n`` frames.
The first chunk carries ``role: assistant``; text -> ``content`` deltas, thinking -> ``reasoning_content``
deltas, each ``tool_use`` -> ``tool_calls`` deltas (``index``, ``id``, ``name`` first, then ``arguments``);
``message_stop`` -> a chunk with ``finish_reason``, a usage chunk (``choices: []``) when
``include_usage``, and ``data: [DONE]``.  An ``event: error`` becomes an OpenAI error payload (the
``openai`` SDK raises on it), as does a stream that ends without ``message_stop``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from claude_code_mux.translate.inbound_openai import completion_id_for, finish_reason_for, openai_usage
from claude_code_mux.wire.sse import DONE, SSEDecoder, SSEEvent, encode_data


class AnthropicToOpenAIStream:
    """See the module docstring.  One instance per response."""

    def __init__(self, *, model: str, include_usage: bool = True, created: int | None = None) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = int(time.time()) if created is None else created
        self._decoder = SSEDecoder()
        self._out: list[bytes] = []
        self._id = completion_id_for(None)
        self._started = False
        self._finished = False
        self._usage: dict[str, Any] = {}
        self._stop_reason: Any = None
        self._tool_slots: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, chunk: bytes) -> bytes:
        for ev in self._decoder.feed(chunk):
            if self._finished:
                break
            self._on_event(ev)
        return self._flush()

    def close(self) -> bytes:
        for ev in self._decoder.close():
            if self._finished:
                break
            self._on_event(ev)
        if not self._finished and self._started:
            self._error("api_error", "the upstream stream ended before message_stop")
        self._finished = True
        return self._flush()

    # ---- internals ---------------------------------------------------------------------------

    def _flush(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        return data

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        self._out.append(encode_data(self._frame([choice])))

    def _frame(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }

    def _error(self, etype: str, message: str) -> None:
        self._out.append(encode_data({"error": {"message": message, "type": etype, "code": None}}))
        self._finished = True

    def _on_event(self, ev: SSEEvent) -> None:
        try:
            data = orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        kind = data.get("type", ev.event)
        if kind == "message_start":
            message = data.get("message") or {}
            self._id = completion_id_for(message.get("id"))
            self._usage.update(message.get("usage") or {})
            self._started = True
            self._chunk({"role": "assistant", "content": ""})
        elif kind == "content_block_start":
            self._block_start(data)
        elif kind == "content_block_delta":
            self._block_delta(data)
        elif kind == "message_delta":
            self._stop_reason = (data.get("delta") or {}).get("stop_reason")
            self._usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            finish = "tool_calls" if self._tool_slots else finish_reason_for(self._stop_reason)
            self._chunk({}, finish)
            if self._include_usage:
                frame = self._frame([])
                frame["usage"] = openai_usage(self._usage)
                self._out.append(encode_data(frame))
            self._out.append(DONE)
            self._finished = True
        elif kind == "error":
            err = data.get("error") or {}
            self._error(str(err.get("type") or "api_error"), str(err.get("message") or "upstream error"))

    def _block_start(self, data: dict[str, Any]) -> None:
        block = data.get("content_block") or {}
        index = data.get("index", 0)
        if block.get("type") == "tool_use":
            slot = len(self._tool_slots)
            self._tool_slots[index] = slot
            call = {
                "index": slot,
                "id": block.get("id", ""),
                "type": "function",
                "function": {"name": block.get("name", ""), "arguments": ""},
            }
            self._chunk({"tool_calls": [call]})
        elif block.get("type") == "text" and block.get("text"):
            self._chunk({"content": block["text"]})

    def _block_delta(self, data: dict[str, Any]) -> None:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            self._chunk({"content": delta["text"]})
        elif kind == "thinking_delta" and delta.get("thinking"):
            self._chunk({"reasoning_content": delta["thinking"]})
        elif kind == "input_json_delta" and delta.get("partial_json"):
            slot = self._tool_slots.get(data.get("index", 0))
            if slot is not None:
                self._chunk({"tool_calls": [{"index": slot, "function": {"arguments": delta["partial_json"]}}]})
