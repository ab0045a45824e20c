"""JSON Schema -> the OpenAPI-3 subset Gemini accepts for function parameters and ``responseSchema``.

Gemini's ``Schema`` knows only a fixed set of fields and rejects the rest with HTTP 400. Starting from
:func:`~claude_code_mux.translate.quirks.clean_schema` (local ``$ref`` inlined, ``$defs`` removed, ``const`` as
``enum``), this keeps what Gemini knows and rewrites the rest:

- ``type: [T, "null"]`` -> ``type: T`` + ``nullable: true`` (a union of several non-null types becomes ``anyOf``);
- ``oneOf`` -> ``anyOf``; ``allOf`` -> its members merged (properties and ``required`` united);
- ``enum`` values become strings (Gemini enums are string-only; ``type`` becomes ``string``);
- ``format`` is dropped (the shared clean-up removes it; Gemini takes only a few values and rejects others);
- an object with no properties loses ``properties`` (an empty map is rejected); ``required`` keeps only names
  that are declared properties;
- everything else (``additionalProperties``, ``default`` of a wrong type, ``examples``, ``$comment``, ...) is
  dropped.
"""

from __future__ import annotations

from typing import Any

import orjson

from claude_code_mux.translate.quirks import clean_schema

_SCALARS = frozenset(
    {
        "title",
        "description",
        "nullable",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
    }
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_MAX_DEPTH = 32


def gemini_schema(schema: Any) -> dict[str, Any]:
    """The Gemini form of a JSON schema (an empty object schema for anything unusable)."""
    return _convert(clean_schema(schema), 0) if isinstance(schema, dict) else {"type": "object"}


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    members = schema.get("allOf")
    if not isinstance(members, list):
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    props: dict[str, Any] = dict(out.get("properties") or {})
    required: list[str] = list(out.get("required") or [])
    for m in members:
        if not isinstance(m, dict):
            continue
        m = _merge_all_of(m)
        props.update(m.get("properties") or {})
        required += [r for r in m.get("required") or [] if r not in required]
        for k, v in m.items():
            if k not in ("properties", "required"):
                out.setdefault(k, v)
    if props:
        out["properties"] = props
        out.setdefault("type", "object")
    if required:
        out["required"] = required
    return out


def _convert(schema: Any, depth: int) -> dict[str, Any]:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return {"type": "object"} if depth > _MAX_DEPTH else {}
    schema = _merge_all_of(schema)
    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _SCALARS}
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if isinstance(k, str) and k in _TYPES]
        if "null" in kinds:
            out["nullable"] = True
            kinds = [k for k in kinds if k != "null"]
        if len(kinds) == 1:
            kind = kinds[0]
        elif kinds:
            subs = [{**{k: v for k, v in schema.items() if k != "type"}, "type": k} for k in kinds]
            out["anyOf"] = [_convert(s, depth + 1) for s in subs]
            return out
        else:
            kind = None
    if kind == "null":
        out["nullable"] = True
        kind = None
    if isinstance(kind, str) and kind in _TYPES:
        out["type"] = kind
    union = schema.get("anyOf") if isinstance(schema.get("anyOf"), list) else schema.get("oneOf")
    if isinstance(union, list):
        members = [m for m in union if isinstance(m, dict)]
        if any(m.get("type") == "null" for m in members):
            out["nullable"] = True
            members = [m for m in members if m.get("type") != "null"]
        converted = [_convert(m, depth + 1) for m in members]
        if len(converted) == 1:
            out = {**converted[0], **out}
        elif converted:
            out["anyOf"] = converted
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        out["enum"] = [v if isinstance(v, str) else _enum_text(v) for v in enum if v is not None]
        out["type"] = "string"
        if None in enum:
            out["nullable"] = True
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {str(name): _convert(sub, depth + 1) for name, sub in props.items()}
        out.setdefault("type", "object")
        required = schema.get("required")
        if isinstance(required, list):
            names = [r for r in required if isinstance(r, str) and r in out["properties"]]
            if names:
                out["required"] = names
    items = schema.get("items")
    if isinstance(items, dict):
        out["items"] = _convert(items, depth + 1)
        out.setdefault("type", "array")
    elif out.get("type") == "array":
        out["items"] = {"type": "string"}  # Gemini requires items on arrays
    return out


def _enum_text(value: Any) -> str:
    return orjson.dumps(value).decode()
