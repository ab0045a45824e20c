"""Anthropic Messages request -> OpenAI Chat Completions request (a pure function).

What maps where:

- ``system`` (string or text blocks) -> a leading ``system`` message; ``role: "system"`` messages in
  ``messages`` (Claude Code sends them mid-conversation) stay in place.  Claude Code's per-request
  ``x-anthropic-billing-header`` system block is dropped: it means nothing to other vendors and would
  defeat their prompt-prefix caching.
- text/image/document blocks -> content parts (a text-only message becomes one string).
- ``tool_use`` -> assistant ``tool_calls`` (arguments as a JSON string); ``tool_result`` -> ``role: "tool"``
  messages placed *before* the rest of the same user turn; ``is_error`` becomes a ``[tool error]``
  prefix; images inside tool results move to the user message that follows.  Tool messages are moved
  to directly after their assistant message, and calls without a result get a placeholder result,
  because OpenAI rejects any other order.
- ``thinking`` blocks are dropped (the ``deepseek_reasoning`` quirk sends them back).
- ``tools`` -> functions (server tools without ``input_schema`` skipped); ``tool_choice`` auto/any/tool/none.
- ``max_tokens`` -> ``max_tokens`` or ``max_completion_tokens`` (preset); temperature, top_p,
  ``stop_sequences`` -> ``stop``; streaming adds ``stream_options.include_usage``.
- ``metadata.user_id`` -> ``user``; a value longer than the vendor allows is replaced by its SHA-256
  (hex, cut to the limit) so it stays stable per session instead of becoming a shared prefix.
- ``output_config.format`` (json_schema) -> ``response_format`` json_schema where the preset says the vendor
  takes it (``json_output``), ``strict`` when the schema meets OpenAI's strict rules (closed objects, every
  property required, common keywords only); elsewhere it is dropped and the model answers in plain text.
- Everything else Anthropic-only (cache_control, betas, context_management, the rest of output_config,
  thinking, top_k, service_tier, ...) is not carried over.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

import orjson

from claude_code_mux.config.presets import Preset
from claude_code_mux.translate.quirks import REASONING_KEY, apply_quirks
from claude_code_mux.translate.response_format import response_format
from claude_code_mux.wire.openai import ChatCompletionRequest

_BILLING_PREFIX = "x-anthropic-billing-header:"
_NO_RESULT = "[no result: the tool call was not answered]"
ERROR_PREFIX = "[tool error] "


def to_openai_request(body: dict[str, Any], *, model: str, preset: Preset | None = None) -> ChatCompletionRequest:
    """Translate an Anthropic Messages request for an OpenAI-dialect upstream serving ``model``."""
    out: dict[str, Any] = {"model": model, "messages": _messages(body)}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        tc = body.get("tool_choice")
        choice = _tool_choice(tc)
        if choice is not None:
            out["tool_choice"] = choice
        if isinstance(tc, dict) and tc.get("disable_parallel_tool_use") is True and choice != "none":
            out["parallel_tool_calls"] = False
    max_tokens = body.get("max_tokens")
    if _is_int(max_tokens):
        out[preset.max_tokens_field if preset else "max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
    stop = body.get("stop_sequences")
    if isinstance(stop, list) and stop:
        out["stop"] = [s for s in stop if isinstance(s, str)]
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if preset is not None and preset.json_output == "json_schema":
        fmt = response_format(body.get("output_config"))
        if fmt is not None:
            out["response_format"] = fmt
    user = _user(body.get("metadata"), preset.user_max_len if preset else 64)
    if user:
        out["user"] = user
    if preset is not None and preset.quirks:
        out = apply_quirks(preset.quirks, out, body)
    # The quirks' private annotation goes (only assistant messages with thinking carry it; the rest are not copied).
    out["messages"] = [
        m if REASONING_KEY not in m else {k: v for k, v in m.items() if k != REASONING_KEY} for m in out["messages"]
    ]
    return cast(ChatCompletionRequest, out)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _user(metadata: Any, max_len: int) -> str | None:
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return None
    if len(user_id) <= max_len:
        return user_id
    return hashlib.sha256(user_id.encode()).hexdigest()[:max_len]


# ---------------------------------------------------------------------------------------------
# messages


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system:
        out.append({"role": "system", "content": system})
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        role, content = msg.get("role"), msg.get("content")
        if role == "system":
            text = _system_text(content)
            if text:
                out.append({"role": "system", "content": text})
        elif role == "user":
            out.extend(_user_messages(content))
        elif role == "assistant":
            amsg = _assistant_message(content)
            if amsg is not None:
                out.append(amsg)
    return _pair_tool_results(out)


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        return ""
    texts = [
        b["text"]
        for b in system
        if isinstance(b, dict) and isinstance(b.get("text"), str) and not b["text"].startswith(_BILLING_PREFIX)
    ]
    return "\n\n".join(t for t in texts if t)


def _image_part(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "image/png"
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{source['data']}"}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    return None


def _document_part(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    title = block.get("title") if isinstance(block.get("title"), str) else None
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        text = source["data"]
    elif kind == "content" and isinstance(source.get("content"), list | str):
        text = _plain_text(source["content"])
    elif kind == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "application/pdf"
        data_url = f"data:{media};base64,{source['data']}"
        return {"type": "file", "file": {"filename": title or "document.pdf", "file_data": data_url}}
    elif kind == "url" and isinstance(source.get("url"), str):
        text = f"[Document: {source['url']}]"
    else:
        return None
    return {"type": "text", "text": f"{title}\n\n{text}" if title else text}


def _plain_text(content: Any) -> str:
    """Text of a string or a list of blocks; non-text blocks are left out."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for b in content:
        if isinstance(b, str):
            texts.append(b)
        elif isinstance(b, dict) and isinstance(b.get("text"), str):
            texts.append(b["text"])
    return "\n".join(texts)


