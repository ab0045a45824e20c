"""The OpenAI Responses dialect end to end: real router, the Responses mock upstream, the official SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic
from tests.mocks.responses import Fault, MockResponses
from tests.translate.grammar import check_sse

TOOLS: list[Any] = [
    {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    }
]


def responses_provider(name: str, url: str, ptype: str = "openai-responses", extra: str = "") -> str:
    return (
        f'[[providers]]\nname = "{name}"\nprovider_type = "{ptype}"\nbase_url = "{url}"\napi_key = "sk-up-test"\n'
        + extra
    )


def config(url: str, extra: str = "", ptype: str = "openai-responses", pextra: str = "") -> str:
    return (
        '[router]\ndefault = "main"\nauto_map = true\n'
        + responses_provider("rs", url, ptype, pextra)
        + model_block("main", [("rs", "gpt-5-mock")])
        + extra
    )


async def test_anthropic_sdk_text_tools_stream_and_usage(tmp_path: Path) -> None:
    async with (
        MockResponses(name="rs", require_key="sk-up-test", reasoning=True, cached_tokens=5, chunks=7) as mock,
        run_router(config(mock.url + "/v1"), tmp_path) as router,
    ):
        client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
        msg = await client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "Reply with exactly: RS-1"}],
        )
        assert [b.type for b in msg.content] == ["thinking", "text"]
        assert msg.content[1].text == "RS-1"  # type: ignore[union-attr]
        assert msg.content[0].signature == ""  # type: ignore[union-attr]
        assert msg.model == "claude-sonnet-4-5" and msg.stop_reason == "end_turn"
        assert msg.usage.cache_read_input_tokens == 5 and msg.usage.output_tokens > 0
        async with client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=100,
            tools=TOOLS,
            messages=[{"role": "user", "content": "Run the shell command `echo rs-7` now"}],
        ) as stream:
            final = await stream.get_final_message()
        uses = [b for b in final.content if b.type == "tool_use"]
        assert uses and uses[0].name == "Bash" and uses[0].input["command"] == "echo rs-7"  # type: ignore[index]
        assert final.stop_reason == "tool_use"
        assert final.usage.cache_read_input_tokens == 5
        async with client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=100,
            tools=TOOLS,
            messages=[
                {"role": "user", "content": "Run the shell command `echo rs-7` now"},
                {"role": "assistant", "content": [b.model_dump() for b in final.content]},  # type: ignore[misc]
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "rs-7"}]},
            ],
        ) as stream:
            done = await stream.get_final_message()
        assert "TOOL_RESULT: rs-7" in done.content[-1].text  # type: ignore[union-attr]
        sent = mock.responses_requests()[-1].json
        assert sent["store"] is False and sent["model"] == "gpt-5-mock"
        assert [i["type"] for i in sent["input"]] == ["message", "message", "function_call", "function_call_output"]
        assert sent["input"][2]["call_id"] == uses[0].id == sent["input"][3]["call_id"]
        ua = mock.responses_requests()[-1].header("user-agent") or ""
        assert ua.startswith("claude-code-mux/")
        tokens = await client.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hello there"}]
        )
        assert tokens.input_tokens > 0
        assert len(mock.responses_requests()) == 3  # count_tokens was answered locally


async def test_azure_preset_sends_api_key_header_and_keeps_the_api_version(tmp_path: Path) -> None:
    async with MockResponses(name="az", require_key="sk-up-test") as mock:
        url = mock.url + "/openai?api-version=2025-04-01-preview"
        async with run_router(config(url, ptype="azure-openai"), tmp_path) as router, httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={
                    "model": "main",
                    "max_tokens": 20,
                    "messages": [{"role": "user", "content": "Reply with exactly: AZ"}],
                },
            )
        assert r.status_code == 200, r.text
        assert r.json()["content"] == [{"type": "text", "text": "AZ"}]
        rec = mock.responses_requests()[0]
        assert rec.path == "/openai/responses" and rec.query == "api-version=2025-04-01-preview"
        assert rec.header("api-key") == "sk-up-test" and rec.header("authorization") is None


async def test_dialect_override_for_a_custom_endpoint(tmp_path: Path) -> None:
    async with MockResponses(name="custom") as mock:
        pextra = 'dialect = "openai-responses"\n'
        cfg = config(mock.url + "/v1", ptype="my-gateway", pextra=pextra)
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={
                    "model": "main",
                    "max_tokens": 20,
                    "messages": [{"role": "user", "content": "Reply with exactly: C"}],
                },
            )
        assert r.status_code == 200 and r.json()["content"][0]["text"] == "C"


async def test_failed_response_before_output_fails_over(tmp_path: Path) -> None:
    async with MockResponses(name="rs") as rs, MockAnthropic(name="an") as an:
        rs.add_fault(Fault(kind="error_event", status=503, path="/responses", message="overloaded"))
        cfg = (
            '[router]\ndefault = "main"\nauto_map = true\n'
            + responses_provider("rs", rs.url + "/v1")
            + anthropic_provider("an", an.url)
            + model_block("main", [("rs", "gpt-5-mock"), ("an", "claude-up")])
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
        check_sse(r.content)


@pytest.mark.parametrize("kind", ["drop", "malformed", "error_mid", "truncate"])
async def test_mid_stream_faults_end_with_an_error_event(tmp_path: Path, kind: str) -> None:
    async with MockResponses(name="rs") as rs, run_router(config(rs.url + "/v1"), tmp_path) as router:
        rs.add_fault(kind)
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
        events = check_sse(r.content, complete=False)
        assert events[0][0] == "message_start" and events[-1][0] == "error", events[-3:]


async def test_upstream_status_errors_become_anthropic_errors(tmp_path: Path) -> None:
    cfg = "[server.timeouts]\nretry_budget_ms = 0\n"
    async with MockResponses(name="rs") as rs, run_router(cfg + config(rs.url + "/v1"), tmp_path) as router:
        rs.add_fault("status", status=429, retry_after=7, message="slow down", times=5)
        async with httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={"model": "main", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 429 and r.headers["retry-after"] == "7"
            body = r.json()
            assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
            assert "slow down" in body["error"]["message"]
            rs.clear()
            # Claude Code's max_tokens 1 probe is raised to the API's minimum of 16
            r = await http.post(
                router.url + "/v1/messages",
                json={"model": "main", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 200 and rs.responses_requests()[-1].json["max_output_tokens"] == 16
            # a request the upstream refuses comes back as the Anthropic 400 envelope
            r = await http.post(
                router.url + "/v1/messages",
                json={
                    "model": "main",
                    "max_tokens": 5,
                    "temperature": 3,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
            assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
            assert "temperature" in r.json()["error"]["message"]


async def test_a_model_without_reasoning_is_asked_again_without_it_and_remembered(tmp_path: Path) -> None:
    async with MockResponses(name="rs", no_reasoning_models=["gpt-5-mock"]) as rs:
        async with run_router(config(rs.url + "/v1"), tmp_path) as router, httpx.AsyncClient() as http:
            for _ in range(2):
                r = await http.post(
                    router.url + "/v1/messages",
                    json={
                        "model": "main",
                        "max_tokens": 100,
                        "thinking": {"type": "enabled", "budget_tokens": 2000},
                        "messages": [{"role": "user", "content": "Reply with exactly: NR"}],
                    },
                )
                assert r.status_code == 200, r.text
                assert r.json()["content"] == [{"type": "text", "text": "NR"}]
        assert [("reasoning" in q.json, q.status) for q in rs.responses_requests()] == [
            (True, 400),
            (False, 200),
            (False, 200),
        ]
