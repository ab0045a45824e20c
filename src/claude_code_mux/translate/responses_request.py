"""Anthropic Messages request -> OpenAI Responses request (a pure function).

What maps where:

- ``system`` -> ``instructions``; Claude Code's mid-conversation ``role: "system"`` messages -> ``developer``
  input messages in place. The per-request ``x-anthropic-billing-header`` block is dropped (as in the chat
  dialect).
- user text/image/document blocks -> ``input_text`` / ``input_image`` / ``input_file`` parts; assistant text
  -> an assistant message; ``tool_use`` -> a ``function_call`` item (``call_id`` = the tool_use id, arguments
  as a JSON string); ``tool_result`` -> a ``function_call_output`` item (``is_error`` -> a ``[tool error]``
  prefix; images in a result move to a user message after it). Each call's output is placed right after the
  calls of its assistant turn, a call without a result gets a placeholder output, and an output whose call is
  unknown becomes user text: the API rejects any of those otherwise.
- ``thinking`` blocks are dropped: with ``store: false`` there is no server-side reasoning to refer to.
- ``tools`` -> function tools (``strict: false``, schema keywords the API rejects removed; server tools
  skipped); names over 64 characters are shortened like the chat dialect's ``tool_name_64`` (the answer maps
  them back); ``tool_choice`` auto/any/tool/none; ``disable_parallel_tool_use`` -> ``parallel_tool_calls``.
- ``max_tokens`` -> ``max_output_tokens`` (at least 16, the API's minimum); temperature, top_p; ``thinking`` budget or
  ``output_config.effort`` -> ``reasoning.effort`` with ``summary: "auto"`` (only when the client asked for
  thinking or an effort, since non-reasoning models reject ``reasoning``); ``output_config.format``
  json_schema -> ``text.format``; ``metadata.user_id`` -> ``prompt_cache_key`` (hashed when long).
- ``store: false`` always. ``stop_sequences`` are dropped: the Responses API has no stop parameter.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

from claude_code_mux.translate.openai_request import (
    ERROR_PREFIX,
    _arguments,
    _content_parts,
    _image_part,
    _system_text,
)
from claude_code_mux.translate.quirks import shorten_tool_name
from claude_code_mux.translate.response_format import response_format
from claude_code_mux.wire.openai_responses import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    InputContent,
    InputItem,
    MessageItem,
    Reasoning,
    ResponsesRequest,
)

NO_RESULT = "[no result: the tool call was not answered]"
MIN_OUTPUT_TOKENS = 16
_DROP_SCHEMA_KEYS = frozenset({"$schema", "$id"})
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "minimal": "minimal"}


def to_responses_request(body: dict[str, Any], *, model: str, stream: bool | None = None) -> ResponsesRequest:
    """Translate an Anthropic Messages request for a Responses-API upstream serving ``model``.

    ``stream`` overrides the client's choice (the ChatGPT backend is always streamed).
    """
    out: ResponsesRequest = {"model": model}
    instructions = _system_text(body.get("system"))
    if instructions:
        out["instructions"] = instructions
    out["input"] = _input(body.get("messages"))
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
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        # The API's minimum is 16; Claude Code probes with max_tokens 1.
        out["max_output_tokens"] = max(max_tokens, MIN_OUTPUT_TOKENS)
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    reasoning = reasoning_for(body)
    if reasoning is not None:
        out["reasoning"] = reasoning
    fmt = response_format(body.get("output_config"))
    if fmt is not None:
        spec = fmt["json_schema"]
        out["text"] = {
            "format": {"type": "json_schema", "name": spec["name"], "schema": spec["schema"], "strict": spec["strict"]}
        }
    cache_key = _cache_key(body.get("metadata"))
    if cache_key:
        out["prompt_cache_key"] = cache_key
    out["store"] = False
    if stream if stream is not None else body.get("stream") is True:
        out["stream"] = True
    return out


def reasoning_for(body: dict[str, Any]) -> Reasoning | None:
    """``reasoning`` from ``output_config.effort`` or the thinking budget; None when thinking is not asked for."""
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if isinstance(effort, str) and effort in _EFFORTS:
        return cast(Reasoning, {"effort": _EFFORTS[effort], "summary": "auto"})
    if kind == "enabled":
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        level = "medium"
        if isinstance(budget, int) and not isinstance(budget, bool):
            level = "low" if budget <= 4096 else "medium" if budget <= 16384 else "high"
        return cast(Reasoning, {"effort": level, "summary": "auto"})
    if kind == "adaptive":
        return {"effort": "medium", "summary": "auto"}
    return None


def _cache_key(metadata: Any) -> str | None:
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return None
    return user_id if len(user_id) <= 64 else hashlib.sha256(user_id.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# input items


def _input(messages: Any) -> list[InputItem]:
    items: list[InputItem] = []
    for msg in messages if isinstance(messages, list) else []:
        if not isinstance(msg, dict):
            continue
        role, content = msg.get("role"), msg.get("content")
        if role == "system":
            text = _system_text(content)
            if text:
                items.append({"type": "message", "role": "developer", "content": text})
        elif role == "user":
            items.extend(_user_items(content))
        elif role == "assistant":
            items.extend(_assistant_items(content))
    return _pair_outputs(items)


def _to_input_parts(parts: list[dict[str, Any]]) -> list[InputContent]:
    """Chat-style content parts (from the shared helpers) as Responses input parts."""
    out: list[InputContent] = []
    for p in parts:
        if p.get("type") == "text":
            out.append({"type": "input_text", "text": p["text"]})
        elif p.get("type") == "image_url":
            out.append({"type": "input_image", "image_url": p["image_url"]["url"], "detail": "auto"})
        elif p.get("type") == "file":
            f = p["file"]
            out.append({"type": "input_file", "filename": f["filename"], "file_data": f["file_data"]})
    return out


def _user_message(parts: list[InputContent]) -> MessageItem:
    if all(p["type"] == "input_text" for p in parts):
        return {"type": "message", "role": "user", "content": "\n".join(cast(Any, p)["text"] for p in parts)}
    return {"type": "message", "role": "user", "content": parts}


def _tool_output(block: dict[str, Any]) -> tuple[FunctionCallOutputItem, list[InputContent]]:
    content = block.get("content")
    images: list[InputContent] = []
    if isinstance(content, list):
        texts = []
        for b in content:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "image":
                part = _image_part(b)
                if part is not None:
                    images.extend(_to_input_parts([part]))
                    texts.append("[Image]")
            else:
                texts.extend(p["text"] for p in _content_parts(b) if p.get("type") == "text")
        text = "\n".join(texts)
    else:
        text = content if isinstance(content, str) else ""
    if block.get("is_error") is True:
        text = ERROR_PREFIX + text
    call_id = block.get("tool_use_id")
    item: FunctionCallOutputItem = {
        "type": "function_call_output",
        "call_id": call_id if isinstance(call_id, str) else "",
        "output": text,
    }
    return item, images


def _user_items(content: Any) -> list[InputItem]:
    if isinstance(content, str):
        return [{"type": "message", "role": "user", "content": content}] if content else []
    if not isinstance(content, list):
        return []
    out: list[InputItem] = []
    parts: list[InputContent] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "input_text", "text": block})
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            item, images = _tool_output(block)
            out.append(item)
            parts.extend(images)
        elif isinstance(block, dict):
            parts.extend(_to_input_parts(_content_parts(block)))
    if parts:
        out.append(_user_message(parts))
    return out


def _assistant_items(content: Any) -> list[InputItem]:
    if isinstance(content, str):
        return [{"type": "message", "role": "assistant", "content": content}] if content else []
    if not isinstance(content, list):
        return []
    texts: list[str] = []
    calls: list[InputItem] = []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block, dict) and block.get("type") == "tool_use":
            name = block.get("name")
            call_id = block.get("id")
            call: FunctionCallItem = {
                "type": "function_call",
                "call_id": call_id if isinstance(call_id, str) else "",
                "name": shorten_tool_name(name if isinstance(name, str) else ""),
                "arguments": _arguments(block),
            }
            calls.append(call)
    text = "".join(texts)
    out: list[InputItem] = []
    if text:
        out.append({"type": "message", "role": "assistant", "content": text})
    return out + calls


def _pair_outputs(items: list[InputItem]) -> list[InputItem]:
    """Each run of calls followed by its outputs (placeholders for missing ones); orphan outputs as user text."""
    out: list[InputItem] = []
    i = 0
    while i < len(items):
        item = items[i]
        i += 1
        if item["type"] == "function_call_output":  # not claimed by a call before it
            orphan = item
            out.append(
                {"type": "message", "role": "user", "content": f"[tool result {orphan['call_id']}]\n{orphan['output']}"}
            )
            continue
        out.append(item)
        if item["type"] != "function_call":
            continue
        wanted = [item.get("call_id", "")]
        while i < len(items):
            nxt = items[i]
            if nxt["type"] != "function_call":
                break
            out.append(nxt)
            wanted.append(nxt.get("call_id", ""))
            i += 1
        found: dict[str, InputItem] = {}
        rest: list[InputItem] = []
        j = i
        while j < len(items) and not _is_assistant(items[j]):
            cur = items[j]
            cid = cur["call_id"] if cur["type"] == "function_call_output" else None
            if cid is not None and cid in wanted and cid not in found:
                found[cid] = cur
            else:
                rest.append(cur)
            j += 1
        for cid in wanted:
            out.append(found.get(cid) or {"type": "function_call_output", "call_id": cid, "output": NO_RESULT})
        items = items[:i] + rest + items[j:]
    return out


def _is_assistant(item: InputItem) -> bool:
    return item["type"] == "function_call" or (item["type"] == "message" and item.get("role") == "assistant")


# ---------------------------------------------------------------------------------------------
# tools


def clean_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool schema the API accepts: an object schema without ``$schema``/``$id``."""
    out = {k: v for k, v in schema.items() if k not in _DROP_SCHEMA_KEYS}
    if out.get("type") is None:
        out["type"] = "object"
    if out.get("type") == "object" and not isinstance(out.get("properties"), dict):
        out["properties"] = {}
    return out


def _tools(tools: Any) -> list[FunctionTool]:
    out: list[FunctionTool] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):  # server tools (web_search_20250305, ...) have no function form
            continue
        fn: FunctionTool = {"type": "function", "name": shorten_tool_name(tool["name"])}
        if isinstance(tool.get("description"), str) and tool["description"]:
            fn["description"] = tool["description"]
        fn["parameters"] = clean_parameters(schema)
        fn["strict"] = False
        out.append(fn)
    return out


def _tool_choice(tc: Any) -> str | dict[str, str] | None:
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
        return {"type": "function", "name": shorten_tool_name(tc["name"])}
    return None
