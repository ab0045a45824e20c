"""OpenAI Chat Completions answer -> Anthropic message, plus the shared pieces the stream translator uses.

- ``reasoning_content`` / ``reasoning`` -> a leading ``thinking`` block (``signature: ""``);
  ``content`` (string or parts) and ``refusal`` -> a ``text`` block; ``tool_calls`` -> ``tool_use``
  blocks with the upstream ids and the parsed arguments (unparseable arguments become
  ``{"_raw": "..."}`` instead of an error).
- ``finish_reason``: stop->end_turn, length->max_tokens, tool_calls/function_call->tool_use,
  content_filter->refusal, anything else->end_turn; ``tool_use`` whenever a tool call is present.
- usage: ``input_tokens`` excludes cached prompt tokens, which go to ``cache_read_input_tokens``
  (OpenAI ``prompt_tokens_details.cached_tokens``, DeepSeek ``prompt_cache_hit_tokens``).
- OpenAI-style error bodies -> (Anthropic error type, message).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from claude_code_mux.errors import error_type_for_status
from claude_code_mux.wire.openai import ChatCompletion

FINISH_TO_STOP: Mapping[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_ID_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def stop_reason_for(finish_reason: Any, *, tool_calls: bool) -> str:
    """The Anthropic ``stop_reason`` for an OpenAI ``finish_reason``."""
    if tool_calls:
        return "tool_use"
    return FINISH_TO_STOP.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_openai(usage: Any) -> dict[str, int]:
    """Anthropic usage from an OpenAI ``usage`` object (zeros when it is missing)."""
    if not isinstance(usage, dict):
        usage = {}
    prompt = _count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    cached = _count(details.get("cached_tokens")) or _count(usage.get("prompt_cache_hit_tokens"))
    written = _count(details.get("cache_write_tokens"))
    cached = min(cached, prompt)
    written = min(written, prompt - cached)
    return {
        "input_tokens": prompt - cached - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": _count(usage.get("completion_tokens")),
    }


def parse_arguments(args: Any) -> dict[str, Any]:
    """Tool-call arguments as an object; text that is not a JSON object is kept as ``{"_raw": text}``."""
    if isinstance(args, dict):
        return args
    if args is None or (isinstance(args, str) and not args.strip()):
        return {}
    text = args if isinstance(args, str) else orjson.dumps(args).decode()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}


def reasoning_text(obj: Mapping[str, Any]) -> str:
    """``reasoning_content`` (DeepSeek, vLLM) or else ``reasoning`` (OpenRouter, Groq, Ollama)."""
    for key in ("reasoning_content", "reasoning"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def content_pieces(content: Any) -> list[tuple[str, str]]:
    """(kind, text) pieces of a message/delta ``content``: a string, or parts (Mistral thinking parts too)."""
    if isinstance(content, str):
        return [("text", content)] if content else []
    out: list[tuple[str, str]] = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, str):
            out.append(("text", part))
        elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            out.append(("text", part["text"]))
        elif isinstance(part, dict) and part.get("type") == "thinking":
            inner = part.get("thinking")
            if isinstance(inner, str):
                out.append(("thinking", inner))
            elif isinstance(inner, list):
                out.extend(
                    ("thinking", p["text"]) for p in inner if isinstance(p, dict) and isinstance(p.get("text"), str)
                )
    return [(k, t) for k, t in out if t]


def unique_id(tool_id: str, used: set[str]) -> str:
    """``tool_id``, suffixed when this message already has a call with that id (ids pair results)."""
    candidate, n = tool_id, 1
    while candidate in used:
        candidate, n = f"{tool_id}_{n}", n + 1
    used.add(candidate)
    return candidate


def message_id_for(upstream_id: Any) -> str:
    """An Anthropic-looking message id derived from the upstream id (random when there is none)."""
    if isinstance(upstream_id, str) and upstream_id:
        safe = _ID_SAFE.sub("", upstream_id)
        if safe:
            return safe if safe.startswith("msg_") else "msg_" + safe
    return "msg_" + uuid.uuid4().hex[:24]


def from_openai_response(
    resp: ChatCompletion, *, model: str, tool_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Translate a non-streamed chat.completion into an Anthropic message for ``model``.

    ``tool_names`` maps upstream tool names back to the client's (see ``quirks.tool_name_map``).
    """
    msg_id = message_id_for(resp.get("id"))
    choices = resp.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[dict[str, Any]] = []
    thinking = reasoning_text(message)
    texts: list[str] = []
    for kind, text in content_pieces(message.get("content")):
        if kind == "thinking":
            thinking += text
        else:
            texts.append(text)
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    refusal = message.get("refusal")
    refused = not texts and isinstance(refusal, str) and bool(refusal)
    if refused:
        texts.append(str(refusal))
    if texts:
        content.append({"type": "text", "text": "".join(texts)})
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        legacy = message.get("function_call")
        calls = [{"function": legacy}] if isinstance(legacy, dict) else []
    names = tool_names or {}
    used: set[str] = set()
    for n, call in enumerate(c for c in calls if isinstance(c, dict)):
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        raw_name = fn.get("name")
        name = raw_name if isinstance(raw_name, str) else ""
        raw_id = call.get("id")
        call_id = unique_id(raw_id if isinstance(raw_id, str) and raw_id else f"toolu_{msg_id[4:]}_{n}", used)
        content.append(
            {
                "type": "tool_use",
                "id": call_id,
                "name": names.get(name, name),
                "input": parse_arguments(fn.get("arguments")),
            }
        )
    has_tools = any(b["type"] == "tool_use" for b in content)
    finish = choice.get("finish_reason")
    stop = "refusal" if refused and not has_tools else stop_reason_for(finish, tool_calls=has_tools)
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage_from_openai(resp.get("usage")),
    }


