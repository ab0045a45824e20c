"""Provider quirks: each named function, the registry and startup validation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from claude_code_mux.config.presets import PRESETS, Preset
from claude_code_mux.translate.openai_request import to_openai_request
from claude_code_mux.translate.openai_response import from_openai_response
from claude_code_mux.translate.quirks import (
    QUIRKS,
    clean_schema,
    mistral_tool_id,
    shorten_tool_name,
    tool_name_map,
    validate_quirks,
)
from tests.mocks.openai import validate_chat_request


def test_every_preset_quirk_is_registered() -> None:
    for name, preset in PRESETS.items():
        validate_quirks(preset.quirks)  # raises on a typo
        assert all(q in QUIRKS for q in preset.quirks), name


def test_unknown_quirk_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no_such_quirk"):
        validate_quirks(["strip_schema_keywords", "no_such_quirk"])


def test_clean_schema_removes_rejected_keywords_recursively() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "format": {"type": "string", "format": "uri"},  # a property *named* format survives
            "n": {"type": "integer", "exclusiveMinimum": 0, "minimum": 1},
            "kind": {"const": "a"},
            "tags": {"type": "array", "items": {"type": "string", "$comment": "x"}},
            "map": {"type": "object", "propertyNames": {"pattern": "^a"}},
            "either": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
        },
        "required": ["format"],
    }
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {
            "format": {"type": "string"},
            "n": {"type": "integer", "minimum": 1},
            "kind": {"enum": ["a"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "map": {"type": "object"},
            "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["format"],
    }


def test_clean_schema_inlines_local_refs() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Pt": {"type": "object", "properties": {"x": {"type": "number"}}},
            "Node": {"$ref": "#/$defs/Node"},
        },
        "properties": {"p": {"$ref": "#/$defs/Pt", "description": "a point"}, "n": {"$ref": "#/$defs/Node"}},
    }
    out = clean_schema(schema)
    assert out["properties"]["p"] == {
        "type": "object",
        "properties": {"x": {"type": "number"}},
        "description": "a point",
    }
    assert out["properties"]["n"] == {"type": "object"}
    assert "$ref" not in orjson.dumps(out).decode() and "$defs" not in out


def test_strip_schema_keywords_through_a_preset() -> None:
    body = {
        "model": "c",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "T", "input_schema": {"$schema": "s", "type": "object", "properties": {}}}],
    }
    out = to_openai_request(body, model="m", preset=PRESETS["groq"])
    assert out["tools"][0]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert body["tools"][0]["input_schema"]["$schema"] == "s"  # the input is not mutated


def long_name_body() -> tuple[dict[str, Any], str]:
    name = "mcp__some_server_with_a_long_name__" + "tool_" * 10
    body = {
        "model": "c",
        "max_tokens": 5,
        "tools": [{"name": name, "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": name},
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": name, "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ],
    }
    return body, name


def test_tool_name_64_shortens_everywhere_and_maps_back() -> None:
    body, name = long_name_body()
    assert len(name) > 64
    out = to_openai_request(body, model="m", preset=PRESETS["gemini-openai"])
    short = shorten_tool_name(name)
    assert len(short) == 64
    assert out["tools"][0]["function"]["name"] == short
    assert out["tool_choice"]["function"]["name"] == short
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == short
    assert validate_chat_request(out) is None
    names = tool_name_map(body)
    assert names == {short: name}
    resp = {"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"name": short, "arguments": "{}"}}]}}]}
    assert from_openai_response(resp, model="m", tool_names=names)["content"][0]["name"] == name


def test_shorten_tool_name_distinguishes_common_prefixes() -> None:
    a, b = "x" * 70 + "a", "x" * 70 + "b"
    assert shorten_tool_name(a) != shorten_tool_name(b)
    assert shorten_tool_name("Bash") == "Bash"


@pytest.mark.parametrize("tool_id", ["toolu_01ABCdef", "call_abc123", "functions.Bash:0", "x", "ÄÖÜ-ünïcode"])
def test_mistral_tool_id_is_nine_alphanumerics_and_deterministic(tool_id: str) -> None:
    mapped = mistral_tool_id(tool_id)
    assert len(mapped) == 9 and mapped.isascii() and mapped.isalnum()
    assert mistral_tool_id(tool_id) == mapped
    assert mistral_tool_id(mapped) == mapped  # ids Mistral issued itself are kept


def test_mistral_tool_ids_keep_call_and_result_paired() -> None:
    body, _ = long_name_body()
    out = to_openai_request(body, model="m", preset=PRESETS["mistral"])
    call_id = out["messages"][1]["tool_calls"][0]["id"]
    assert call_id == mistral_tool_id("t1") and out["messages"][2]["tool_call_id"] == call_id


def test_deepseek_reasoning_only_with_the_quirk() -> None:
    body = {
        "model": "c",
        "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": ""},
                    {"type": "text", "text": "a"},
                ],
            },
        ],
    }
    plain = to_openai_request(body, model="m")
    assert plain["messages"][1] == {"role": "assistant", "content": "a"}
    ds = to_openai_request(body, model="m", preset=PRESETS["deepseek"])
    assert ds["messages"][1] == {"role": "assistant", "content": "a", "reasoning_content": "t"}


def test_quirks_run_in_the_preset_order() -> None:
    preset = Preset("openai", "http://x/v1", "bearer", quirks=("tool_name_64", "mistral_tool_ids"))
    body, _ = long_name_body()
    out = to_openai_request(body, model="m", preset=preset)
    assert len(out["tools"][0]["function"]["name"]) == 64
    assert out["messages"][2]["tool_call_id"] == mistral_tool_id("t1")
