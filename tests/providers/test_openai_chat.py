"""The OpenAI Chat Completions dialect end to end: real router, mock OpenAI upstream, official SDKs, Claude Code."""

from __future__ import annotations

import json
import random
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.e2e.claude_cli import run_claude
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic
from tests.mocks.openai import Fault, MockOpenAI


def openai_provider(name: str, url: str, ptype: str = "openai") -> str:
    return f'[[providers]]\nname = "{name}"\nprovider_type = "{ptype}"\nbase_url = "{url}/v1"\napi_key = "sk-up-test"\n'


def config(url: str, extra: str = "", ptype: str = "openai") -> str:
    return (
        '[router]\ndefault = "main"\nauto_map = true\n'
        + openai_provider("oa", url, ptype)
        + model_block("main", [("oa", "gpt-up")])
        + extra
    )


TOOLS = [
    {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    }
]


@pytest.mark.parametrize("ptype", ["openai", "openrouter", "deepseek", "groq", "gemini-openai"])
async def test_anthropic_sdk_text_stream_and_tools(tmp_path: Path, ptype: str) -> None:
    async with (
        MockOpenAI(name="oa", reasoning=ptype == "deepseek") as mock,
        run_router(config(mock.url, ptype=ptype), tmp_path) as router,
    ):
        client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
        msg = await client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "Reply with exactly: OA-1"}],
        )
        texts = [b.text for b in msg.content if b.type == "text"]
        assert texts == ["OA-1"]
        assert msg.model == "claude-sonnet-4-5"
        assert msg.stop_reason == "end_turn"
        async with client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=100,
            tools=TOOLS,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Run the shell command `echo oa-7` now"}],
        ) as stream:
            final = await stream.get_final_message()
        uses = [b for b in final.content if b.type == "tool_use"]
        assert uses and uses[0].name == "Bash" and uses[0].input["command"] == "echo oa-7"  # type: ignore[index]
        assert final.stop_reason == "tool_use"
        # The tool result goes back in OpenAI order (role "tool" right after the call).
        async with client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=100,
            tools=TOOLS,  # type: ignore[arg-type]
            messages=[
                {"role": "user", "content": "Run the shell command `echo oa-7` now"},
                {"role": "assistant", "content": [b.model_dump() for b in final.content]},  # type: ignore[misc]
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "oa-7"}]},
            ],
        ) as stream:
            done = await stream.get_final_message()
        assert "TOOL_RESULT: oa-7" in done.content[-1].text  # type: ignore[union-attr]
        sent = mock.requests[-1].json
        assert [m["role"] for m in sent["messages"]][-2:] == ["assistant", "tool"]
        assert sent["model"] == "gpt-up"
        auth = {k.lower(): v for k, v in mock.requests[-1].headers}.get("authorization")
        assert auth == "Bearer sk-up-test"


async def test_error_payload_in_200_stream_fails_over(tmp_path: Path) -> None:
    async with MockOpenAI(name="oa") as oa, MockAnthropic(name="an") as an:
        oa.add_fault(Fault(kind="error_event", message="model overloaded"))
        cfg = (
            '[router]\ndefault = "main"\nauto_map = true\n'
            + openai_provider("oa", oa.url)
            + anthropic_provider("an", an.url)
            + model_block("main", [("oa", "gpt-up"), ("an", "claude-up")])
        )
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={
                    "model": "main",
                    "max_tokens": 20,
                    "stream": True,
                    "messages": [{"role": "user", "content": "Reply with exactly: FO"}],
                },
            )
        assert r.status_code == 200
        assert r.headers["x-ccm-provider"] == "an" and r.headers["x-ccm-attempts"] == "2"
        assert "event: message_stop" in r.text


# ("truncate" — a body that ends without finish_reason or [DONE] — is finalised as end_turn on purpose:
# Cerebras and others end streams that way; see the golden transcripts.)
@pytest.mark.parametrize("kind", ["drop", "malformed", "error_mid"])
async def test_mid_stream_faults_end_with_error_event(tmp_path: Path, kind: str) -> None:
    async with MockOpenAI(name="oa") as oa, run_router(config(oa.url), tmp_path) as router:
        oa.add_fault(Fault(kind=kind))
        async with httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={
                    "model": "main",
                    "max_tokens": 20,
                    "stream": True,
                    "messages": [{"role": "user", "content": "Reply with exactly: a b c d e f"}],
                },
            )
        assert r.status_code == 200
        frames = [f for f in r.text.split("\n\n") if f.strip()]
        assert frames[0].startswith("event: message_start")
        assert frames[-1].startswith("event: error"), frames[-2:]


async def test_upstream_status_errors_become_anthropic_errors(tmp_path: Path) -> None:
    cfg = "[server.timeouts]\nretry_budget_ms = 0\n"
    async with MockOpenAI(name="oa") as oa, run_router(cfg + config(oa.url), tmp_path) as router:
        oa.add_fault(Fault(kind="status", status=429, retry_after=7, message="slow down", times=5))
        async with httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={"model": "main", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            )
        assert r.status_code == 429
        assert r.headers["retry-after"] == "7"
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
        assert "slow down" in body["error"]["message"]


