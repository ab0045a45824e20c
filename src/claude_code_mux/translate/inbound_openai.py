"""Inbound ``/v1/chat/completions``: OpenAI request -> internal Anthropic request, answer -> OpenAI.

Request: ``system``/``developer`` messages -> top-level ``system`` (in order); user/assistant text and
``image_url`` parts (data URL -> base64 source, http(s) -> url source); assistant ``tool_calls`` ->
``tool_use``; ``role: "tool"`` (and legacy ``function``) -> ``tool_result`` blocks in a user message
(consecutive ones merged, and so are consecutive messages of one role); ``tools``/``functions`` and
``tool_choice``/``parallel_tool_calls`` mapped; ``max_completion_tokens``/``max_tokens`` (default 4096);
``stop`` -> ``stop_sequences``; ``stream``, ``temperature`` (capped at 1), ``top_p``; ``user`` ->
``metadata.user_id``.  Not mapped: ``n``, ``logprobs``, ``response_format``, ``reasoning_effort``, audio.

Response: text blocks joined, ``tool_use`` -> ``tool_calls``, ``thinking`` -> ``reasoning_content``,
stop_reason -> finish_reason, usage (prompt tokens include cached ones).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from claude_code_mux.translate.openai_response import parse_arguments

DEFAULT_MAX_TOKENS = 4096

STOP_TO_FINISH: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason_for(stop_reason: Any) -> str:
    return STOP_TO_FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


# ---------------------------------------------------------------------------------------------
# request


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))


def _image_block(part: dict[str, Any]) -> dict[str, Any] | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media = header.split(";", 1)[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, str) and part:
            out.append({"type": "text", "text": part})
        elif not isinstance(part, dict):
            continue
        elif part.get("type") == "text" and isinstance(part.get("text"), str) and part["text"]:
            out.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            block = _image_block(part)
            if block is not None:
                out.append(block)
        elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            out.append({"type": "text", "text": part["refusal"]})
    return out


def _tool_use(call: dict[str, Any], n: int) -> dict[str, Any]:
    fn = call.get("function")
    fn = fn if isinstance(fn, dict) else {}
    call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{n}"
    name = fn.get("name") if isinstance(fn.get("name"), str) else ""
    return {"type": "tool_use", "id": call_id, "name": name, "input": parse_arguments(fn.get("arguments"))}


def _message_blocks(msg: dict[str, Any], n: int) -> tuple[str, list[dict[str, Any]]]:
    """(Anthropic role, blocks) for one non-system OpenAI message."""
    role = msg.get("role")
    if role in ("tool", "function"):
        tool_id = msg.get("tool_call_id") or msg.get("name") or ""
        content = _blocks(msg.get("content")) or ""
        only_text = isinstance(content, list) and all(b["type"] == "text" for b in content)
        result: Any = _text_of(msg.get("content")) if only_text else content
        return "user", [{"type": "tool_result", "tool_use_id": str(tool_id), "content": result}]
    if role == "assistant":
        blocks = _blocks(msg.get("content"))
        calls = msg.get("tool_calls")
        for i, call in enumerate(calls if isinstance(calls, list) else []):
            if isinstance(call, dict):
                blocks.append(_tool_use(call, n * 100 + i))
        if isinstance(msg.get("function_call"), dict):
            blocks.append(_tool_use({"function": msg["function_call"]}, n * 100))
        return "assistant", blocks
    return "user", _blocks(msg.get("content"))


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    specs: list[Any] = []
    for spec in body.get("tools") or []:
        if isinstance(spec, dict) and spec.get("type", "function") == "function":
            specs.append(spec.get("function"))
    specs.extend(body.get("functions") or [])
    out = []
    for fn in specs:
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        tool: dict[str, Any] = {"name": fn["name"]}
        if isinstance(fn.get("description"), str):
            tool["description"] = fn["description"]
        params = fn.get("parameters")
        tool["input_schema"] = params if isinstance(params, dict) else {"type": "object", "properties": {}}
        out.append(tool)
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else choice.get("name")
        if isinstance(name, str):
            return {"type": "tool", "name": name}
    return None


def openai_to_anthropic_request(body: dict[str, Any]) -> dict[str, Any]:
    """Translate an OpenAI chat.completions request into an Anthropic Messages request."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for n, msg in enumerate(body.get("messages") or []):
        if not isinstance(msg, dict):
            continue
        if msg.get("role") in ("system", "developer"):
            text = _text_of(msg.get("content"))
            if text:
                system.append(text)
            continue
        role, blocks = _message_blocks(msg, n)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    for m in messages:  # tool results first within a user turn, as the Messages API expects
        if m["role"] == "user":
            m["content"].sort(key=lambda b: b["type"] != "tool_result")
    out: dict[str, Any] = {"model": body.get("model", "")}
    if system:
        out["system"] = "\n\n".join(system)
    out["messages"] = messages
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    out["max_tokens"] = (
        limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else DEFAULT_MAX_TOKENS
    )
    tools = _tools(body)
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice") or body.get("function_call"))
        if body.get("parallel_tool_calls") is False:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            out["tool_choice"] = choice
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [s for s in stop if isinstance(s, str) and s]
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        out["temperature"] = max(0.0, min(1.0, float(temperature)))
    top_p = body.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        out["top_p"] = top_p
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if body.get("stream") is True:
        out["stream"] = True
    return out


# ---------------------------------------------------------------------------------------------
# response


def openai_usage(usage: Any) -> dict[str, Any]:
    """OpenAI ``usage`` from Anthropic usage (prompt tokens include cache reads and writes)."""
    u = usage if isinstance(usage, dict) else {}

    def n(key: str) -> int:
        v = u.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    cached = n("cache_read_input_tokens")
    prompt = n("input_tokens") + cached + n("cache_creation_input_tokens")
    completion = n("output_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def completion_id_for(message_id: Any) -> str:
    return "chatcmpl-" + (message_id if isinstance(message_id, str) and message_id else "mux")


def anthropic_to_openai_response(msg: dict[str, Any], *, model: str, created: int | None = None) -> dict[str, Any]:
    """Translate an Anthropic message into a ``chat.completion`` object for ``model``."""
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.get("content") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") if block.get("input") is not None else {}).decode()
            calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": arguments},
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    finish = "tool_calls" if calls else finish_reason_for(msg.get("stop_reason"))
    return {
        "id": completion_id_for(msg.get("id")),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": openai_usage(msg.get("usage")),
    }