# ---------------------------------------------------------------------------------------------
# errors

_TYPE_HINTS: tuple[tuple[str, str], ...] = (
    ("rate_limit", "rate_limit_error"),
    ("quota", "rate_limit_error"),
    ("overloaded", "overloaded_error"),
    ("unavailable", "overloaded_error"),
    ("capacity", "overloaded_error"),
    ("auth", "authentication_error"),
    ("api_key", "authentication_error"),
    ("permission", "permission_error"),
    ("not_found", "not_found_error"),
    ("timeout", "timeout_error"),
    ("invalid", "invalid_request_error"),
    ("context_length", "invalid_request_error"),
)
_TOO_LONG = re.compile(r"context.length|context window|maximum context|too many tokens|prompt is too long", re.I)


def error_from_payload(payload: Any, status: int = 200) -> tuple[str, str]:
    """(Anthropic error type, message) from a parsed OpenAI-style error body (or an in-stream error)."""
    err: Any = payload
    if isinstance(err, list) and err:  # Gemini sometimes wraps the error in a list
        err = err[0]
    if isinstance(err, dict) and "error" in err:
        err = err["error"]
    message = ""
    code: Any = None
    kind: Any = None
    if isinstance(err, dict):
        message = str(err.get("message") or err.get("detail") or err.get("msg") or "")
        code, kind = err.get("code"), err.get("type") or err.get("status")
        if not message and isinstance(err.get("metadata"), dict):
            message = str(err["metadata"].get("raw") or "")
    elif isinstance(err, str):
        message = err
    if not message and isinstance(payload, dict) and payload.get("detail"):
        message = str(payload["detail"])
    if not message:
        message = orjson.dumps(payload).decode()[:500] if payload else f"HTTP {status}"
    etype = _error_type(status, code, kind)
    hint = f"{code} {kind}"
    if etype == "invalid_request_error" and (_TOO_LONG.search(message) or "context_length" in hint):
        # Claude Code recognises this phrase and compacts the conversation.
        message = "prompt is too long: " + message
    return etype, message


def _error_type(status: int, code: Any, kind: Any) -> str:
    if status >= 400:
        return error_type_for_status(status)
    if isinstance(code, int) and not isinstance(code, bool) and code >= 400:
        return error_type_for_status(code)
    if isinstance(code, str) and code.isdigit() and int(code) >= 400:
        return error_type_for_status(int(code))
    hint = f"{code or ''} {kind or ''}".lower()
    for needle, etype in _TYPE_HINTS:
        if needle in hint:
            return etype
    return "api_error"


def openai_error_to_anthropic(status: int, body: bytes) -> tuple[str, str]:
    """(Anthropic error type, message) for an upstream error response ``status`` with ``body``."""
    try:
        payload: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return error_from_payload(None, status)[0], text[:500] or f"HTTP {status}"
    return error_from_payload(payload, status)
