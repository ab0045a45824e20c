"""from_gemini_response, usage and error mapping (RetryInfo -> retry-after)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from claude_code_mux.translate.gemini_response import (
    from_gemini_response,
    gemini_error,
    retry_after_header,
    usage_from_gemini,
)


def test_parts_become_blocks_with_generated_tool_ids() -> None:
    resp: dict[str, Any] = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "plan", "thought": True},
                        {"text": "a"},
                        {"text": "b"},
                        {"functionCall": {"id": "dup", "name": "Read", "args": {"file_path": "/x"}}},
                        {"functionCall": {"id": "dup", "name": "Read", "args": {"file_path": "/y"}}},
                        {"inlineData": {"mimeType": "image/png", "data": "AA"}},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "responseId": "abc/def",
    }
    msg = from_gemini_response(resp, model="claude-x")
    assert msg["id"] == "msg_abcdef" and msg["model"] == "claude-x" and msg["stop_reason"] == "tool_use"
    assert msg["content"] == [
        {"type": "thinking", "thinking": "plan", "signature": ""},
        {"type": "text", "text": "ab"},
        {"type": "tool_use", "id": "toolu_abcdef_0", "name": "Read", "input": {"file_path": "/x"}},
        {"type": "tool_use", "id": "toolu_abcdef_1", "name": "Read", "input": {"file_path": "/y"}},
    ]


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("STOP", "end_turn"),
        ("MAX_TOKENS", "max_tokens"),
        ("SAFETY", "refusal"),
        ("RECITATION", "refusal"),
        ("PROHIBITED_CONTENT", "refusal"),
        ("OTHER", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons(finish: str | None, stop: str) -> None:
    cand: dict[str, Any] = {"content": {"parts": [{"text": "x"}]}}
    if finish:
        cand["finishReason"] = finish
    assert from_gemini_response({"candidates": [cand]}, model="m")["stop_reason"] == stop


def test_usage_counts_cache_reads_and_thoughts() -> None:
    meta = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 800,
        "candidatesTokenCount": 50,
        "thoughtsTokenCount": 200,
        "toolUsePromptTokenCount": 10,
    }
    assert usage_from_gemini(meta) == {
        "input_tokens": 210,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 800,
        "output_tokens": 250,
    }
    assert usage_from_gemini({"promptTokenCount": 5, "cachedContentTokenCount": 9})["input_tokens"] == 0


def test_errors_and_retry_info() -> None:
    body = orjson.dumps(
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}],
            }
        }
    )
    etype, message, delay = gemini_error(429, body)
    assert (etype, message, delay) == ("rate_limit_error", "Resource has been exhausted", 2.5)
    assert retry_after_header(delay) == {"retry-after": "3"} and retry_after_header(None) == {}
    too_long = orjson.dumps(
        [
            {
                "error": {
                    "code": 400,
                    "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576)",
                    "status": "INVALID_ARGUMENT",
                }
            }
        ]
    )
    etype, message, _ = gemini_error(400, too_long)
    assert etype == "invalid_request_error" and message.startswith("prompt is too long: ")
    assert gemini_error(503, b"<html>busy</html>")[:2] == ("overloaded_error", "<html>busy</html>")
    assert gemini_error(401, b"")[0] == "authentication_error"
