"""The Responses mock is faithful: the official ``openai`` SDK, with strict response validation, reads it."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from tests.mocks.responses import MockResponses

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
BASH = {
    "type": "function",
    "name": "Bash",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    "strict": False,
}


def client(mock: MockResponses) -> AsyncOpenAI:
    return AsyncOpenAI(api_key="k", base_url=mock.url + "/v1", max_retries=0, _strict_response_validation=True)


async def test_non_streamed_answer_validates_with_reasoning_and_cached_usage() -> None:
    async with MockResponses(reasoning=True, cached_tokens=7) as mock:
        resp = await client(mock).responses.create(model="gpt-5-mock", input="Reply with exactly: HI", store=False)
    assert resp.output_text == "HI"
    assert [o.type for o in resp.output] == ["reasoning", "message"]
    assert resp.usage is not None and resp.usage.input_tokens_details.cached_tokens == 7


async def test_stream_of_a_function_call_in_many_deltas_validates_event_by_event() -> None:
    async with MockResponses(chunks=9, reasoning=True) as mock:
        stream = await client(mock).responses.create(
            model="gpt-5-mock",
            input=[{"role": "user", "content": "run `echo hi`"}],
            tools=[BASH],  # type: ignore[list-item]
            stream=True,
        )
        events = [ev async for ev in stream]
    for ev in events:
        EVENTS.validate_python(ev.model_dump())
    kinds = [ev.type for ev in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.function_call_arguments.delta") >= 5
    assert "response.reasoning_summary_text.delta" in kinds
    seqs = [ev.sequence_number for ev in events]
    assert seqs == list(range(len(seqs)))
    args = "".join(ev.delta for ev in events if ev.type == "response.function_call_arguments.delta")
    assert '"command": "echo hi"' in args


async def test_failed_response_and_validation_errors() -> None:
    async with MockResponses() as mock:
        mock.add_fault("error_event", status=429)
        stream = await client(mock).responses.create(model="gpt-5-mock", input="hi", stream=True)
        events = [ev async for ev in stream]
        assert events[-1].type == "response.failed"
        assert events[-1].response.error is not None and events[-1].response.error.code == "rate_limit_exceeded"
        with pytest.raises(openai.BadRequestError, match="No tool output found"):
            await client(mock).responses.create(
                model="gpt-5-mock",
                input=[{"type": "function_call", "call_id": "c1", "name": "Bash", "arguments": "{}"}],
                tools=[BASH],  # type: ignore[list-item]
            )


async def test_chatgpt_mode_requires_stream_store_false_and_a_token() -> None:
    async with MockResponses(chatgpt=True, token_ok=lambda t, a: t == "tok" and a == "acct") as mock:
        import aiohttp

        async with aiohttp.ClientSession() as s:
            body = {"model": "m", "input": "hi", "instructions": "x", "store": False, "stream": True}
            hdr = {"Authorization": "Bearer tok", "chatgpt-account-id": "acct"}
            async with s.post(mock.url + "/backend-api/codex/responses", json=body, headers=hdr) as r:
                assert r.status == 200 and "response.completed" in await r.text()
            url = mock.url + "/backend-api/codex/responses"
            async with s.post(url, json={**body, "store": True}, headers=hdr) as r:
                assert r.status == 400 and (await r.json()) == {"detail": "Store must be set to false"}
            async with s.post(
                mock.url + "/backend-api/codex/responses", json={**body, "max_output_tokens": 100}, headers=hdr
            ) as r:
                assert (await r.json()) == {"detail": "Unsupported parameter: max_output_tokens"}
            bad = {**hdr, "chatgpt-account-id": "other"}
            async with s.post(mock.url + "/backend-api/codex/responses", json=body, headers=bad) as r:
                assert r.status == 401
