"""Gemini ``GenerateContentResponse`` -> Anthropic message, plus the pieces the stream translator shares.

- parts: ``thought: true`` text -> ``thinking`` (``signature: ""``: Gemini's summaries carry no Anthropic
  signature and we do not invent one); text -> ``text``; ``functionCall`` -> ``tool_use`` with a generated id
  (``toolu_<message>_<n>``; Gemini's own call ids are optional and not unique across turns) and the complete
  ``args`` object as input. Adjacent parts of one kind share a block.
- ``finishReason``: STOP -> ``end_turn`` (``tool_use`` when a function was called), MAX_TOKENS ->
  ``max_tokens``; SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY and a prompt blocked by
  ``promptFeedback.blockReason`` -> ``refusal``, with a text block saying why when the model said nothing;
  MALFORMED_FUNCTION_CALL (and UNEXPECTED_TOOL_CALL) -> an ``api_error`` (the caller may retry); anything else
  -> ``end_turn``.
- usage: ``input_tokens`` = ``promptTokenCount`` (+ ``toolUsePromptTokenCount``) minus
  ``cachedContentTokenCount``, which becomes ``cache_read_input_tokens``; ``output_tokens`` =
  ``candidatesTokenCount`` + ``thoughtsTokenCount`` (thinking is billed as output).
- error bodies ``{"error": {code, message, status, details}}`` -> (Anthropic error type, message), and the
  ``google.rpc.RetryInfo`` ``retryDelay`` as seconds for ``retry-after``; a 400 whose ``ErrorInfo`` reason is
  ``API_KEY_INVALID`` is an authentication error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from claude_code_mux.translate.openai_response import error_from_payload, message_id_for

REFUSALS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})
ERRORS = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"})
_BAD_KEY = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class GeminiAnswerError(Exception):
    """The answer cannot be used (a malformed function call): ``etype`` and ``message`` for the envelope."""

    def __init__(self, etype: str, message: str) -> None:
        super().__init__(message)
        self.etype = etype
        self.message = message


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_gemini(meta: Any) -> dict[str, int]:
    """Anthropic usage from ``usageMetadata`` (zeros when it is missing)."""
    meta = meta if isinstance(meta, dict) else {}
    prompt = _count(meta.get("promptTokenCount")) + _count(meta.get("toolUsePromptTokenCount"))
    cached = min(_count(meta.get("cachedContentTokenCount")), prompt)
    return {
        "input_tokens": prompt - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": _count(meta.get("candidatesTokenCount")) + _count(meta.get("thoughtsTokenCount")),
    }


def stop_reason_for(finish: str | None, *, tool_calls: bool) -> str:
    if finish in REFUSALS:
        return "refusal"
    if tool_calls:
        return "tool_use"
    if finish == "MAX_TOKENS":
        return "max_tokens"
    return "end_turn"


def refusal_text(finish: str | None, block_reason: str | None) -> str:
    """What the user reads when Gemini blocked the answer (or the prompt) and said nothing itself."""
    if block_reason:
        return f"[Gemini blocked the prompt: {block_reason}]"
    return f"[Gemini stopped the answer: {finish}]"


def check_finish(finish: str | None) -> None:
    """Raise :class:`GeminiAnswerError` for finish reasons that mean the answer is broken."""
    if finish in ERRORS:
        raise GeminiAnswerError("api_error", f"Gemini ended the answer with {finish}; try again")


def candidate_of(resp: Mapping[str, Any]) -> dict[str, Any]:
    cands = resp.get("candidates")
    if isinstance(cands, list) and cands and isinstance(cands[0], dict):
        return cands[0]
    return {}


def parts_of(cand: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = cand.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def block_reason_of(resp: Mapping[str, Any]) -> str | None:
    fb = resp.get("promptFeedback")
    reason = fb.get("blockReason") if isinstance(fb, dict) else None
    return reason if isinstance(reason, str) and reason else None


def part_kind(part: Mapping[str, Any]) -> tuple[str, Any] | None:
    """("thinking"|"text", text) or ("tool", (name, args)) for one part; None for parts we do not map."""
    call = part.get("functionCall")
    if isinstance(call, dict):
        name = call.get("name") if isinstance(call.get("name"), str) else "unknown"
        args = call.get("args")
        return "tool", (name, args if isinstance(args, dict) else {})
    text = part.get("text")
    if isinstance(text, str) and text:
        return ("thinking" if part.get("thought") is True else "text"), text
    return None


def unwrap(obj: Any) -> Any:
    """Code Assist wraps every answer as ``{"response": {...}}``."""
    if isinstance(obj, dict) and isinstance(obj.get("response"), dict) and "candidates" not in obj:
        return obj["response"]
    return obj


def from_gemini_response(
    resp: dict[str, Any],
    *,
    model: str,
    message_id: str | None = None,
    signatures: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Translate one (non-streamed) answer into an Anthropic message for ``model``.

    ``signatures`` (when given) receives tool_use id -> the call's ``thoughtSignature``, for the next request.
    """
    resp = unwrap(resp)
    msg_id = message_id or message_id_for(resp.get("responseId"))
    cand = candidate_of(resp)
    finish = cand.get("finishReason") if isinstance(cand.get("finishReason"), str) else None
    check_finish(finish)
    content: list[dict[str, Any]] = []
    n_tools = 0
    for part in parts_of(cand):
        kind = part_kind(part)
        if kind is None:
            continue
        if kind[0] == "tool":
            name, args = kind[1]
            tool_id = f"toolu_{msg_id[4:]}_{n_tools}"
            content.append({"type": "tool_use", "id": tool_id, "name": name, "input": args})
            n_tools += 1
            if signatures is not None and isinstance(part.get("thoughtSignature"), str):
                signatures[tool_id] = part["thoughtSignature"]
        elif content and content[-1]["type"] == kind[0]:
            content[-1][kind[0]] += kind[1]
        elif kind[0] == "thinking":
            content.append({"type": "thinking", "thinking": kind[1], "signature": ""})
        else:
            content.append({"type": "text", "text": kind[1]})
    blocked = block_reason_of(resp)
    if blocked and not cand:
        finish = "SAFETY"
    stop = stop_reason_for(finish, tool_calls=n_tools > 0)
    if stop == "refusal" and not any(b["type"] == "text" for b in content):
        content.append({"type": "text", "text": refusal_text(finish, blocked)})
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage_from_gemini(resp.get("usageMetadata")),
    }


