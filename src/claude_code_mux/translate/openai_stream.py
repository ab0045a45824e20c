"""OpenAI chat.completion.chunk SSE -> Anthropic Messages SSE, as a sans-IO state machine.

Feed raw upstream bytes in any chunking; get Anthropic SSE bytes back.  The output depends only on the
sequence of upstream events, never on where the byte chunks were cut (multi-byte UTF-8 included).

Rules:

- ``message_start`` is sent with the first real output (content, a tool call, a finish or the end of
  the stream), so an error payload that arrives before it costs the client nothing: ``feed`` returns
  ``b""``, :attr:`~OpenAIStreamTranslator.error` is set and the caller may fail over.  After
  ``message_start`` an error payload becomes an ``event: error`` and the stream ends there.  The
  decision rests on the event sequence alone, so it too is the same for every chunking.
- Blocks are emitted one at a time, indices in order of first arrival: ``thinking`` (from
  ``reasoning_content``/``reasoning``), ``text``, and one ``tool_use`` per tool call (upstream ``id``
  kept).
- While a tool call's arguments are not yet a complete JSON object, whatever else arrives (another
  call, text, reasoning) waits in arrival order (argument deltas of waiting calls are buffered), so
  interleaved parallel calls land in the right blocks, nothing is dropped, and the open call still
  streams live.  Tool-call deltas for different ``index`` values (or a new ``id`` at a known index)
  are different calls; a call without ``id`` gets ``toolu_<message>_<n>``; duplicate ids are suffixed.
- ``finish_reason`` closes the open blocks at once (Claude Code can start the last tool), but
  ``message_delta``/``message_stop`` wait for ``[DONE]`` or :meth:`~OpenAIStreamTranslator.close`,
  because the usage chunk comes after the finish; a stream without ``finish_reason`` or without
  ``[DONE]`` still ends properly.  ``stop_reason`` is ``tool_use`` whenever a tool was called.
- Runs of plain text-delta frames are translated from their bytes (:mod:`.openai_text_frame`).

The plumbing every translator shares (buffering, SSE framing, ``message_start`` and block bookkeeping, the ping,
failures, a stream without data) is :class:`~claude_code_mux.translate.anthropic_out.AnthropicStreamTranslator`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from claude_code_mux.translate.anthropic_out import AnthropicStreamTranslator
from claude_code_mux.translate.openai_response import (
    content_pieces,
    error_from_payload,
    message_id_for,
    reasoning_text,
    stop_reason_for,
    unique_id,
    usage_from_openai,
)
from claude_code_mux.translate.openai_text_frame import TextFrames
from claude_code_mux.wire.sse import DONE, SSEEvent


class _Tool:
    __slots__ = ("args", "buffer", "id", "name", "sent_args")

    def __init__(self, tool_id: str | None) -> None:
        self.id = tool_id
        self.name: str | None = None
        self.args = ""  # everything received
        self.buffer = ""  # received but not yet sent (the block is not open yet)
        self.sent_args = False


def _complete_object(text: str) -> bool:
    end = len(text) - 1
    while end >= 0 and text[end] in " \t\r\n":
        end -= 1
    if end < 0 or text[end] != "}":
        return False
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


class OpenAIStreamTranslator(AnthropicStreamTranslator):
    """See the module docstring.  One instance per upstream response."""

    def __init__(
        self, *, model: str, message_id: str | None = None, tool_names: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(model=model, message_id=message_id)
        self._names = dict(tool_names or {})
        self._open_tool: _Tool | None = None
        self._tools: list[_Tool] = []
        self._by_index: dict[int, _Tool] = {}
        self._by_id: dict[str, _Tool] = {}
        self._queue: list[_Tool | tuple[str, str]] = []  # waiting tool calls and held text, in order
        self._used_ids: set[str] = set()
        self._finish: str | None = None
        self._usage_raw: dict[str, Any] | None = None
        self._text_seen = False
        self._refusal_seen = False
        self._text_prefix = b""
        self._text_head = b""
        self._frames = TextFrames()

    @property
    def usage(self) -> dict[str, int]:
        """Anthropic usage from the upstream's usage chunk ({} when it sent none)."""
        return usage_from_openai(self._usage_raw) if self._usage_raw is not None else {}

    def feed(self, chunk: bytes) -> bytes:
        if self._finished:
            return b""
        if self._open_kind == "text" and not self._queue and self._decoder.idle:  # most reads: text frames only
            pos, taken = self._frames.take(chunk, 0, self._text_head, self._out)
            if taken:
                self._data_events += taken
                if pos == len(chunk):
                    return self._flush()
                chunk = chunk[pos:]
        if self._decoder.idle and b"\r" not in chunk:
            chunk = self._plain_frames(chunk)
            if self._finished or not chunk:
                return self._flush()
        self._decode(chunk)
        return self._flush()

    def _ended(self) -> None:
        self._finalize()

    def _plain_frames(self, chunk: bytes) -> bytes:
        """Handle the leading ``data: {...}`` frames of ``chunk`` straight from its bytes; return the rest.

        Most of a stream is such frames (one JSON object on one ``data:`` line, then a blank line). The SSE
        decoder would turn each into the same event (named ``message``, its data the line after ``data: ``),
        only via a decoded ``str``; anything else (event lines, comments, multi-line data, CR, a frame cut
        by the chunking) is left to the decoder, so the outcome never depends on which path a frame took.
        """
        pos = 0
        n = len(chunk)
        while pos < n:
            if self._open_kind == "text" and not self._queue:  # the common frames, from their bytes
                pos, taken = self._frames.take(chunk, pos, self._text_head, self._out)
                if taken:
                    self._data_events += taken
                    continue
            if not chunk.startswith(b"data: {", pos):
                if chunk.startswith(DONE, pos):  # what the decoder would make of it: one "[DONE]" event
                    self._data_events += 1
                    self._finalize()
                    pos += len(DONE)
                break
            end = chunk.find(b"\n", pos)
            if end == -1 or end + 1 >= n or chunk[end + 1] != 10 or chunk[end - 1] != 125:  # "\n\n", ends "}"
                break
            payload = chunk[pos + 6 : end]
            pos = end + 2
            self._data_events += 1
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError:  # e.g. invalid UTF-8, which the decoder would have replaced
                self._data_events -= 1
                self._on_event(SSEEvent("message", payload.decode("utf-8", errors="replace")))
            else:
                if obj.get("error"):
                    self._fail(*error_from_payload(obj))
                else:
                    self._on_chunk(obj)
            if self._finished:
                break
        return chunk[pos:] if pos else chunk

    def _on_event(self, ev: SSEEvent) -> None:
        data = ev.data.strip()
        if not data:
            return
        self._data_events += 1
        if data == "[DONE]":
            self._finalize()
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            if ev.event == "error":
                self._fail("api_error", data[:500])
            else:
                self._fail("api_error", f"malformed chunk from upstream: {data[:200]}")
            return
        if not isinstance(obj, dict):
            return
        if obj.get("error") or ev.event == "error":
            self._fail(*error_from_payload(obj))
            return
        self._on_chunk(obj)

    # ---- chunk handling ----------------------------------------------------------------------

    def _on_chunk(self, obj: dict[str, Any]) -> None:
        if self._message_id is None and isinstance(obj.get("id"), str) and obj["id"]:
            self._message_id = message_id_for(obj["id"])
        usage = obj.get("usage")
        if not isinstance(usage, dict):
            groq = obj.get("x_groq")
            usage = groq.get("usage") if isinstance(groq, dict) else None
        if usage and isinstance(usage, dict):
            self._usage_raw = usage
        choices = obj.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) not in (0, None):
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice.get("message")
            self._on_delta(delta if isinstance(delta, dict) else {})
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                if finish == "error":
                    self._fail("api_error", "the upstream ended the stream with finish_reason 'error'")
                    return
                self._finish = finish
                self._start()
                self._drain(force=True)

    def _on_delta(self, delta: dict[str, Any]) -> None:
        content = delta.get("content")
        if len(delta) == 1 and type(content) is str:  # most deltas: text alone
            if content:
                self._append("text", content)
                self._text_seen = True
            return
        reasoning = reasoning_text(delta)
        if reasoning:
            self._append("thinking", reasoning)
        for kind, text in content_pieces(content):
            self._append(kind, text)
            self._text_seen = self._text_seen or kind == "text"
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refusal_seen = True
            self._append("text", refusal)
        calls = delta.get("tool_calls")
        if not isinstance(calls, list):
            legacy = delta.get("function_call")
            calls = [{"index": 0, "function": legacy}] if isinstance(legacy, dict) else []
        for call in calls:
            if isinstance(call, dict):
                self._on_tool_delta(call)

    def _on_tool_delta(self, call: dict[str, Any]) -> None:
        idx = call.get("index")
        tid = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        name = fn.get("name") if isinstance(fn.get("name"), str) and fn.get("name") else None
        args = fn.get("arguments")
        if isinstance(args, dict | list):
            args = orjson.dumps(args).decode()
        known = (isinstance(idx, int) and idx in self._by_index) or (tid is not None and tid in self._by_id)
        if tid is None and name is None and not args and not known:
            return  # an empty delta for a call we never heard of
        tool = self._find_tool(idx if isinstance(idx, int) and not isinstance(idx, bool) else None, tid)
        if tool.id is None and tid is not None:
            tool.id = tid
            self._by_id[tid] = tool
        if tool.name is None and name is not None:
            tool.name = name
        self._start()
        if isinstance(args, str) and args:
            tool.args += args
            if tool is self._open_tool:
                self._send_args(tool, args)
            elif tool in self._queue:
                tool.buffer += args
            # else: more arguments after the call's JSON object was complete (whitespace): dropped
        self._drain()

    def _find_tool(self, idx: int | None, tid: str | None) -> _Tool:
        if idx is not None:
            tool = self._by_index.get(idx)
            if tool is not None and (tid is None or tool.id is None or tool.id == tid):
                return tool
        elif tid is not None and tid in self._by_id:
            return self._by_id[tid]
        elif tid is None and self._tools:
            return self._tools[-1]
        tool = _Tool(tid)
        if tid is not None:
            self._by_id[tid] = tool
        if idx is not None:
            self._by_index[idx] = tool
        self._tools.append(tool)
        self._queue.append(tool)
        return tool

    # ---- blocks ------------------------------------------------------------------------------

    def _start_usage(self) -> dict[str, Any]:
        return {**usage_from_openai(self._usage_raw), "output_tokens": 0}

    def _open(self, kind: str, block: dict[str, Any]) -> None:
        self._open_block(kind, block)
        # == encode_event("content_block_delta", {...text_delta...}) up to the text's JSON
        self._text_prefix = (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,' % (self._next_index)
            + b'"delta":{"type":"text_delta","text":'
        )
        self._text_head = self._text_prefix + b'"'

    def _closing(self) -> None:
        tool = self._open_tool
        if tool is not None and not tool.sent_args:
            self._delta({"type": "input_json_delta", "partial_json": "{}"})
        self._open_tool = None

    def _open_tool_block(self, tool: _Tool) -> None:
        fallback = f"toolu_{(self._message_id or 'msg_')[4:]}_{self._tools.index(tool)}"
        tool.id = unique_id(tool.id or fallback, self._used_ids)
        name = tool.name or "unknown"
        block = {"type": "tool_use", "id": tool.id, "name": self._names.get(name, name), "input": {}}
        self._open("tool", block)
        self._open_tool = tool
        if tool.buffer:
            buffered, tool.buffer = tool.buffer, ""
            self._send_args(tool, buffered)

    def _send_args(self, tool: _Tool, args: str) -> None:
        tool.sent_args = True
        self._delta({"type": "input_json_delta", "partial_json": args})

    def _blocked(self) -> bool:
        """The open tool call is still receiving arguments: whatever arrives meanwhile must wait."""
        tool = self._open_tool
        return self._open_kind == "tool" and tool is not None and not _complete_object(tool.args)

    def _drain(self, *, force: bool = False) -> None:
        """Emit waiting items in arrival order while nothing blocks them; ``force``: all, then close."""
        while self._queue:
            item = self._queue[0]
            if not force and (self._blocked() or (isinstance(item, _Tool) and item.name is None)):
                return
            self._queue.pop(0)
            if isinstance(item, _Tool):
                self._close_open()
                self._open_tool_block(item)
            else:
                self._write(*item)
        if force:
            self._close_open()

    def _append(self, kind: str, text: str) -> None:
        self._start()
        if self._queue or self._blocked():
            self._queue.append((kind, text))
        else:
            self._write(kind, text)

    def _write(self, kind: str, text: str) -> None:
        if kind == "text" and self._open_kind == "text":  # the common case, serialised in one go
            self._out.append(self._text_prefix + orjson.dumps(text) + b"}}\n\n")
            return
        if self._open_kind != kind:
            self._close_open()
            if kind == "thinking":
                self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            else:
                self._open("text", {"type": "text", "text": ""})
        if kind == "thinking":
            self._delta({"type": "thinking_delta", "thinking": text})
        else:
            self._delta({"type": "text_delta", "text": text})

    def _finalize(self) -> None:
        if self._finished:
            return
        self._start()
        self._drain(force=True)
        has_tools = bool(self._tools)
        stop = stop_reason_for(self._finish, tool_calls=has_tools)
        if self._refusal_seen and not (self._text_seen or self._frames.wrote_text) and not has_tools:
            stop = "refusal"
        usage = usage_from_openai(self._usage_raw) if self._usage_raw is not None else {"output_tokens": 0}
        self._end_message(stop, usage)
