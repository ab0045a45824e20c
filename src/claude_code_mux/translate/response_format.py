"""Anthropic structured output (``output_config.format``) -> OpenAI ``response_format`` (a pure function).

Claude Code asks for JSON that fits a schema on some requests (session titles). Vendors that take OpenAI's
``response_format: {"type": "json_schema"}`` get it (see the preset's ``json_output``); ``strict`` is set only
when the schema meets OpenAI's strict-mode rules, which would otherwise reject the request outright.
"""

from __future__ import annotations

from typing import Any

_STRICT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "description",
        "title",
        "anyOf",
        "$defs",
        "$ref",
        "definitions",
    }
)


def response_format(output_config: Any) -> dict[str, Any] | None:
    """``response_format`` for an ``output_config`` with a json_schema format, else None."""
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        return None
    schema = fmt["schema"]
    spec = {"name": "output", "schema": schema, "strict": _strict_ok(schema)}
    return {"type": "json_schema", "json_schema": spec}


def _strict_ok(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts ``schema``: closed objects, all properties required, known keywords."""
    if isinstance(schema, list):
        return all(_strict_ok(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if not set(schema) <= _STRICT_KEYWORDS:
        return False
    props = schema.get("properties")
    if schema.get("type") == "object" or isinstance(props, dict):
        if schema.get("additionalProperties") is not False:
            return False
        if sorted(schema.get("required") or []) != sorted(props or {}):
            return False
    children: list[Any] = list((props or {}).values()) if isinstance(props, dict) else []
    for key in ("items", "anyOf"):
        if key in schema:
            children.append(schema[key])
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            children.extend(schema[key].values())
    return all(_strict_ok(c) for c in children)