# ---------------------------------------------------------------------------------------------
# errors


def retry_delay_s(payload: Any) -> float | None:
    """``RetryInfo.retryDelay`` ("17s", "0.5s") from a Gemini error body, in seconds."""
    err = payload[0] if isinstance(payload, list) and payload else payload
    err = err.get("error") if isinstance(err, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    for d in details if isinstance(details, list) else []:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DELAY.match(str(d.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    return None


def _reason(payload: Any) -> str | None:
    err = payload[0] if isinstance(payload, list) and payload else payload
    err = err.get("error") if isinstance(err, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    for d in details if isinstance(details, list) else []:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            return str(d.get("reason"))
    return None


def gemini_error(status: int, body: bytes) -> tuple[str, str, float | None]:
    """(Anthropic error type, message, retry-after seconds or None) for an upstream error response."""
    try:
        payload: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        etype, _ = error_from_payload(None, status)
        return etype, body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}", None
    etype, message = error_from_payload(payload, status)
    if _reason(payload) in _BAD_KEY:  # Gemini answers 400 INVALID_ARGUMENT for a wrong key
        etype = "authentication_error"
    if etype == "invalid_request_error" and "exceeds the maximum number of tokens" in message:
        message = "prompt is too long: " + message
    return etype, message, retry_delay_s(payload)


def retry_after_header(seconds: float | None) -> dict[str, str]:
    return {"retry-after": str(max(1, math.ceil(seconds)))} if seconds is not None else {}
