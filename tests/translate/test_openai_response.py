"""from_openai_response and openai_error_to_anthropic: table tests."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from claude_code_mux.translate.openai_response import from_openai_response, openai_error_to_anthropic
from tests.translate.openai_chunks import completion, usage


def translate(resp: dict[str, Any]) -> dict[str, Any]:
    return from_openai_response(resp, model="claude-x")


def test_shape_of_a_text_answer() -> None:
    msg = translate(completion(text="Hello", usage_obj=usage(10, 2)))
    assert msg == {
        "id": "msg_chatcmpl-test",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 2,
        },
    }


CONTENT_TABLE: list[tuple[str, dict[str, Any], list[dict[str, Any]], str]] = [
    ("empty text", completion(text=""), [], "end_turn"),
    ("null text", completion(text=None), [], "end_turn"),
    (
        "reasoning first",
        completion(text="A", reasoning="R"),
        [{"type": "thinking", "thinking": "R", "signature": ""}, {"type": "text", "text": "A"}],
        "end_turn",
    ),
    (
        "tool calls keep ids and parse arguments",
        completion(
            text="Running",
            tools=[("call_1", "Bash", '{"command":"ls"}'), ("call_2", "Read", "")],
            finish="tool_calls",
        ),
        [
            {"type": "text", "text": "Running"},
            {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "call_2", "name": "Read", "input": {}},
        ],
        "tool_use",
    ),
    (
        "invalid arguments kept raw",
        completion(tools=[("c", "T", '{"a": ')], finish="tool_calls"),
        [{"type": "tool_use", "id": "c", "name": "T", "input": {"_raw": '{"a": '}}],
        "tool_use",
    ),
    (
        "non-object arguments kept raw",
        completion(tools=[("c", "T", "[1, 2]")], finish="tool_calls"),
        [{"type": "tool_use", "id": "c", "name": "T", "input": {"_raw": "[1, 2]"}}],
        "tool_use",
    ),
    (
        "tool call with finish stop is forced to tool_use",
        completion(tools=[("c", "T", "{}")], finish="stop"),
        [{"type": "tool_use", "id": "c", "name": "T", "input": {}}],
        "tool_use",
    ),
    ("length", completion(text="cut", finish="length"), [{"type": "text", "text": "cut"}], "max_tokens"),
    (
        "content_filter",
        completion(text="no", finish="content_filter"),
        [{"type": "text", "text": "no"}],
        "refusal",
    ),
    ("unknown finish", completion(text="x", finish="eos"), [{"type": "text", "text": "x"}], "end_turn"),
    ("missing finish", completion(text="x", finish=None), [{"type": "text", "text": "x"}], "end_turn"),
    (
        "content as parts",
        {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]},
        [{"type": "text", "text": "ab"}],
        "end_turn",
    ),
    (
        "openrouter reasoning field",
        {"choices": [{"message": {"content": "x", "reasoning": "why"}, "finish_reason": "stop"}]},
        [{"type": "thinking", "thinking": "why", "signature": ""}, {"type": "text", "text": "x"}],
        "end_turn",
    ),
    (
        "refusal field",
        {"choices": [{"message": {"content": None, "refusal": "I can't."}, "finish_reason": "stop"}]},
        [{"type": "text", "text": "I can't."}],
        "refusal",
    ),
    ("empty choices", {"id": "x", "choices": []}, [], "end_turn"),
    ("no choices at all", {}, [], "end_turn"),
    (
        "legacy function_call",
        {
            "id": "r1",
            "choices": [
                {
                    "message": {"function_call": {"name": "F", "arguments": "{}"}},
                    "finish_reason": "function_call",
                }
            ],
        },
        [{"type": "tool_use", "id": "toolu_r1_0", "name": "F", "input": {}}],
        "tool_use",
    ),
]


@pytest.mark.parametrize(
    ("resp", "content", "stop"),
    [(r, c, s) for _, r, c, s in CONTENT_TABLE],
    ids=[i for i, *_ in CONTENT_TABLE],
)
def test_content_and_stop_reason(resp: dict[str, Any], content: list[dict[str, Any]], stop: str) -> None:
    msg = translate(resp)
    assert msg["content"] == content
    assert msg["stop_reason"] == stop


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            None,
            {
                "input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            },
        ),
        (
            usage(100, 7, cached=64),
            {
                "input_tokens": 36,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 64,
                "output_tokens": 7,
            },
        ),
        (
            {
                "prompt_tokens": 50,
                "completion_tokens": 5,
                "prompt_cache_hit_tokens": 30,
                "prompt_cache_miss_tokens": 20,
            },
            {
                "input_tokens": 20,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 30,
                "output_tokens": 5,
            },
        ),
        (
            {
                "prompt_tokens": 50,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 15},
            },
            {
                "input_tokens": 25,
                "cache_creation_input_tokens": 15,
                "cache_read_input_tokens": 10,
                "output_tokens": 5,
            },
        ),
        (
            {"prompt_tokens": 5, "completion_tokens": None, "prompt_tokens_details": {"cached_tokens": 99}},
            {
                "input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 5,
                "output_tokens": 0,
            },
        ),
    ],
)
def test_usage(raw: dict[str, Any] | None, expected: dict[str, int]) -> None:
    resp = completion(text="x")
    if raw is not None:
        resp["usage"] = raw
    assert translate(resp)["usage"] == expected


def test_message_id_without_upstream_id_is_generated() -> None:
    ids = {translate({"choices": []})["id"] for _ in range(3)}
    assert len(ids) == 3 and all(i.startswith("msg_") for i in ids)


def err(obj: Any) -> bytes:
    return orjson.dumps(obj)


ERROR_TABLE: list[tuple[int, bytes, tuple[str, str]]] = [
    (
        429,
        err({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        ("rate_limit_error", "Rate limit reached"),
    ),
    (
        401,
        err(
            {
                "error": {
                    "message": "Incorrect API key",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
        ),
        ("authentication_error", "Incorrect API key"),
    ),
    (
        400,
        err({"error": {"message": "bad tools", "type": "invalid_request_error"}}),
        ("invalid_request_error", "bad tools"),
    ),
    (
        400,
        err(
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens.",
                    "code": "context_length_exceeded",
                }
            }
        ),
        (
            "invalid_request_error",
            "prompt is too long: This model's maximum context length is 128000 tokens.",
        ),
    ),
    (
        503,
        err({"error": {"message": "overloaded", "type": "server_error"}}),
        ("overloaded_error", "overloaded"),
    ),
    (500, b"<html>oops</html>", ("api_error", "<html>oops</html>")),
    (502, b"", ("api_error", "HTTP 502")),
    (422, err({"detail": "Field required"}), ("invalid_request_error", "Field required")),
    (
        400,
        err([{"error": {"code": 400, "message": "Gemini says no", "status": "INVALID_ARGUMENT"}}]),
        ("invalid_request_error", "Gemini says no"),
    ),
    (404, err({"error": "model not found"}), ("not_found_error", "model not found")),
    (200, err({"error": {"message": "in-stream", "code": 429}}), ("rate_limit_error", "in-stream")),
    (
        200,
        err({"error": {"message": "Provider returned error", "code": 502, "metadata": {"raw": "x"}}}),
        ("api_error", "Provider returned error"),
    ),
    (
        200,
        err({"error": {"message": "slow down", "type": "rate_limit_exceeded"}}),
        ("rate_limit_error", "slow down"),
    ),
    (200, err({"error": {"message": "?"}}), ("api_error", "?")),
]


@pytest.mark.parametrize(("status", "body", "expected"), ERROR_TABLE)
def test_openai_error_to_anthropic(status: int, body: bytes, expected: tuple[str, str]) -> None:
    assert openai_error_to_anthropic(status, body) == expected
