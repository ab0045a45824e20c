"""The official SDKs read what the translators write.

- ``anthropic``: every golden stream, translated, parses with ``messages.stream`` and its
  accumulation equals our fold; a mid-stream error raises.
- The outbound path end to end: recorded Claude Code requests -> ``to_openai_request`` -> the OpenAI
  mock (which validates strictly) -> ``OpenAIStreamTranslator`` -> the ``anthropic`` SDK, for a Bash tool
  round trip, in every mock mode.
- The inbound path: the ``openai`` SDK against a tiny /v1/chat/completions app that translates to the
  Anthropic mock and back, streaming and not, tools included.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import httpx2
import orjson
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from claude_code_mux.translate.anthropic_fold import fold_anthropic_events
from claude_code_mux.translate.inbound_openai import anthropic_to_openai_response, openai_to_anthropic_request
from claude_code_mux.translate.inbound_stream import AnthropicToOpenAIStream
from claude_code_mux.translate.openai_request import to_openai_request
from claude_code_mux.translate.openai_response import from_openai_response
from claude_code_mux.translate.openai_stream import OpenAIStreamTranslator
from tests.mocks.anthropic import MockAnthropic
from tests.mocks.openai import MockOpenAI
from tests.translate.grammar import check_sse

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "openai_stream"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def sdk_final_message(sse: bytes) -> anthropic.types.Message:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as stream:
        return stream.get_final_message()


def translate(data: bytes) -> tuple[bytes, OpenAIStreamTranslator]:
    tr = OpenAIStreamTranslator(model="claude-x", message_id="msg_sdk")
    return tr.feed(data) + tr.close(), tr


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.sse")))
def test_anthropic_sdk_accumulates_every_golden_stream(name: str) -> None:
    out, tr = translate((GOLDEN / f"{name}.sse").read_bytes())
    if tr.error is not None and not tr.started:
        assert out == b""
        return
    if tr.error is not None:
        with pytest.raises(anthropic.APIStatusError):
            sdk_final_message(out)
        return
    msg = sdk_final_message(out)
    folded = fold_anthropic_events(out)
    assert msg.model_dump(exclude_none=True, include={"id", "content", "stop_reason", "usage", "model"}) == {
        k: v for k, v in folded.items() if k in {"id", "content", "stop_reason", "usage", "model"} and v is not None
    }


def load_fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())["body"]
    return body


async def outbound(mock: MockOpenAI, body: dict[str, Any]) -> anthropic.types.Message:
    """One Claude Code request through the translating path, answered by the OpenAI mock."""
    req = to_openai_request(body, model="gpt-mock-1")
    tr = OpenAIStreamTranslator(model=body["model"])
    out = b""
    async with aiohttp.ClientSession() as s, s.post(mock.url + "/v1/chat/completions", json=req) as r:
        assert r.status == 200, await r.text()
        async for piece in r.content.iter_any():
            out += tr.feed(piece)
        out += tr.close()
    check_sse(out)
    return sdk_final_message(out)


MODES: list[dict[str, Any]] = [
    {},
    {"reasoning": True, "chunks": 1},
    {"tool_first": True, "chunks": 5},
    {"no_finish_reason": True, "no_done": True},
    {"reasoning": True, "reasoning_field": "reasoning", "no_done": True},
]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(m) or "default")
async def test_claude_code_bash_round_trip_through_the_openai_mock(mode: dict[str, Any]) -> None:
    turn1 = load_fixture("cc-2.1.197_main_turn1.json")
    async with MockOpenAI(**mode) as mock:
        msg = await outbound(mock, turn1)
        assert msg.stop_reason == "tool_use"
        tool = next(b for b in msg.content if b.type == "tool_use")
        assert tool.name == "Bash" and tool.input == {
            "command": "echo hi-T",
            "description": "Run the requested echo",
        }
        assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
        if mode.get("reasoning"):
            assert msg.content[0].type == "thinking"
        # turn 2: Claude Code sends the assistant turn back with the tool result
        turn2 = load_fixture("cc-2.1.197_main_turn2_tool_result.json")
        history = [
            {"type": "text", "text": "I'll run that command."},
            {"type": "tool_use", "id": tool.id, "name": "Bash", "input": tool.input},
        ]
        turn2["messages"][-2] = {"role": "assistant", "content": history}
        turn2["messages"][-1]["content"][0]["tool_use_id"] = tool.id
        msg2 = await outbound(mock, turn2)
        assert msg2.stop_reason == "end_turn"
        assert [b.text for b in msg2.content if b.type == "text"] == ["TOOL_RESULT: hi-T"]


async def test_non_streamed_answer_from_the_mock() -> None:
    body = {**load_fixture("cc-2.1.197_main_turn1.json"), "stream": False}
    req = to_openai_request(body, model="g")
    async with (
        MockOpenAI(reasoning=True) as mock,
        aiohttp.ClientSession() as s,
        s.post(mock.url + "/v1/chat/completions", json=req) as r,
    ):
        msg = from_openai_response(await r.json(), model="claude-x")
    assert [b["type"] for b in msg["content"]] == ["thinking", "text", "tool_use"]
    assert msg["stop_reason"] == "tool_use" and msg["usage"]["input_tokens"] > 0


# ---- inbound: the openai SDK against a translating app in front of the Anthropic mock --------


def inbound_app(upstream: str) -> web.Application:
    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        areq = openai_to_anthropic_request(body)
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                upstream + "/v1/messages",
                json=areq,
                headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
            ) as r,
        ):
            if not body.get("stream"):
                return web.json_response(anthropic_to_openai_response(await r.json(), model=body["model"]))
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            tr = AnthropicToOpenAIStream(model=body["model"], include_usage=include)
            async for piece in r.content.iter_any():
                await resp.write(tr.feed(piece))
            await resp.write(tr.close())
            return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    return app


@pytest.fixture
async def inbound_client() -> AsyncIterator[AsyncOpenAI]:
    async with MockAnthropic(name="anth") as upstream:
        runner = web.AppRunner(inbound_app(upstream.url))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield AsyncOpenAI(api_key="k", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
        finally:
            await runner.cleanup()


BASH = {
    "type": "function",
    "function": {
        "name": "Bash",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
    },
}


async def test_openai_sdk_inbound_text(inbound_client: AsyncOpenAI) -> None:
    resp = await inbound_client.chat.completions.create(
        model="claude-haiku-4-5-20251001",
        messages=[{"role": "user", "content": "Reply with exactly: inbound-ok"}],
    )
    assert resp.choices[0].message.content == "inbound-ok" and resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens > 0
    stream = await inbound_client.chat.completions.create(
        model="claude-haiku-4-5-20251001",
        messages=[{"role": "user", "content": "Reply with exactly: streamed-ok"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed-ok"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_openai_sdk_inbound_tool_round_trip(inbound_client: AsyncOpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "Run `echo inbound` for me"}]
    stream = await inbound_client.chat.completions.create(
        model="claude-x", messages=messages, tools=[BASH], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += tc.id or ""
            entry["name"] += (tc.function.name or "") if tc.function else ""
            entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
    assert finish == "tool_calls" and calls[0]["name"] == "Bash"
    assert json.loads(calls[0]["arguments"])["command"] == "echo inbound"
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": "Bash", "arguments": calls[0]["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "inbound"},
    ]
    resp = await inbound_client.chat.completions.create(model="claude-x", messages=messages, tools=[BASH])
    assert resp.choices[0].message.content == "TOOL_RESULT: inbound"
