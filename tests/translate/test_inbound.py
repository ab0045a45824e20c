"""Inbound /v1/chat/completions translation: request, response and stream (Anthropic -> OpenAI chunks)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_code_mux.translate.anthropic_stream import message_to_events
from claude_code_mux.translate.inbound_openai import (
    anthropic_to_openai_response,
    openai_to_anthropic_request,
)
from claude_code_mux.translate.inbound_stream import AnthropicToOpenAIStream
from claude_code_mux.translate.openai_request import to_openai_request
from claude_code_mux.wire.sse import SSEDecoder
from tests.mocks.openai import validate_chat_request

CALL = {"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": '{"command": "ls"}'}}
FN = {
    "type": "function",
    "function": {"name": "Bash", "description": "Run", "parameters": {"type": "object"}},
}


def req(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-x", "messages": list(messages), **extra}


REQUEST_TABLE: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "system and developer messages become system",
        req(
            {"role": "system", "content": "A"},
            {"role": "developer", "content": [{"type": "text", "text": "B"}]},
            {"role": "user", "content": "hi"},
        ),
        {"system": "A\n\nB", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    ),
    (
        "images: data URL and http URL",
        req(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
                ],
            }
        ),
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                    ],
                }
            ]
        },
    ),
    (
        "tool calls and consecutive tool results merged",
        req(
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    CALL,
                    {**CALL, "id": "call_2", "function": {"name": "Bash", "arguments": "oops"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "b"}]},
            {"role": "user", "content": "and?"},
        ),
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "go"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
                        {"type": "tool_use", "id": "call_2", "name": "Bash", "input": {"_raw": "oops"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "a"},
                        {"type": "tool_result", "tool_use_id": "call_2", "content": "b"},
                        {"type": "text", "text": "and?"},
                    ],
                },
            ]
        },
    ),
    (
        "tools, required choice, no parallel calls",
        req({"role": "user", "content": "x"}, tools=[FN], tool_choice="required", parallel_tool_calls=False),
        {
            "tools": [{"name": "Bash", "description": "Run", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        },
    ),
    (
        "named tool choice",
        req(
            {"role": "user", "content": "x"},
            tools=[FN],
            tool_choice={"type": "function", "function": {"name": "Bash"}},
        ),
        {"tool_choice": {"type": "tool", "name": "Bash"}},
    ),
    ("default max_tokens", req({"role": "user", "content": "x"}), {"max_tokens": 4096}),
    (
        "max_completion_tokens wins",
        req({"role": "user", "content": "x"}, max_tokens=5, max_completion_tokens=7),
        {"max_tokens": 7},
    ),
    ("stop string", req({"role": "user", "content": "x"}, stop="END"), {"stop_sequences": ["END"]}),
    ("stop list", req({"role": "user", "content": "x"}, stop=["A", "B"]), {"stop_sequences": ["A", "B"]}),
    (
        "stream and sampling",
        req({"role": "user", "content": "x"}, stream=True, temperature=1.5, top_p=0.5),
        {"stream": True, "temperature": 1.0, "top_p": 0.5},
    ),
    ("user", req({"role": "user", "content": "x"}, user="u-1"), {"metadata": {"user_id": "u-1"}}),
]


@pytest.mark.parametrize(
    ("body", "expected"), [(b, e) for _, b, e in REQUEST_TABLE], ids=[i for i, *_ in REQUEST_TABLE]
)
def test_openai_to_anthropic_request(body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = openai_to_anthropic_request(body)
    assert out["model"] == "gpt-x"
    for key, value in expected.items():
        assert out[key] == value, key


def test_response_text_tools_reasoning_usage() -> None:
    msg = {
        "id": "msg_1",
        "content": [
            {"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 5,
            "cache_read_input_tokens": 10,
            "cache_creation_input_tokens": 1,
            "output_tokens": 3,
        },
    }
    out = anthropic_to_openai_response(msg, model="gpt-x", created=7)
    assert out == {
        "id": "chatcmpl-msg_1",
        "object": "chat.completion",
        "created": 7,
        "model": "gpt-x",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hi",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                        }
                    ],
                    "reasoning_content": "t",
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 16,
            "completion_tokens": 3,
            "total_tokens": 19,
            "prompt_tokens_details": {"cached_tokens": 10},
        },
    }


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        (None, "stop"),
        ("weird", "stop"),
    ],
)
def test_response_finish_reason(stop: str | None, finish: str) -> None:
    out = anthropic_to_openai_response({"content": [{"type": "text", "text": "x"}], "stop_reason": stop}, model="m")
    assert out["choices"][0]["finish_reason"] == finish


MESSAGE = {
    "id": "msg_s",
    "type": "message",
    "role": "assistant",
    "model": "claude",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "I'll run it."},
        {"type": "tool_use", "id": "toolu_a", "name": "Bash", "input": {"command": "echo hi"}},
        {"type": "tool_use", "id": "toolu_b", "name": "Read", "input": {"file_path": "/x"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 0},
}


def data_frames(raw: bytes) -> list[Any]:
    dec = SSEDecoder()
    return [ev.data if ev.data == "[DONE]" else orjson.loads(ev.data) for ev in dec.feed(raw) + dec.close()]


def test_stream_chunks() -> None:
    sse = message_to_events(MESSAGE)
    tr = AnthropicToOpenAIStream(model="gpt-x", created=1)
    raw = tr.feed(sse) + tr.close()
    frames = data_frames(raw)
    assert frames[-1] == "[DONE]"
    deltas = [f["choices"][0]["delta"] for f in frames[:-2]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert {"reasoning_content": "hmm"} in deltas and {"content": "I'll run it."} in deltas
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_a",
        "type": "function",
        "function": {"name": "Bash", "arguments": ""},
    }
    args: dict[int, str] = {}
    for c in calls:
        args[c["index"]] = args.get(c["index"], "") + c["function"]["arguments"]
    assert {k: orjson.loads(v) for k, v in args.items()} == {
        0: {"command": "echo hi"},
        1: {"file_path": "/x"},
    }
    assert frames[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert frames[-2]["choices"] == [] and frames[-2]["usage"]["prompt_tokens"] == 20
    assert all(f["id"] == "chatcmpl-msg_s" and f["object"] == "chat.completion.chunk" for f in frames[:-1])
    # any chunking gives the same bytes
    tr2 = AnthropicToOpenAIStream(model="gpt-x", created=1)
    assert b"".join(tr2.feed(sse[i : i + 5]) for i in range(0, len(sse), 5)) + tr2.close() == raw


def test_stream_error_and_truncation() -> None:
    tr = AnthropicToOpenAIStream(model="m", created=1)
    raw = tr.feed(
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    assert data_frames(raw) == [{"error": {"message": "Overloaded", "type": "overloaded_error", "code": None}}]
    tr = AnthropicToOpenAIStream(model="m", created=1, include_usage=False)
    head = message_to_events({**MESSAGE, "content": [{"type": "text", "text": "x"}]}).split(b"event: message_delta")[0]
    frames = data_frames(tr.feed(head) + tr.close())
    assert "error" in frames[-1] and tr.finished


IDS = st.from_regex(r"call_[A-Za-z0-9]{1,10}", fullmatch=True)
NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,30}", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(IDS, NAMES), min_size=1, max_size=4, unique_by=lambda t: t[0]))
def test_inbound_round_trip_keeps_tool_ids_and_names(calls: list[tuple[str, str]]) -> None:
    body = req(
        {"role": "system", "content": "s"},
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "ok",
            "tool_calls": [{"id": i, "type": "function", "function": {"name": n, "arguments": "{}"}} for i, n in calls],
        },
        *[{"role": "tool", "tool_call_id": i, "content": f"r{i}"} for i, _ in calls],
        tools=[
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in {n for _, n in calls}
        ],
    )
    anthropic = openai_to_anthropic_request(body)
    back = to_openai_request(anthropic, model="gpt-x")
    assert validate_chat_request(back) is None
    assert [(c["id"], c["function"]["name"]) for c in back["messages"][2]["tool_calls"]] == calls
    assert [m["tool_call_id"] for m in back["messages"][3:]] == [i for i, _ in calls]
