"""to_openai_request: recorded Claude Code requests and a table of single-feature cases."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from claude_code_mux.config.presets import PRESETS, Preset
from claude_code_mux.translate.openai_request import to_openai_request
from tests.mocks.openai import validate_chat_request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("cc-*.json"))
ANTHROPIC_ONLY = {
    "cache_control",
    "betas",
    "context_management",
    "output_config",
    "thinking",
    "top_k",
    "input_schema",
    "tool_use_id",
    "stop_sequences",
    "metadata",
    "signature",
    "is_error",
}


def keys_anywhere(obj: Any, *, skip_schemas: bool = True) -> set[str]:
    """Every dict key in ``obj`` (tool parameter schemas skipped: their property names are data)."""
    found: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            found.add(k)
            if not (skip_schemas and k == "parameters"):
                found |= keys_anywhere(v, skip_schemas=skip_schemas)
    elif isinstance(obj, list):
        for v in obj:
            found |= keys_anywhere(v, skip_schemas=skip_schemas)
    return found


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())["body"]
    return body


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@pytest.mark.parametrize("preset", [None, "openai", "openrouter", "groq", "deepseek", "mistral", "gemini-openai"])
def test_recorded_requests_translate_to_valid_openai(name: str, preset: str | None) -> None:
    body = fixture(name)
    before = orjson.dumps(body)
    p = PRESETS[preset] if preset else None
    out = to_openai_request(body, model="gpt-x", preset=p)
    assert orjson.dumps(body) == before  # the body may be reused for the next failover candidate
    assert validate_chat_request(out) is None, validate_chat_request(out)
    assert not keys_anywhere(out) & ANTHROPIC_ONLY
    assert out["model"] == "gpt-x"
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out[p.max_tokens_field if p else "max_tokens"] == body["max_tokens"]
    assert out["messages"][0]["role"] == "system"
    assert "x-anthropic-billing-header" not in out["messages"][0]["content"]
    assert "You are a Claude agent" in out["messages"][0]["content"]
    assert len(out["user"]) <= (p.user_max_len if p else 64)
    if body.get("tools"):
        assert [t["function"]["name"] for t in out["tools"]] == [t["name"] for t in body["tools"]]
    else:
        assert "tools" not in out
    # a request that went through the quirks is still the same conversation
    assert orjson.dumps(out) == orjson.dumps(to_openai_request(body, model="gpt-x", preset=p))


def test_turn1_keeps_the_mid_conversation_system_message_in_place() -> None:
    out = to_openai_request(fixture("cc-2.1.197_main_turn1.json"), model="m")
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "system"]
    assert out["messages"][1]["content"].endswith("Run the shell command `echo hi-T` and tell me its output")
    assert out["messages"][2]["content"].startswith("Available agent types")


def test_turn2_tool_result_follows_the_tool_call() -> None:
    body = fixture("cc-2.1.197_main_turn2_tool_result.json")
    out = to_openai_request(body, model="m")
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "system", "assistant", "tool"]
    assistant, tool = out["messages"][3], out["messages"][4]
    assert assistant["content"] == "I'll run that command."
    call = assistant["tool_calls"][0]
    assert call["id"] == "toolu_a9b236b5e69d470ea50c2e20" and call["function"]["name"] == "Bash"
    assert orjson.loads(call["function"]["arguments"]) == {
        "command": "echo hi-T",
        "description": "Run the requested echo",
    }
    assert tool == {"role": "tool", "tool_call_id": "toolu_a9b236b5e69d470ea50c2e20", "content": "hi-T"}
    assert "reasoning_content" not in assistant  # thinking dropped without the quirk


def test_turn2_deepseek_gets_reasoning_back() -> None:
    out = to_openai_request(fixture("cc-2.1.197_main_turn2_tool_result.json"), model="m", preset=PRESETS["deepseek"])
    assert out["messages"][3]["reasoning_content"] == "Mock reasoning."


def test_title_request_drops_structured_output_config() -> None:
    out = to_openai_request(fixture("cc-2.1.197_background_title.json"), model="m")
    assert set(out) == {"model", "messages", "max_tokens", "stream", "stream_options", "user"}


def user(content: Any) -> dict[str, Any]:
    return {"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": content}]}


def convo(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "c", "max_tokens": 10, "messages": list(messages), **extra}


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
CALL = {"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": '{"command":"ls"}'}}
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBOR"}

# (id, anthropic request, expected OpenAI messages)
MESSAGE_TABLE: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    ("string content", user("hi"), [{"role": "user", "content": "hi"}]),
    (
        "system string",
        {**user("hi"), "system": "be brief"},
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    ),
    (
        "system blocks joined, cache_control dropped",
        {
            **user("hi"),
            "system": [
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"},
                {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "B"},
            ],
        },
        [{"role": "system", "content": "A\n\nB"}, {"role": "user", "content": "hi"}],
    ),
    (
        "text blocks collapse to one string",
        user(
            [
                {"type": "text", "text": "a"},
                {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}},
            ]
        ),
        [{"role": "user", "content": "a\nb"}],
    ),
    (
        "base64 image becomes a data URL",
        user([{"type": "text", "text": "look"}, {"type": "image", "source": PNG}]),
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                ],
            }
        ],
    ),
    (
        "url image passes through",
        user([{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]),
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
    ),
    (
        "text document becomes text",
        user(
            [
                {
                    "type": "document",
                    "title": "T",
                    "source": {"type": "text", "media_type": "text/plain", "data": "D"},
                }
            ]
        ),
        [{"role": "user", "content": "T\n\nD"}],
    ),
    (
        "tool_result before the text of the same turn",
        convo(
            {"role": "assistant", "content": [TOOL_USE]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>r</system-reminder>"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "out"},
                ],
            },
        ),
        [
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "out"},
            {"role": "user", "content": "<system-reminder>r</system-reminder>"},
        ],
    ),
    (
        "tool_result block content and is_error",
        convo(
            {"role": "assistant", "content": [TOOL_USE]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "is_error": True,
                        "content": [{"type": "text", "text": "line1"}, {"type": "text", "text": "line2"}],
                    }
                ],
            },
        ),
        [
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "[tool error] line1\nline2"},
        ],
    ),
    (
        "image inside a tool result moves to a user message",
        convo(
            {"role": "assistant", "content": [TOOL_USE]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "image", "source": PNG}],
                    }
                ],
            },
        ),
        [
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "[Image]"},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}],
            },
        ],
    ),
    (
        "unanswered tool call gets a placeholder result",
        convo({"role": "assistant", "content": [TOOL_USE]}, {"role": "user", "content": "never mind"}),
        [
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {
                "role": "tool",
                "tool_call_id": "toolu_1",
                "content": "[no result: the tool call was not answered]",
            },
            {"role": "user", "content": "never mind"},
        ],
    ),
    (
        "a system message between call and result is moved after the result",
        convo(
            {"role": "assistant", "content": [TOOL_USE]},
            {"role": "system", "content": "note"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
        ),
        [
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"},
            {"role": "system", "content": "note"},
        ],
    ),
    (
        "orphan tool result becomes user text",
        user([{"type": "tool_result", "tool_use_id": "toolu_x", "content": "late"}]),
        [{"role": "user", "content": "[tool result toolu_x]\nlate"}],
    ),
    (
        "thinking dropped, text and tool call kept",
        convo(
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xx"},
                    {"type": "text", "text": "Running."},
                    TOOL_USE,
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
        ),
        [
            {"role": "assistant", "content": "Running.", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"},
        ],
    ),
    (
        "thinking-only assistant message is skipped",
        convo(
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
            {"role": "user", "content": "b"},
        ),
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    ),
    (
        "unparseable tool input goes back as the model's raw text",
        convo(
            {"role": "assistant", "content": [{**TOOL_USE, "input": {"_raw": "{bad"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "?"}]},
        ),
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{**CALL, "function": {"name": "Bash", "arguments": "{bad"}}],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "?"},
        ],
    ),
    (
        "a stray and a repeated tool result between two turns become user text, in order",
        convo(
            {"role": "assistant", "content": [TOOL_USE]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_9", "content": "stray"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "again"},
                    {"type": "text", "text": "go on"},
                ],
            },
            {"role": "assistant", "content": "done"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "late"}]},
        ),
        [
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"},
            {"role": "user", "content": "[tool result toolu_9]\nstray"},
            {"role": "user", "content": "[tool result toolu_1]\nagain"},
            {"role": "user", "content": "go on"},
            {"role": "assistant", "content": "done"},
            {"role": "user", "content": "[tool result toolu_1]\nlate"},
        ],
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [(b, e) for _, b, e in MESSAGE_TABLE], ids=[i for i, _, _ in MESSAGE_TABLE]
)
def test_messages(body: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    out = to_openai_request(body, model="m")
    assert out["messages"] == expected
    assert validate_chat_request(out) is None, validate_chat_request(out)


BASH = {"name": "Bash", "description": "Run", "input_schema": {"type": "object", "properties": {}}}
FIELD_TABLE: list[tuple[str, dict[str, Any], Preset | None, dict[str, Any]]] = [
    ("max_tokens default field", {}, None, {"max_tokens": 10}),
    ("max_completion_tokens for openai", {}, PRESETS["openai"], {"max_completion_tokens": 10}),
    ("sampling", {"temperature": 0.2, "top_p": 0.9, "top_k": 5}, None, {"temperature": 0.2, "top_p": 0.9}),
    ("stop sequences", {"stop_sequences": ["END"]}, None, {"stop": ["END"]}),
    ("no stream", {"stream": False}, None, {}),
    (
        "tools and auto",
        {
            "tools": [BASH, {"type": "web_search_20250305", "name": "web_search"}],
            "tool_choice": {"type": "auto"},
        },
        None,
        {
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "Bash", "description": "Run", "parameters": BASH["input_schema"]},
                }
            ],
            "tool_choice": "auto",
        },
    ),
    ("tool_choice any", {"tools": [BASH], "tool_choice": {"type": "any"}}, None, {"tool_choice": "required"}),
    ("tool_choice none", {"tools": [BASH], "tool_choice": {"type": "none"}}, None, {"tool_choice": "none"}),
    (
        "tool_choice tool, no parallel calls",
        {"tools": [BASH], "tool_choice": {"type": "tool", "name": "Bash", "disable_parallel_tool_use": True}},
        None,
        {"tool_choice": {"type": "function", "function": {"name": "Bash"}}, "parallel_tool_calls": False},
    ),
    ("tool_choice without tools", {"tools": [], "tool_choice": {"type": "auto"}}, None, {}),
    ("short user id kept", {"metadata": {"user_id": "u1"}}, None, {"user": "u1"}),
    (
        "long user id hashed to the limit",
        {"metadata": {"user_id": "x" * 200}},
        PRESETS["openrouter"],
        {"user": hashlib.sha256(b"x" * 200).hexdigest()},
    ),
    (
        "openrouter reasoning from thinking budget",
        {"thinking": {"type": "enabled", "budget_tokens": 2048}},
        PRESETS["openrouter"],
        {"reasoning": {"max_tokens": 2048}},
    ),
    (
        "openrouter reasoning from adaptive thinking and effort",
        {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
        PRESETS["openrouter"],
        {"reasoning": {"effort": "high"}},
    ),
]


@pytest.mark.parametrize(
    ("extra", "preset", "expected"),
    [(x, p, e) for _, x, p, e in FIELD_TABLE],
    ids=[i for i, *_ in FIELD_TABLE],
)
def test_fields(extra: dict[str, Any], preset: Preset | None, expected: dict[str, Any]) -> None:
    body = {**user("hi"), **extra, "betas": ["x"], "context_management": {}, "service_tier": "auto"}
    out = to_openai_request(body, model="m", preset=preset)
    for key, value in expected.items():
        assert out[key] == value, key
    assert not set(out) & {"betas", "context_management", "service_tier", "top_k", "thinking", "metadata"}
    if "tools" not in expected and "tool_choice" not in expected:
        assert "tool_choice" not in out or "tools" in out
    assert validate_chat_request(out) is None, validate_chat_request(out)


TITLE_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}


def test_title_request_keeps_its_schema_for_a_vendor_that_takes_json_schema() -> None:
    body = fixture("cc-2.1.197_background_title.json")
    out = to_openai_request(body, model="m", preset=PRESETS["openai"])
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": body["output_config"]["format"]["schema"], "strict": True},
    }
    validate_chat_request(out)
    for vendor in ("groq", "openrouter", "deepseek"):
        assert "response_format" not in to_openai_request(body, model="m", preset=PRESETS[vendor])


@pytest.mark.parametrize(
    ("schema", "strict"),
    [
        (TITLE_SCHEMA, True),
        ({**TITLE_SCHEMA, "additionalProperties": True}, False),  # open object
        ({**TITLE_SCHEMA, "properties": {"title": {"type": "string"}, "n": {"type": "integer"}}}, False),  # optional
        ({**TITLE_SCHEMA, "properties": {"title": {"type": "string", "minLength": 3}}}, False),  # unknown keyword
        (
            {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {**TITLE_SCHEMA}}},
                "required": ["tags"],
                "additionalProperties": False,
            },
            True,
        ),
        (
            {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "object", "properties": {}}}},
                "required": ["tags"],
                "additionalProperties": False,
            },
            False,  # a nested open object
        ),
    ],
)
def test_strict_only_when_openai_would_accept_the_schema(schema: dict[str, Any], strict: bool) -> None:
    body = convo({"role": "user", "content": "hi"}, output_config={"format": {"type": "json_schema", "schema": schema}})
    out = to_openai_request(body, model="m", preset=PRESETS["openai"])
    assert out["response_format"]["json_schema"]["strict"] is strict
    assert out["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.parametrize("fmt", [None, {"type": "text"}, {"type": "json_schema"}, "json"])
def test_no_response_format_without_a_json_schema(fmt: Any) -> None:
    body = convo({"role": "user", "content": "hi"}, output_config={"effort": "high", "format": fmt})
    assert "response_format" not in to_openai_request(body, model="m", preset=PRESETS["openai"])
