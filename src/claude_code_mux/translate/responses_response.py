"""OpenAI Responses answer -> Anthropic message, plus the pieces the stream translator shares.

- ``reasoning`` items -> a ``thinking`` block with the summary texts (``signature: ""``: there is no
  Anthropic signature to give, and thinking hygiene drops such blocks before an Anthropic upstream);
  encrypted reasoning is not carried (``store: false`` and no way to hand it back through Claude Code).
- ``message`` items -> ``text`` blocks (``output_text``; a ``refusal`` part is text too, and makes the stop
  reason ``refusal`` when nothing else was said).
- ``function_call`` items -> ``tool_use`` blocks with ``call_id`` as the id and parsed arguments
  (unparseable text is kept as ``{"_raw": text}``); shortened tool names are mapped back.
- stop reason: ``tool_use`` when a call is present; ``incomplete`` for ``max_output_tokens`` ->
  ``max_tokens``, for ``content_filter`` -> ``refusal``; otherwise ``end_turn``.
- usage: ``input_tokens_details.cached_tokens`` -> ``cache_read_input_tokens``, ``cache_write_tokens`` ->
  ``cache_creation_input_tokens``, the rest of ``input_tokens`` -> ``input_tokens`` (Anthropic counts the three
  apart); ``output_tokens`` as is (it includes reasoning tokens).
- ``status: "failed"`` / error bodies -> (Anthropic error type, message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claude_code_mux.errors import error_type_for_status
from claude_code_mux.translate.openai_response import error_from_payload, message_id_for, parse_arguments, unique_id
from claude_code_mux.wire.anthropic import Message, Usage

# Responses error codes (``response.failed`` / ``error`` events) -> Anthropic error types.
_CODE_TYPES: Mapping[str, str] = {
    "rate_limit_exceeded": "rate_limit_error",
    "insufficient_quota": "rate_limit_error",
    "usage_limit_reached": "rate_limit_error",
    "server_error": "api_error",
    "server_is_overloaded": "overloaded_error",
    "slow_down": "overloaded_error",
    "context_length_exceeded": "invalid_request_error",
    "invalid_prompt": "invalid_request_error",
    "invalid_request_error": "invalid_request_error",
    "vector_store_timeout": "timeout_error",
}
ERROR_STATUS: Mapping[str, int] = {
    "rate_limit_error": 429,
    "overloaded_error": 529,
    "authentication_error": 401,
    "permission_error": 403,
    "invalid_request_error": 400,
    "not_found_error": 404,
    "timeout_error": 504,
}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_responses(usage: Any) -> Usage:
    """Anthropic usage from a Responses ``usage`` object (zeros when it is missing)."""
    if not isinstance(usage, dict):
        usage = {}
    total_in = _count(usage.get("input_tokens"))
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    cached = min(_count(details.get("cached_tokens")), total_in)
    written = min(_count(details.get("cache_write_tokens")), total_in - cached)
    return {
        "input_tokens": total_in - cached - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": _count(usage.get("output_tokens")),
    }


def stop_reason_for(response: Mapping[str, Any], *, tool_calls: bool, refused: bool) -> str:
    if tool_calls:
        return "tool_use"
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if response.get("status") == "incomplete" or reason:
        if reason == "content_filter":
            return "refusal"
        return "max_tokens"
    return "refusal" if refused else "end_turn"


def failure_of(payload: Any) -> tuple[str, str]:
    """(Anthropic error type, message) from a failed response, an ``error`` event or an error body."""
    err: Any = payload
    if isinstance(payload, dict) and isinstance(payload.get("response"), dict):
        err = payload["response"].get("error")
    elif isinstance(payload, dict) and payload.get("type") == "error":
        err = payload.get("error") if isinstance(payload.get("error"), dict) else payload
    elif isinstance(payload, dict) and payload.get("object") == "response":
        err = payload.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    etype, message = error_from_payload(err if err else payload)
    if isinstance(code, str) and code in _CODE_TYPES:
        etype = _CODE_TYPES[code]
        if code == "context_length_exceeded" and not message.startswith("prompt is too long"):
            message = "prompt is too long: " + message  # Claude Code compacts on this phrase
    return etype, message


def error_status(etype: str) -> int:
    """The HTTP status an Anthropic error type stands for (502 for upstream trouble)."""
    return ERROR_STATUS.get(etype, 502)


def responses_error_to_anthropic(status: int, payload: Any) -> tuple[str, str]:
    """(Anthropic error type, message) for an upstream error response; the status decides the type."""
    etype, message = failure_of(payload)
    return (error_type_for_status(status) if status >= 400 else etype), message


def from_responses_response(
    resp: Mapping[str, Any], *, model: str, tool_names: Mapping[str, str] | None = None
) -> Message:
    """Translate a non-streamed Responses ``response`` object into an Anthropic message for ``model``."""
    msg_id = message_id_for(resp.get("id"))
    names = tool_names or {}
    content: list[dict[str, Any]] = []
    text_seen = refusal_seen = False
    used: set[str] = set()
    n_calls = 0

    def add(kind: str, key: str, text: str, sep: str) -> None:
        # Adjacent output of one kind is one block, as the stream translator emits it.
        if content and content[-1]["type"] == kind:
            content[-1][key] += sep + text
        elif kind == "thinking":
            content.append({"type": "thinking", "thinking": text, "signature": ""})
        else:
            content.append({"type": "text", "text": text})

    output = resp.get("output")
    for item in output if isinstance(output, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            for part in item.get("summary") or []:
                if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                    add("thinking", "thinking", part["text"], "\n\n")
        elif kind == "message":
            for part in item.get("content") or []:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text" and isinstance(part.get("text"), str) and part["text"]:
                    text_seen = True
                    add("text", "text", part["text"], "")
                elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str) and part["refusal"]:
                    refusal_seen = True
                    add("text", "text", part["refusal"], "")
        elif kind == "function_call":
            raw_name = item.get("name")
            name = raw_name if isinstance(raw_name, str) else ""
            raw_id = item.get("call_id") or item.get("id")
            fallback = f"toolu_{msg_id[4:]}_{n_calls}"
            call_id = unique_id(raw_id if isinstance(raw_id, str) and raw_id else fallback, used)
            n_calls += 1
            args = parse_arguments(item.get("arguments"))
            content.append({"type": "tool_use", "id": call_id, "name": names.get(name, name), "input": args})
    refused = refusal_seen and not text_seen
    stop = stop_reason_for(resp, tool_calls=n_calls > 0, refused=refused)
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage_from_responses(resp.get("usage")),
    }
