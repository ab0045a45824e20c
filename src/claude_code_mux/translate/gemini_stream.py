"""Gemini ``streamGenerateContent?alt=sse`` -> Anthropic Messages SSE, as a sans-IO state machine.

Feed raw upstream bytes in any chunking; get Anthropic SSE bytes back. Each upstream event is a whole
``GenerateContentResponse`` (``{"response": ...}`` from Code Assist); there is no ``[DONE]``: the last event
carries ``finishReason`` and the final ``usageMetadata``, and the stream ends when the body does.

- ``message_start`` waits for the first real output, so an error before it costs nothing: ``feed`` returns
  ``b""``, :attr:`~GeminiStreamTranslator.error` is set and the caller may fail over. After it, an error
  becomes an ``event: error`` and the stream ends there.
- Blocks as in :func:`~claude_code_mux.translate.gemini_response.from_gemini_response`: thought text ->
  ``thinking`` (empty signature), text -> ``text``, each ``functionCall`` -> one ``tool_use`` block whose
  complete ``args`` go out as one ``input_json_delta`` and which closes at once. A ``ping`` follows the first
  ``content_block_start``.
- The finish reason is remembered and ``message_delta``/``message_stop`` are sent at :meth:`close` (usage
  may still follow); a refusal without text gets a text block saying why.
- A stream that ends without one event is an error (nothing was produced).

The shared plumbing (buffering, framing, block bookkeeping, failures) is :mod:`.anthropic_out`.
"""

from __future__ import annotations

from typing import Any

import orjson

from claude_code_mux.translate.anthropic_out import AnthropicStreamTranslator
from claude_code_mux.translate.gemini_response import (
    GeminiAnswerError,
    block_reason_of,
    candidate_of,
    check_finish,
    part_kind,
    parts_of,
    refusal_text,
    stop_reason_for,
    unwrap,
    usage_from_gemini,
)
from claude_code_mux.translate.openai_response import error_from_payload, message_id_for
from claude_code_mux.wire.sse import SSEEvent


class GeminiStreamTranslator(AnthropicStreamTranslator):
    """See the module docstring. One instance per upstream response."""

    def __init__(self, *, model: str, message_id: str | None = None) -> None:
        super().__init__(model=model, message_id=message_id)
        self._tools = 0
        self._text_seen = False
        self._finish: str | None = None
        self._blocked: str | None = None
        self._usage_raw: Any = None
        #: tool_use id -> the call's ``thoughtSignature`` (to send back with the next request).
        self.signatures: dict[str, str] = {}

    @property
    def usage(self) -> dict[str, int]:
        return usage_from_gemini(self._usage_raw) if self._usage_raw is not None else {}

    def _ended(self) -> None:
        self._finalize()

    def _on_event(self, ev: SSEEvent) -> None:
        data = ev.data.strip()
        if not data:
            return
        self._data_events += 1
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._fail("api_error", f"malformed event from upstream: {data[:200]}")
            return
        if isinstance(obj, list) and len(obj) == 1:
            obj = obj[0]
        if not isinstance(obj, dict):
            return
        if obj.get("error"):
            self._fail(*error_from_payload(obj))
            return
        self._on_response(unwrap(obj))

    # ---- one GenerateContentResponse -----------------------------------------------------------

    def _on_response(self, resp: dict[str, Any]) -> None:
        if self._message_id is None and isinstance(resp.get("responseId"), str):
            self._message_id = message_id_for(resp["responseId"])
        if isinstance(resp.get("usageMetadata"), dict):
            self._usage_raw = resp["usageMetadata"]
        cand = candidate_of(resp)
        self._blocked = self._blocked or (block_reason_of(resp) if not cand else None)
        for part in parts_of(cand):
            kind = part_kind(part)
            if kind is None:
                continue
            self._start()
            if kind[0] == "tool":
                tool_id = self._tool(*kind[1])
                if isinstance(part.get("thoughtSignature"), str):
                    self.signatures[tool_id] = part["thoughtSignature"]
            else:
                self._text(kind[0], kind[1])
        finish = cand.get("finishReason")
        if isinstance(finish, str) and finish:
            try:
                check_finish(finish)
            except GeminiAnswerError as exc:
                self._fail(exc.etype, exc.message)
                return
            self._finish = finish
            self._start()
            self._close_open()
        elif self._blocked:
            self._start()

    def _start_usage(self) -> dict[str, Any]:
        return {**usage_from_gemini(self._usage_raw), "output_tokens": 0}

    def _text(self, kind: str, text: str) -> None:
        if self._open_kind != kind:
            self._close_open()
            block = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {"type": "text", "text": ""}
            )
            self._open_block(kind, block)
        if kind == "thinking":
            self._delta({"type": "thinking_delta", "thinking": text})
        else:
            self._text_seen = True
            self._delta({"type": "text_delta", "text": text})

    def _tool(self, name: str, args: dict[str, Any]) -> str:
        self._close_open()
        tool_id = f"toolu_{(self._message_id or 'msg_')[4:]}_{self._tools}"
        self._tools += 1
        self._open_block("tool", {"type": "tool_use", "id": tool_id, "name": name, "input": {}})
        self._delta({"type": "input_json_delta", "partial_json": orjson.dumps(args).decode()})
        self._close_open()
        return tool_id

    def _finalize(self) -> None:
        if self._blocked and self._finish is None:
            self._finish = "SAFETY"
        self._start()
        stop = stop_reason_for(self._finish, tool_calls=self._tools > 0)
        if stop == "refusal" and not self._text_seen:
            self._text("text", refusal_text(self._finish, self._blocked))
        self._close_open()
        usage = usage_from_gemini(self._usage_raw)
        self._end_message(stop, usage)
