"""to_responses_request: a table of mappings, and recorded Claude Code requests accepted by the strict mock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from claude_code_mux.translate.quirks import shorten_tool_name
from claude_code_mux.translate.responses_request import NO_RESULT, to_responses_request
from tests.mocks.responses import validate_responses_request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASH = {
    "name": "Bash",
    "description": "Run",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
}


def req(**kw: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}], **kw}


def tr(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    out = dict(to_responses_request(body, model="gpt-5-mock", **kw))
    assert validate_responses_request(out) is None, validate_responses_request(out)
    return out


def test_basic_fields() -> None:
    out = tr(
        req(
            system=[{"type": "text", "text": "x-anthropic-billing-header: cc"}, {"type": "text", "text": "Be brief."}],
            temperature=0.5,
            stop_sequences=["END"],
            stream=True,
        )
    )
    assert out["instructions"] == "Be brief."
    assert out["input"] == [{"type": "message", "role": "user", "content": "hi"}]
    assert out["max_output_tokens"] == 1000 and out["temperature"] == 0.5
    assert out["store"] is False and out["stream"] is True
    assert "stop" not in out and "reasoning" not in out


@pytest.mark.parametrize(
    ("thinking", "config", "expected"),
    [
        ({"type": "enabled", "budget_tokens": 2000}, None, "low"),
        ({"type": "enabled", "budget_tokens": 10000}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 32000}, None, "high"),
        ({"type": "adaptive"}, {"effort": "high"}, "high"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "disabled"}, None, None),
        (None, {"effort": "low"}, "low"),
    ],
)
def test_reasoning_effort(thinking: Any, config: Any, expected: str | None) -> None:
    extra: dict[str, Any] = {}
    if thinking:
        extra["thinking"] = thinking
    if config:
        extra["output_config"] = config
    out = tr(req(**extra))
    assert (out.get("reasoning") or {}).get("effort") == expected
    if expected:
        assert out["reasoning"]["summary"] == "auto"


def test_tools_choice_and_schema_cleanup() -> None:
    long = "mcp__server__" + "y" * 70
    tools = [
        {**BASH, "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#", **BASH["input_schema"]}},
        {"name": long, "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    out = tr(req(tools=tools, tool_choice={"type": "tool", "name": long, "disable_parallel_tool_use": True}))
    assert [t["name"] for t in out["tools"]] == ["Bash", shorten_tool_name(long)]
    assert all(t["strict"] is False for t in out["tools"])
    assert "$schema" not in out["tools"][0]["parameters"]
    assert out["tools"][1]["parameters"] == {"type": "object", "properties": {}}
    assert out["tool_choice"] == {"type": "function", "name": shorten_tool_name(long)}
    assert out["parallel_tool_calls"] is False
    assert tr(req(tools=[BASH], tool_choice={"type": "any"}))["tool_choice"] == "required"


def test_tool_round_trip_items_errors_images_and_order() -> None:
    img = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    messages = [
        {"role": "user", "content": "do it"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": ""},
                {"type": "text", "text": "Running."},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "pwd"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and here"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "/"}, img]},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "denied", "is_error": True},
            ],
        },
        {"role": "system", "content": "mid-conversation note"},
    ]
    out = tr(req(messages=messages, tools=[BASH]))
    kinds = [(i["type"], i.get("role") or i.get("call_id")) for i in out["input"]]
    assert kinds == [
        ("message", "user"),
        ("message", "assistant"),
        ("function_call", "toolu_1"),
        ("function_call", "toolu_2"),
        ("function_call_output", "toolu_1"),
        ("function_call_output", "toolu_2"),
        ("message", "user"),
        ("message", "developer"),
    ]
    assert out["input"][2]["arguments"] == '{"command":"ls"}'
    assert out["input"][4]["output"] == "[tool error] denied"
    assert out["input"][5]["output"] == "/\n[Image]"
    user = out["input"][6]["content"]
    assert user[0] == {"type": "input_text", "text": "and here"}
    assert user[1]["type"] == "input_image" and user[1]["image_url"].startswith("data:image/png;base64,")


def test_missing_results_get_placeholders_and_orphans_become_text() -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "zzz", "content": "stray"}]},
    ]
    out = tr(req(messages=messages, tools=[BASH]))
    assert {"type": "function_call_output", "call_id": "t1", "output": NO_RESULT} in out["input"]
    assert out["input"][-1] == {"type": "message", "role": "user", "content": "[tool result zzz]\nstray"}


def test_structured_output_and_cache_key() -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    out = tr(req(output_config={"format": {"type": "json_schema", "schema": schema}}, metadata={"user_id": "u" * 100}))
    assert out["text"] == {"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": True}}
    assert len(out["prompt_cache_key"]) == 64


@pytest.mark.parametrize(
    "name", ["cc-2.1.197_main_turn1.json", "cc-2.1.197_main_turn2_tool_result.json", "cc-2.1.197_background_title.json"]
)
def test_recorded_claude_code_requests_are_valid_responses_requests(name: str) -> None:
    body = orjson.loads((FIXTURES / name).read_bytes())["body"]
    out = tr(body)
    assert out["instructions"]
    n_calls = sum(1 for i in out["input"] if i["type"] == "function_call")
    n_uses = sum(
        1
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_use"
    )
    assert n_calls == n_uses
    # the ChatGPT backend's rules hold once the dialect drops the limits
    stream_only = {
        k: v for k, v in tr(body, stream=True).items() if k not in ("max_output_tokens", "temperature", "top_p")
    }
    assert validate_responses_request(stream_only, chatgpt=True) is None
