"""to_gemini_request and gemini_schema: table cases, Claude Code's recorded requests, and a hypothesis property.

Every translated request is checked with the Gemini mock's validator (what Gemini answers 400 to).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from claude_code_mux.translate.gemini_request import NO_RESULT, SKIP_SIGNATURE, to_gemini_request
from claude_code_mux.translate.gemini_schema import gemini_schema
from tests.mocks.gemini_check import check_schema, validate_gemini_request
from tests.translate.test_stream_properties import tool_conversations

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def translate(body: dict[str, Any], model: str = "gemini-2.5-pro", **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(to_gemini_request(body, model=model, **kw))
    memo: dict[bytes, dict[str, Any]] = {}
    for _ in range(2):  # the declaration memo changes nothing
        assert to_gemini_request(body, model=model, declarations=memo, **kw) == out
    assert validate_gemini_request(out) is None, validate_gemini_request(out)
    return out


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("cc-*.json")))
def test_claude_code_requests_are_valid_gemini(name: str) -> None:
    body = orjson.loads((FIXTURES / name).read_bytes())["body"]
    out = translate(body)
    assert "x-anthropic-billing-header" not in orjson.dumps(out.get("systemInstruction", {})).decode()
    assert out["contents"][0]["role"] == "user"
    names = [d["name"] for d in out.get("tools", [{}])[0].get("functionDeclarations", [])]
    assert len(names) == len({t["name"] for t in body.get("tools", []) if "input_schema" in t})


def test_system_roles_media_and_generation_config() -> None:
    body = {
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc"}, {"type": "text", "text": "Be brief."}],
        "max_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["a", "b", "c", "d", "e", "f"],
        "metadata": {"user_id": "u"},
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAA"}}],
            },
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "yo"}],
            },
            {"role": "system", "content": "Mid-conversation note."},
            {"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}}]},
        ],
    }
    out = translate(body)
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief.\n\nMid-conversation note."}]}
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/jpeg", "data": "AAA"}}]},
        {"role": "model", "parts": [{"text": "yo"}]},
        {"role": "user", "parts": [{"fileData": {"mimeType": "application/pdf", "fileUri": "https://x/y.pdf"}}]},
    ]
    assert out["generationConfig"] == {
        "maxOutputTokens": 300,
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "stopSequences": ["a", "b", "c", "d", "e"],
    }


def test_nothing_is_forced() -> None:
    out = translate({"messages": [{"role": "user", "content": "hi"}]})
    assert set(out) == {"contents"}


@pytest.mark.parametrize(
    ("thinking", "effort", "model", "expected"),
    [
        (
            {"type": "enabled", "budget_tokens": 2048},
            None,
            "gemini-2.5-pro",
            {"thinkingBudget": 2048, "includeThoughts": True},
        ),
        ({"type": "adaptive"}, None, "gemini-2.5-flash", {"thinkingBudget": -1, "includeThoughts": True}),
        ({"type": "adaptive"}, "low", "gemini-3-pro-preview", {"thinkingLevel": "low", "includeThoughts": True}),
        (
            {"type": "enabled", "budget_tokens": 9000},
            "high",
            "gemini-3-pro",
            {"thinkingLevel": "high", "includeThoughts": True},
        ),
        ({"type": "disabled"}, None, "gemini-2.5-pro", None),
    ],
)
def test_thinking_config(thinking: dict[str, Any], effort: str | None, model: str, expected: Any) -> None:
    body: dict[str, Any] = {"thinking": thinking, "messages": [{"role": "user", "content": "q"}]}
    if effort:
        body["output_config"] = {"effort": effort}
    out = translate(body, model=model)
    assert out.get("generationConfig", {}).get("thinkingConfig") == expected


def test_tool_results_pair_by_name_and_order_with_placeholders_and_orphans() -> None:
    body = {
        "tools": [
            {"name": n, "input_schema": {"type": "object", "properties": {"p": {"type": "string"}}}} for n in "AB"
        ],
        "tool_choice": {"type": "tool", "name": "B"},
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "t1", "name": "A", "input": {"p": "1"}},
                    {"type": "tool_use", "id": "t2", "name": "B", "input": {}},
                    {"type": "tool_use", "id": "t3", "name": "A", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>r</system-reminder>"},
                    {"type": "tool_result", "tool_use_id": "t3", "content": [{"type": "text", "text": "three"}]},
                    {"type": "tool_result", "tool_use_id": "t1", "content": "one", "is_error": True},
                    {"type": "tool_result", "tool_use_id": "zz", "content": "stray"},
                ],
            },
        ],
    }
    out = translate(body)
    model_turn, answers = out["contents"][1], out["contents"][2]
    assert [p.get("functionCall", {}).get("name") for p in model_turn["parts"]] == [None, "A", "B", "A"]
    assert (
        model_turn["parts"][1]["thoughtSignature"] == SKIP_SIGNATURE
        and "thoughtSignature" not in model_turn["parts"][2]
    )
    assert [p["functionResponse"] for p in answers["parts"][:3]] == [
        {"name": "A", "response": {"error": "one"}},
        {"name": "B", "response": {"error": NO_RESULT}},
        {"name": "A", "response": {"output": "three"}},
    ]
    assert answers["parts"][3:] == [
        {"text": "[tool result zz]\nstray"},
        {"text": "<system-reminder>r</system-reminder>"},
    ]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["B"]}}


def test_schema_subset_inlines_refs_and_rewrites_unsupported_keywords() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "format": "email"},
            "n": {"type": ["integer", "null"], "minimum": 0, "exclusiveMaximum": 9},
            "kind": {"const": "x"},
            "level": {"enum": [1, 2]},
            "item": {"$ref": "#/$defs/item"},
            "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "both": {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}},
                ]
            },
            "tags": {"type": "array"},
            "empty": {"type": "object", "properties": {}},
            "multi": {"type": ["string", "number"]},
        },
        "required": ["when", "ghost"],
        "$defs": {
            "item": {"type": "object", "properties": {"id": {"type": "string"}, "child": {"$ref": "#/$defs/item"}}}
        },
    }
    out = gemini_schema(schema)
    assert check_schema(out, "parameters") is None, check_schema(out, "parameters")
    p = out["properties"]
    assert p["when"] == {"type": "string"} and p["email"] == {"type": "string"}
    assert p["n"] == {"type": "integer", "nullable": True, "minimum": 0}
    assert p["kind"] == {"type": "string", "enum": ["x"]} and p["level"] == {"type": "string", "enum": ["1", "2"]}
    assert p["item"]["properties"]["child"] == {"type": "object"}
    assert p["either"] == {"anyOf": [{"type": "string"}, {"type": "number"}]}
    assert p["both"] == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}},
        "required": ["a"],
    }
    assert p["tags"] == {"type": "array", "items": {"type": "string"}}
    assert p["empty"] == {"type": "object"}
    assert p["multi"] == {"anyOf": [{"type": "string"}, {"type": "number"}]}
    assert out["required"] == ["when"]


def test_structured_output_and_safety_settings() -> None:
    body = {
        "messages": [{"role": "user", "content": "title?"}],
        "output_config": {
            "format": {
                "type": "json_schema",
                "schema": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}},
                    "additionalProperties": False,
                },
            }
        },
    }
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
    out = translate(body, safety_settings=safety)
    assert out["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"title": {"type": "string"}}},
    }
    assert out["safetySettings"] == safety


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tool_conversations())
def test_tool_round_trips_over_several_turns_are_valid_and_keep_order(
    conv: tuple[dict[str, Any], list[tuple[str, str]]],
) -> None:
    body, calls = conv
    for tool in body["tools"]:
        tool["name"] = tool["name"][:60].replace("-", "_")
    for msg in body["messages"]:
        for b in msg["content"] if isinstance(msg["content"], list) else []:
            if b.get("type") == "tool_use":
                b["name"] = b["name"][:60].replace("-", "_")
    out = translate(body)
    sent = [p["functionCall"]["name"] for c in out["contents"] for p in c["parts"] if "functionCall" in p]
    answered = [p["functionResponse"]["name"] for c in out["contents"] for p in c["parts"] if "functionResponse" in p]
    assert sent == answered == [n[:60].replace("-", "_") for _, n in calls]
