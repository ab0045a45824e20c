"""Tests of the OpenAI Chat Completions mock itself, with the official ``openai`` SDK and aiohttp."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from tests.mocks.openai import Fault, MockOpenAI, plan_reply, validate_chat_request

REPO_ROOT = Path(__file__).resolve().parents[2]
BASH = {
    "type": "function",
    "function": {
        "name": "Bash",
        "description": "Run a shell command",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
}


def client(mock: MockOpenAI, key: str = "sk-test", **kw: Any) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=mock.url + "/v1", max_retries=0, **kw)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def test_plain_reply_non_stream() -> None:
    async with MockOpenAI(name="up1") as mock:
        raw = await client(mock).chat.completions.with_raw_response.create(
            model="gpt-x", messages=user("Reply with exactly: pong"), max_completion_tokens=50
        )
        resp = raw.parse()
        assert raw.headers["x-mock-name"] == "up1" and raw.headers["x-request-id"]
        assert resp.choices[0].message.content == "pong"
        assert resp.choices[0].finish_reason == "stop"
        assert resp.usage is not None and resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens >= 1
        assert resp.model == "gpt-x" and resp.object == "chat.completion"
        rec = mock.completions_requests()[0]
        assert rec.json["model"] == "gpt-x" and rec.header("authorization") == "Bearer sk-test"


async def test_stream_with_usage_chunk() -> None:
    async with MockOpenAI(chunks=4) as mock:
        stream = await client(mock).chat.completions.create(
            model="gpt-x",
            messages=user("Reply with exactly: a longer streamed answer"),
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "a longer streamed answer"
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4
        assert chunks[-2].choices[0].finish_reason == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage is not None


async def test_bash_tool_call_streamed_and_not() -> None:
    async with MockOpenAI() as mock:
        c = client(mock)
        msgs = user("Run the shell command `echo hi-M` and tell me its output")
        resp = await c.chat.completions.create(model="m", messages=msgs, tools=[BASH])
        call = resp.choices[0].message.tool_calls[0]
        assert resp.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "Bash" and call.id.startswith("call_")
        assert json.loads(call.function.arguments) == {
            "command": "echo hi-M",
            "description": "Run the requested echo",
        }
        stream = await c.chat.completions.create(model="m", messages=msgs, tools=[BASH], stream=True)
        args, names, ids = "", [], []
        async for chunk in stream:
            for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                args += tc.function.arguments or ""
                names += [tc.function.name] if tc.function.name else []
                ids += [tc.id] if tc.id else []
        assert names == ["Bash"] and len(ids) == 1 and json.loads(args)["command"] == "echo hi-M"


async def test_tool_result_reply_and_error_marker() -> None:
    async with MockOpenAI() as mock:
        call = {"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
        msgs: list[Any] = [
            *user("run"),
            {"role": "assistant", "content": None, "tool_calls": [call, {**call, "id": "call_2"}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "hi-M"},
            {"role": "tool", "tool_call_id": "call_2", "content": "[tool error] boom"},
        ]
        resp = await client(mock).chat.completions.create(model="m", messages=msgs, tools=[BASH])
        assert resp.choices[0].message.content == "TOOL_RESULT: hi-M | ERROR boom"


async def test_reasoning_and_tool_first_order() -> None:
    async with MockOpenAI(reasoning=True, tool_first=True) as mock:
        stream = await client(mock).chat.completions.create(
            model="m", messages=user("Run `echo x` please"), tools=[BASH], stream=True
        )
        order: list[str] = []
        async for chunk in stream:
            d = chunk.choices[0].delta if chunk.choices else None
            if d is None:
                continue
            kind = (
                "reasoning"
                if (d.model_extra or {}).get("reasoning_content")
                else "tool"
                if d.tool_calls
                else "text"
                if d.content
                else None
            )
            if kind and (not order or order[-1] != kind):
                order.append(kind)
        assert order == ["reasoning", "tool", "text"]


async def test_reasoning_field_name_and_non_stream() -> None:
    async with MockOpenAI(reasoning=True, reasoning_field="reasoning") as mock:
        resp = await client(mock).chat.completions.create(model="m", messages=user("hi"))
        assert (resp.choices[0].message.model_extra or {})["reasoning"].startswith("Let me think")


async def raw_stream(mock: MockOpenAI, body: dict[str, Any]) -> bytes:
    async with aiohttp.ClientSession() as s, s.post(mock.url + "/v1/chat/completions", json=body) as r:
        assert r.status == 200 and r.headers["x-mock-name"] == mock.name
        return await r.read()


async def test_no_finish_reason_and_no_done_modes() -> None:
    body = {"model": "m", "messages": user("hello"), "stream": True}
    async with MockOpenAI(no_finish_reason=True, no_done=True) as mock:
        raw = await raw_stream(mock, body)
        assert b'"finish_reason":"stop"' not in raw and b"[DONE]" not in raw
    async with MockOpenAI() as mock:
        raw = await raw_stream(mock, body)
        assert b'"finish_reason":"stop"' in raw and raw.endswith(b"data: [DONE]\n\n") and b'"usage"' not in raw


async def test_status_fault_with_retry_after() -> None:
    async with MockOpenAI() as mock:
        mock.add_fault("429", retry_after=3)
        with pytest.raises(openai.RateLimitError) as exc:
            await client(mock).chat.completions.create(model="m", messages=user("x"))
        assert exc.value.response.headers["retry-after"] == "3"
        assert exc.value.body == {
            "message": "Rate limit reached for requests (mock)",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
        assert exc.value.response.headers["x-mock-name"] == "openai"
        ok = await client(mock).chat.completions.create(model="m", messages=user("x"))  # fault used up
        assert ok.choices[0].message.content


async def test_error_payload_as_first_stream_chunk() -> None:
    async with MockOpenAI() as mock:
        mock.add_fault(Fault("error_event", status=503))
        stream = await client(mock).chat.completions.create(model="m", messages=user("x"), stream=True)
        with pytest.raises(openai.APIError, match="overloaded"):
            async for _ in stream:
                pass


async def test_error_mid_stream_drop_and_truncate() -> None:
    body = {"model": "m", "messages": user("Reply with exactly: one two three four"), "stream": True}
    async with MockOpenAI() as mock:
        mock.add_fault("error_mid")
        raw = await raw_stream(mock, body)
        assert raw.count(b"data: ") == 3 and b'"error"' in raw.split(b"\n\n")[-2]
        mock.add_fault("truncate")
        raw = await raw_stream(mock, body)
        assert b'finish_reason":"stop' not in raw and b"[DONE]" not in raw
        mock.add_fault("drop")
        with pytest.raises(aiohttp.ClientPayloadError):
            await raw_stream(mock, body)


async def test_stall_fault_times_out_the_client() -> None:
    async with MockOpenAI() as mock:
        mock.add_fault("stall", seconds=5)
        with pytest.raises(openai.APITimeoutError):
            await client(mock, timeout=0.3).chat.completions.create(model="m", messages=user("x"))


async def test_validation_is_strict_like_openai() -> None:
    async with MockOpenAI() as mock:
        c = client(mock)
        with pytest.raises(openai.BadRequestError, match="preceeding message with 'tool_calls'"):
            await c.chat.completions.create(
                model="m", messages=[*user("x"), {"role": "tool", "tool_call_id": "a", "content": "r"}]
            )
        with pytest.raises(openai.BadRequestError, match="Unrecognized request argument supplied: cache_control"):
            await c.chat.completions.create(model="m", messages=user("x"), extra_body={"cache_control": {}})
        assert [r.status for r in mock.requests] == [400, 400]


def test_validate_chat_request_table() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
    ok = {"model": "m", "messages": user("x")}
    assert validate_chat_request(ok) is None
    bad = [
        {**ok, "top_k": 3},
        {**ok, "messages": []},
        {**ok, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
        {**ok, "messages": [{"role": "assistant", "content": None}]},
        {**ok, "messages": [{"role": "assistant", "content": None, "tool_calls": [call]}, *user("y")]},
        {**ok, "tools": []},
        {**ok, "tools": [{"type": "function", "function": {"name": "x" * 65}}]},
        {**ok, "tool_choice": "auto"},
        {**ok, "stream_options": {"include_usage": True}},
        {**ok, "max_tokens": 1, "max_completion_tokens": 1},
        {**ok, "temperature": 3},
        {**ok, "stop": ["a", "b", "c", "d", "e"]},
    ]
    for body in bad:
        assert validate_chat_request(body), body


async def test_require_key_and_models() -> None:
    async with MockOpenAI(require_key="sk-good") as mock:
        with pytest.raises(openai.AuthenticationError):
            await client(mock, key="sk-bad").chat.completions.create(model="m", messages=user("x"))
        models = [m.id async for m in client(mock, key="sk-good").models.list()]
        assert models == ["gpt-mock-1", "gpt-mock-mini", "o-mock-reasoner"]


async def test_structured_output_and_max_tokens_and_stop() -> None:
    async with MockOpenAI() as mock:
        c = client(mock)
        fmt = {
            "type": "json_schema",
            "json_schema": {
                "name": "t",
                "schema": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}},
                    "required": ["title"],
                },
            },
        }
        resp = await c.chat.completions.create(model="m", messages=user("title?"), response_format=fmt)
        assert json.loads(resp.choices[0].message.content or "") == {"title": "Mock title"}
        resp = await c.chat.completions.create(
            model="m", messages=user("Reply with exactly: " + "word " * 20), max_tokens=2
        )
        assert resp.choices[0].finish_reason == "length" and len(resp.choices[0].message.content or "") == 8
        resp = await c.chat.completions.create(
            model="m", messages=user("Reply with exactly: abcSTOPdef"), stop=["STOP"]
        )
        assert resp.choices[0].message.content == "abc"


def test_plan_reply_mirrors_cc_mock() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "<system-reminder>r</system-reminder>read the file /etc/hosts."}],
        "tools": [{"type": "function", "function": {"name": "Read"}}],
    }
    reply = plan_reply(body, "default")
    assert reply.text is None and reply.tool_calls[0]["name"] == "Read"
    assert json.loads(reply.tool_calls[0]["arguments"]) == {"file_path": "/etc/hosts"}
    assert plan_reply({"messages": user("anything")}, "default").text == "default"


async def test_control_endpoints() -> None:
    async with MockOpenAI() as mock, aiohttp.ClientSession() as s:
        async with s.post(mock.url + "/_mock/faults", json={"faults": ["500:2"]}) as r:
            assert (await r.json())["faults"][0]["remaining"] == 2
        async with s.post(mock.url + "/v1/chat/completions", json={"model": "m", "messages": user("x")}) as r:
            assert r.status == 500 and (await r.json())["error"]["type"] == "server_error"
        async with s.get(mock.url + "/_mock/log") as r:
            assert len(await r.json()) == 1
        async with s.post(mock.url + "/_mock/clear") as r:
            assert r.status == 200
        assert mock.requests == [] and mock.faults == []


async def test_standalone_process() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.mocks.openai", "--port", "0", "--name", "solo", "--max-seconds", "30",
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("LISTENING ")
        port = int(line.split()[1])
        oa = AsyncOpenAI(api_key="k", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
        resp = await oa.chat.completions.create(model="m", messages=user("Reply with exactly: solo-ok"))
        assert resp.choices[0].message.content == "solo-ok"
    finally:
        proc.terminate()
        await proc.wait()
