"""Provider quirks: small named functions that adjust a translated OpenAI request for one vendor.

A preset lists quirk names (:mod:`claude_code_mux.config.presets`); each name maps to a pure function
``(openai_request, anthropic_request) -> openai_request`` in :data:`QUIRKS`.  Nothing here branches on
a vendor name.  :func:`validate_quirks` is called when a config is loaded, so a typo fails at startup.

The request translator leaves one private annotation for quirks to use: an assistant message may
carry :data:`REASONING_KEY` (the text of the thinking blocks it came from).  It is removed after the
quirks ran, so without a quirk that claims it the reasoning is dropped.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

Quirk = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

REASONING_KEY = "_reasoning"

# JSON-schema keywords some providers (Gemini's OpenAI endpoint, Groq, Cerebras) reject.
_DROP_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$anchor",
        "$vocabulary",
        "$dynamicRef",
        "$dynamicAnchor",
        "additionalProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "patternProperties",
        "propertyNames",
        "dependentSchemas",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "format",
        "contentEncoding",
        "contentMediaType",
        "examples",
    }
)
_NAMED_SCHEMAS = frozenset({"properties"})  # values map a property name to a schema
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SUB_SCHEMAS = frozenset({"items", "not", "contains", "if", "then", "else", "additionalItems"})
_ALNUM = string.ascii_letters + string.digits


# ---------------------------------------------------------------------------------------------
# strip_schema_keywords


def clean_schema(schema: Any) -> Any:
    """``schema`` without the rejected keywords, local ``$ref`` inlined and ``const`` as ``enum``."""
    if not isinstance(schema, dict):
        return schema
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _clean(schema, defs, frozenset())


def _clean(schema: Any, defs: Mapping[str, Any], seen: frozenset[str]) -> Any:
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        local = ref.startswith(("#/$defs/", "#/definitions/"))
        base: dict[str, Any] = {}
        if local and name in defs and name not in seen:
            resolved = _clean(defs[name], defs, seen | {name})
            base = dict(resolved) if isinstance(resolved, dict) else {}
        elif local and name in seen:
            base = {"type": "object"}  # a recursive type: stop here
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        cleaned = _clean(rest, defs, seen)
        return {**base, **cleaned}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP_KEYWORDS or key in ("$defs", "definitions"):
            continue
        if key == "const":
            out.setdefault("enum", [value])
        elif key in _NAMED_SCHEMAS and isinstance(value, dict):
            out[key] = {name: _clean(sub, defs, seen) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_clean(sub, defs, seen) for sub in value]
        elif key in _SUB_SCHEMAS:
            out[key] = [_clean(s, defs, seen) for s in value] if isinstance(value, list) else _clean(value, defs, seen)
        else:
            out[key] = value
    return out


def strip_schema_keywords(req: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Clean every tool's ``parameters`` schema (see :func:`clean_schema`)."""
    tools = req.get("tools")
    if not isinstance(tools, list):
        return req
    new_tools = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and "parameters" in fn:
            tool = {**tool, "function": {**fn, "parameters": clean_schema(fn["parameters"])}}
        new_tools.append(tool)
    return {**req, "tools": new_tools}


# ---------------------------------------------------------------------------------------------
# tool_name_64


def shorten_tool_name(name: str, limit: int = 64) -> str:
    """``name`` if it fits, else a prefix plus a hash of the whole name (deterministic, reversible by map)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name[: limit - 9] + "_" + digest


def tool_name_map(body: dict[str, Any], limit: int = 64) -> dict[str, str]:
    """Shortened name -> original name, for every tool of an Anthropic request whose name was too long.

    Give it to :func:`~.openai_response.from_openai_response` or the stream translator (``tool_names=``)
    so the answer carries the names Claude Code knows.
    """
    names: set[str] = set()
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            names.add(tool["name"])
    for msg in body.get("messages") or []:
        content = msg.get("content") if isinstance(msg, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                names.add(block["name"])
    return {shorten_tool_name(n, limit): n for n in names if len(n) > limit}


def _rename_call(call: Any) -> Any:
    fn = call.get("function") if isinstance(call, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return {**call, "function": {**fn, "name": shorten_tool_name(fn["name"])}}
    return call


def tool_name_64(req: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Cap tool names at 64 characters in ``tools``, ``tool_choice`` and the assistant history."""
    out = dict(req)
    if isinstance(req.get("tools"), list):
        out["tools"] = [_rename_call(t) for t in req["tools"]]
    if isinstance(req.get("tool_choice"), dict):
        out["tool_choice"] = _rename_call(req["tool_choice"])
    messages = []
    for msg in req.get("messages") or []:
        if isinstance(msg.get("tool_calls"), list):
            msg = {**msg, "tool_calls": [_rename_call(c) for c in msg["tool_calls"]]}
        messages.append(msg)
    out["messages"] = messages
    return out


