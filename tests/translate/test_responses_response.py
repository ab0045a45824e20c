"""from_responses_response and the error mapping: a table of answers and failures."""

from __future__ import annotations

from typing import Any

import pytest

from claude_code_mux.auth.chatgpt_claims import account_id_from_token, jwt_claims
from claude_code_mux.translate.responses_response import (
    failure_of,
    from_responses_response,
    responses_error_to_anthropic,
)
from tests.translate.responses_events import response, usage


def msg(output: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return dict(from_responses_response(response(output, **kw), model="claude-x"))


def test_order_merge_and_ids() -> None:
    out = msg(
        [
            {"type": "reasoning", "id": "r", "summary": [{"type": "summary_text", "text": "a"}]},
            {"type": "reasoning", "id": "r2", "summary": [{"type": "summary_text", "text": "b"}]},
            {
                "type": "message",
                "id": "m",
                "content": [{"type": "output_text", "text": "x"}, {"type": "output_text", "text": "y"}],
            },
            {"type": "function_call", "id": "fc", "call_id": "call_1", "name": "Bash", "arguments": "{bad"},
            {"type": "function_call", "id": "fc2", "call_id": "call_1", "name": "Bash", "arguments": ""},
        ],
        use=usage(10, 2, cached=4),
    )
    assert out["id"] == "msg_resp_test123" and out["model"] == "claude-x"
    assert out["content"] == [
        {"type": "thinking", "thinking": "a\n\nb", "signature": ""},
        {"type": "text", "text": "xy"},
        {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"_raw": "{bad"}},
        {"type": "tool_use", "id": "call_1_1", "name": "Bash", "input": {}},
    ]
    assert out["stop_reason"] == "tool_use"
    assert out["usage"] == {
        "input_tokens": 6,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 4,
        "output_tokens": 2,
    }


@pytest.mark.parametrize(
    ("output", "kw", "stop"),
    [
        ([{"type": "message", "content": [{"type": "refusal", "refusal": "no"}]}], {}, "refusal"),
        (
            [{"type": "message", "content": [{"type": "output_text", "text": "t"}]}],
            {"status": "incomplete", "incomplete": "max_output_tokens"},
            "max_tokens",
        ),
        ([], {"status": "incomplete", "incomplete": "content_filter"}, "refusal"),
        ([{"type": "message", "content": [{"type": "output_text", "text": "t"}]}], {}, "end_turn"),
    ],
)
def test_stop_reasons(output: list[dict[str, Any]], kw: dict[str, Any], stop: str) -> None:
    assert msg(output, **kw)["stop_reason"] == stop


@pytest.mark.parametrize(
    ("payload", "status", "expected"),
    [
        (
            {"type": "response.failed", "response": {"error": {"code": "rate_limit_exceeded", "message": "m"}}},
            200,
            "rate_limit_error",
        ),
        ({"type": "error", "code": "server_is_overloaded", "message": "m"}, 200, "overloaded_error"),
        ({"type": "error", "code": "context_length_exceeded", "message": "too big"}, 200, "invalid_request_error"),
        ({"detail": "Unsupported parameter: temperature"}, 400, "invalid_request_error"),
        (
            {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}},
            401,
            "authentication_error",
        ),
        ({"detail": "usage limit"}, 429, "rate_limit_error"),
    ],
)
def test_error_mapping(payload: dict[str, Any], status: int, expected: str) -> None:
    etype, message = responses_error_to_anthropic(status, payload) if status >= 400 else failure_of(payload)
    assert etype == expected
    assert message and "{" not in message[:1]


def test_jwt_claims_survive_hostile_tokens() -> None:
    for token in ("", "a.b", "a.!!!.c", "a." + "A" * 100_000 + ".c", "a.bnVsbA.c", "x.W10.y"):
        assert jwt_claims(token) == {}
        assert account_id_from_token(token) is None