async def test_openai_sdk_against_inbound_chat_completions(tmp_path: Path) -> None:
    async with MockAnthropic(name="an") as an:
        cfg = (
            '[router]\ndefault = "main"\nauto_map = true\n'
            + anthropic_provider("an", an.url)
            + model_block("main", [("an", "claude-up")])
        )
        async with run_router(cfg, tmp_path) as router:
            client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key="k", max_retries=0)
            res = await client.chat.completions.create(
                model="main", messages=[{"role": "user", "content": "Reply with exactly: IN-1"}]
            )
            assert res.choices[0].message.content == "IN-1"
            assert res.choices[0].finish_reason == "stop"
            stream = await client.chat.completions.create(
                model="main",
                stream=True,
                stream_options={"include_usage": True},
                messages=[{"role": "user", "content": "Reply with exactly: IN-2"}],
            )
            text, usage = "", None
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                usage = chunk.usage or usage
            assert text == "IN-2" and usage is not None and usage.completion_tokens > 0
            tools = [{"type": "function", "function": {"name": "Bash", "parameters": TOOLS[0]["input_schema"]}}]
            res = await client.chat.completions.create(
                model="main",
                tools=tools,  # type: ignore[arg-type]
                messages=[{"role": "user", "content": "Run the shell command `echo in-3` please"}],
            )
            call = res.choices[0].message.tool_calls[0]  # type: ignore[index]
            assert call.function.name == "Bash" and "echo in-3" in call.function.arguments  # type: ignore[union-attr]
            assert res.choices[0].finish_reason == "tool_calls"
            with pytest.raises(openai.NotFoundError) as info:
                await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
            assert "nope" in str(info.value)


@pytest.mark.e2e
@pytest.mark.parametrize("variant", ["plain", "reasoning_tool_first"])
async def test_claude_code_through_openai_dialect(tmp_path: Path, variant: str) -> None:
    opts = {"reasoning": True, "tool_first": True} if variant != "plain" else {}
    async with MockOpenAI(name="oa", **opts) as oa, run_router(config(oa.url), tmp_path) as router:  # type: ignore[arg-type]
        nonce = random.randint(1000, 9999)
        plain = await run_claude(router.url, f"Reply with exactly: OA-{nonce}")
        assert plain.ok, plain.stdout + plain.stderr
        assert f"OA-{nonce}" in plain.text
        a, b = random.randint(1, 40), random.randint(1, 40)
        tool = await run_claude(
            router.url,
            f"Run the shell command `echo oa-$(({a}+{b}))` and tell me its output",
            extra_args=("--allowedTools", "Bash"),
        )
        assert tool.ok, tool.stdout + tool.stderr
        assert f"oa-{a + b}" in tool.text
        assert tool.result.get("num_turns", 0) >= 2
        assert all(r.json["model"] == "gpt-up" for r in oa.requests if r.json)


async def test_max_tokens_capped_for_providers_with_a_limit(tmp_path: Path) -> None:
    async with MockOpenAI(name="oa") as oa:
        cfg = config(oa.url, ptype="deepseek").replace('api_key = "sk-up-test"\n', 'api_key = "sk-up-test"\n', 1)
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient() as http:
            body = {"model": "main", "max_tokens": 32000, "messages": [{"role": "user", "content": "hi"}]}
            r = await http.post(router.url + "/v1/messages", json=body)
            assert r.status_code == 200
            assert oa.requests[-1].json["max_tokens"] == 8192
        capped = config(oa.url).replace(
            'api_key = "sk-up-test"\n', 'api_key = "sk-up-test"\nmax_output_tokens = 1000\n', 1
        )
        async with run_router(capped, tmp_path / "b") as router, httpx.AsyncClient() as http:
            r = await http.post(router.url + "/v1/messages", json={**body, "max_tokens": 4000})
            assert r.status_code == 200
            sent = oa.requests[-1].json
            assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 1000


async def test_structured_output_reaches_openai_and_comes_back_as_json_text(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    async with MockOpenAI(name="oa") as mock, run_router(config(mock.url), tmp_path) as router:
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={
                    "model": "claude-haiku-4-5",
                    "max_tokens": 100,
                    "messages": [{"role": "user", "content": "Generate a title for this session"}],
                    "output_config": {"format": {"type": "json_schema", "schema": schema}},
                },
            )
        assert r.status_code == 200, r.text
        text = r.json()["content"][0]["text"]
        assert set(json.loads(text)) == {"title"}  # the schema's JSON, not prose
        sent = mock.requests[-1].json
        assert sent["response_format"]["json_schema"]["schema"] == schema
        assert sent["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize("stream", [True, False])
async def test_upstream_connection_is_reused_across_requests(tmp_path: Path, stream: bool) -> None:
    async with MockOpenAI(name="oa") as mock, run_router(config(mock.url), tmp_path) as router:
        client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
        for i in range(4):
            if stream:
                async with client.messages.stream(
                    model="claude-sonnet-4-5",
                    max_tokens=50,
                    messages=[{"role": "user", "content": f"Reply with exactly: R{i}"}],
                ) as s:
                    final = await s.get_final_message()
            else:
                final = await client.messages.create(
                    model="claude-sonnet-4-5",
                    max_tokens=50,
                    messages=[{"role": "user", "content": f"Reply with exactly: R{i}"}],
                )
            assert final.content[0].type == "text" and final.content[0].text == f"R{i}"
        peers = {r.peer for r in mock.requests}
        assert len(peers) == 1, f"each request opened a new upstream connection: {peers}"
