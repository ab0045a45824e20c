"""What every part of the admin API's OpenAPI document is built from: the error envelope, the common
responses (403 / the writes' 400, 409, 415) and small builders for an operation, a response and a body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

REF = "#/components/schemas/{model}"
ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
OBJ: dict[str, Any] = {"type": "object"}


def err(desc: str) -> dict[str, Any]:
    return {
        "description": desc,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def ok(schema: dict[str, Any], desc: str = "OK") -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


COMMON = {"403": err("admin key missing or wrong, non-loopback Host, or cross-origin call")}
WRITE = {
    **COMMON,
    "400": err("invalid body, or the resulting config does not validate (the message names the field)"),
    "409": err("conflicts with the file (exists, still in use) or there is no config file"),
    "415": err("Content-Type is not application/json"),
}
NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]


def op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}