# ---------------------------------------------------------------------------------------------
# reasoning


def deepseek_reasoning(req: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Send earlier thinking back as ``reasoning_content`` on assistant messages (DeepSeek tool turns)."""
    messages = []
    for msg in req.get("messages") or []:
        text = msg.get(REASONING_KEY)
        if msg.get("role") == "assistant" and isinstance(text, str) and text:
            msg = {k: v for k, v in msg.items() if k != REASONING_KEY}
            msg["reasoning_content"] = text
        messages.append(msg)
    return {**req, "messages": messages}


def reasoning_field(req: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Map Anthropic ``thinking`` (and ``output_config.effort``) to OpenRouter's ``reasoning`` object."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return req
    kind = thinking.get("type")
    budget = thinking.get("budget_tokens")
    effort = body.get("output_config", {}).get("effort") if isinstance(body.get("output_config"), dict) else None
    reasoning: dict[str, Any]
    if kind == "enabled" and isinstance(budget, int) and not isinstance(budget, bool):
        reasoning = {"max_tokens": budget}
    elif kind in ("enabled", "adaptive"):
        reasoning = {"effort": effort} if effort in ("low", "medium", "high") else {"enabled": True}
    else:
        return req
    return {**req, "reasoning": reasoning}


# ---------------------------------------------------------------------------------------------
# mistral_tool_ids


def mistral_tool_id(tool_id: str) -> str:
    """Mistral accepts only 9-character alphanumeric tool call ids: keep those, hash the others."""
    if len(tool_id) == 9 and tool_id.isascii() and tool_id.isalnum():
        return tool_id
    n = int.from_bytes(hashlib.sha256(tool_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        n, r = divmod(n, len(_ALNUM))
        chars.append(_ALNUM[r])
    return "".join(chars)


def mistral_tool_ids(req: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Rewrite assistant ``tool_calls[].id`` and tool ``tool_call_id`` with :func:`mistral_tool_id`."""
    messages = []
    for msg in req.get("messages") or []:
        if isinstance(msg.get("tool_calls"), list):
            calls = [
                {**c, "id": mistral_tool_id(c["id"])} if isinstance(c, dict) and isinstance(c.get("id"), str) else c
                for c in msg["tool_calls"]
            ]
            msg = {**msg, "tool_calls": calls}
        if msg.get("role") == "tool" and isinstance(msg.get("tool_call_id"), str):
            msg = {**msg, "tool_call_id": mistral_tool_id(msg["tool_call_id"])}
        messages.append(msg)
    return {**req, "messages": messages}


# ---------------------------------------------------------------------------------------------
# registry

QUIRKS: Mapping[str, Quirk] = MappingProxyType(
    {
        "strip_schema_keywords": strip_schema_keywords,
        "tool_name_64": tool_name_64,
        "deepseek_reasoning": deepseek_reasoning,
        "reasoning_field": reasoning_field,
        "mistral_tool_ids": mistral_tool_ids,
    }
)


def validate_quirks(names: Iterable[str]) -> None:
    """Raise ``KeyError`` naming the first unknown quirk (call at config load time)."""
    for name in names:
        if name not in QUIRKS:
            raise KeyError(f"unknown quirk {name!r}; known quirks: {', '.join(sorted(QUIRKS))}")


def apply_quirks(names: Iterable[str], req: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Run the named quirks in order (``KeyError`` for an unknown name)."""
    for name in names:
        req = QUIRKS[name](req, body)
    return req