def _content_parts(block: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenAI content parts for one non-tool user block ([] when it has no OpenAI equivalent)."""
    kind = block.get("type")
    part: dict[str, Any] | None = None
    if kind == "text" and isinstance(block.get("text"), str):
        part = {"type": "text", "text": block["text"]}
    elif kind == "image":
        part = _image_part(block)
    elif kind == "document":
        part = _document_part(block)
    elif kind == "search_result":
        text = _plain_text(block.get("content"))
        part = {"type": "text", "text": text} if text else None
    return [part] if part is not None else []


def _collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A text-only part list becomes one string (accepted by every OpenAI-compatible server)."""
    if all(p.get("type") == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _tool_result(block: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``role: tool`` message for a tool_result, and the image parts it carried."""
    content = block.get("content")
    images: list[dict[str, Any]] = []
    if isinstance(content, list):
        texts = []
        for b in content:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "image":
                part = _image_part(b)
                if part is not None:
                    images.append(part)
                    texts.append("[Image]")
            else:
                texts.extend(p["text"] for p in _content_parts(b) if p.get("type") == "text")
        text = "\n".join(texts)
    else:
        text = content if isinstance(content, str) else ""
    if block.get("is_error") is True:
        text = ERROR_PREFIX + text
    tool_id = block.get("tool_use_id")
    return {
        "role": "tool",
        "tool_call_id": tool_id if isinstance(tool_id, str) else "",
        "content": text,
    }, images


def _user_messages(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        return []
    tool_msgs: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            msg, images = _tool_result(block)
            tool_msgs.append(msg)
            parts.extend(images)
        elif isinstance(block, dict):
            parts.extend(_content_parts(block))
    if parts:
        tool_msgs.append({"role": "user", "content": _collapse(parts)})
    return tool_msgs


def _arguments(block: dict[str, Any]) -> str:
    tool_input = block.get("input")
    # An input we could not parse earlier travels as {"_raw": "..."}: give the model its own text back.
    if isinstance(tool_input, dict) and len(tool_input) == 1:
        raw = tool_input.get("_raw")
        if isinstance(raw, str):
            return raw
    return orjson.dumps(tool_input if tool_input is not None else {}).decode()


def _assistant_message(content: Any) -> dict[str, Any] | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
            continue
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if isinstance(text, str):
                texts.append(text)
        elif kind == "tool_use":
            tool_id, name = block.get("id"), block.get("name")
            calls.append(
                {
                    "id": tool_id if isinstance(tool_id, str) else "",
                    "type": "function",
                    "function": {"name": name if isinstance(name, str) else "", "arguments": _arguments(block)},
                }
            )
        elif kind == "thinking":
            thought = block.get("thinking")
            if isinstance(thought, str):
                reasoning.append(thought)
    text = "".join(texts)
    if not text and not calls:
        return None
    msg: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        msg["tool_calls"] = calls
    if reasoning:
        msg[REASONING_KEY] = "\n".join(reasoning)
    return msg


def _pair_tool_results(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each call's tool message right after its assistant message; fill in missing ones.

    A tool message whose call is not in the assistant message just before it becomes user text.
    """
    out: list[dict[str, Any]] = []
    i = 0
    n = len(msgs)
    while i < n:
        msg = msgs[i]
        i += 1
        role = msg["role"]
        if role == "tool":  # not claimed by an assistant message
            out.append(_unclaimed(msg))
            continue
        out.append(msg)
        calls = msg.get("tool_calls") if role == "assistant" else None
        if not calls:
            continue
        wanted = [c["id"] for c in calls]
        found: dict[str, dict[str, Any]] = {}
        rest: list[dict[str, Any]] = []
        j = i
        while j < n and msgs[j]["role"] != "assistant":
            m = msgs[j]
            if m["role"] == "tool" and m["tool_call_id"] in wanted and m["tool_call_id"] not in found:
                found[m["tool_call_id"]] = m
            else:
                rest.append(m)
            j += 1
        for tool_id in wanted:
            out.append(found.get(tool_id) or {"role": "tool", "tool_call_id": tool_id, "content": _NO_RESULT})
        # What else came before the next assistant message, in order (a tool message here was not claimed).
        out.extend(_unclaimed(m) if m["role"] == "tool" else m for m in rest)
        i = j
    return out


def _unclaimed(msg: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": f"[tool result {msg['tool_call_id']}]\n{msg['content']}"}


# ---------------------------------------------------------------------------------------------
# tools


def _tools(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):  # server tools (web_search_20250305, ...) have no OpenAI form
            continue
        fn: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str) and tool["description"]:
            fn["description"] = tool["description"]
        fn["parameters"] = schema
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(tc: Any) -> str | dict[str, Any] | None:
    if not isinstance(tc, dict):
        return None
    kind = tc.get("type")
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool" and isinstance(tc.get("name"), str):
        return {"type": "function", "function": {"name": tc["name"]}}
    return None
