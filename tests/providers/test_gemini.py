"""The Gemini dialect end to end: the real router, the Gemini mock in its three auth modes, the anthropic SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.harness import run_router
from tests.mocks.gemini import Fault, MockGemini
from tests.providers.gemini_setup import API_KEY, MODEL, MODES, key_provider, router_config
from tests.translate.grammar import check_stream, parse_events

TOOLS: list[Any] = [
    {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "command": {"type": "string"},
                "timeout": {"type": "number", "exclusiveMinimum": 0},
                "mode": {"$ref": "#/$defs/mode"},
            },
            "required": ["command"],
            "additionalProperties": False,
            "$defs": {"mode": {"type": ["string", "null"], "enum": ["fast", "slow", None]}},
        },
    }
]


@pytest.mark.parametrize("mode", MODES)
async def test_anthropic_sdk_text_stream_and_tool_round_trip(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with MockGemini(name="g") as mock:
        async with run_router(await router_config(mode, mock, tmp_path, monkeypatch), tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            msg = await client.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=100,
                messages=[{"role": "user", "content": "Reply with exactly: GM-1"}],
            )
            assert [b.text for b in msg.content if b.type == "text"] == ["GM-1"]
            assert msg.model == "claude-sonnet-4-5" and msg.stop_reason == "end_turn"
            assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
            first = [{"role": "user", "content": "Run the shell command `echo gm-7` now"}]
            async with client.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=100,
                tools=TOOLS,
                messages=first,  # type: ignore[arg-type]
            ) as stream:
                final = await stream.get_final_message()
            uses = [b for b in final.content if b.type == "tool_use"]
            assert len(uses) == 1 and uses[0].name == "Bash"
            assert uses[0].input == {"command": "echo gm-7", "description": "Run the requested echo"}
            assert final.stop_reason == "tool_use"
            async with client.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=100,
                tools=TOOLS,  # type: ignore[arg-type]
                messages=[
                    *first,
                    {"role": "assistant", "content": [b.model_dump() for b in final.content]},  # type: ignore[misc]
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "gm-7"}],
                    },
                ],
            ) as stream:
                done = await stream.get_final_message()
            assert done.content[-1].text == "TOOL_RESULT: gm-7"  # type: ignore[union-attr]
        gens = mock.generate_requests()
        assert len(gens) == 3 and all(r.status == 200 for r in gens)
        assert gens[0].path.endswith(f"{MODEL}:generateContent") or gens[0].path == "/v1internal:generateContent"
        assert gens[1].path.endswith("treamGenerateContent") and gens[1].query == "alt=sse"
        for r in gens:
            assert "key=" not in r.query
            assert r.header(
                "user-agent",
            ).startswith("claude-code-mux/")  # type: ignore[union-attr]
            if mode == "key":
                assert r.header("x-goog-api-key") == API_KEY and r.header("authorization") is None
            else:
                assert (r.header("authorization") or "").startswith("Bearer ya29.mock-")
        if mode == "vertex":
            assert (
                gens[0].path
                == f"/v1/projects/mock-project/locations/global/publishers/google/models/{MODEL}:generateContent"
            )
            assert len(mock.jwt_claims) == 1, "one signed JWT exchanged, the token cached for the rest"
        if mode == "cli":
            assert all(r.json["project"] == mock.code_assist_project and r.json["model"] == MODEL for r in gens)
            assert mock.token_grants == ["refresh_token"]
        assert API_KEY not in router.log_text()


@pytest.mark.parametrize("mode", MODES)
async def test_count_tokens_is_exact_through_the_dialect(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claude_code_mux.providers.base import RequestContext
    from claude_code_mux.routing.probe import Probe

    async with MockGemini(name="g") as mock:
        async with run_router(await router_config(mode, mock, tmp_path, monkeypatch), tmp_path) as router:
            rt = router.server.holder.current  # type: ignore[union-attr]
            body = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "count me " * 50}]}
            import orjson

            raw = orjson.dumps(body)
            ctx = RequestContext("r1", "/v1/messages/count_tokens", "", raw, Probe.parse(raw), "claude-x", False, {})
            reply = await rt.dialects["gemini"].count_tokens(ctx, rt.providers["g"], MODEL)
            assert reply.headers["x-ccm-count"] == "exact"
            assert orjson.loads(reply.body or b"")["input_tokens"] > 50
            await mock.stop()  # unreachable upstream: the local estimate answers
            reply = await rt.dialects["gemini"].count_tokens(ctx, rt.providers["g"], MODEL)
            assert reply.headers["x-ccm-count"] == "estimate" and orjson.loads(reply.body or b"")["input_tokens"] > 0


async def test_429_retry_delay_becomes_retry_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockGemini(name="g") as mock:
        mock.faults.append(Fault("status", 429, times=5, retry_delay="17s"))
        cfg = await router_config("key", mock, tmp_path, monkeypatch)
        cfg = cfg.replace("[router]", "[server.timeouts]\nretry_budget_ms = 0\n\n[router]")
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient(timeout=10) as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
            )
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == "17"
        assert r.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("stream", [False, True])
async def test_safety_block_is_a_clear_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    async with MockGemini(name="g") as mock:
        async with run_router(await router_config("key", mock, tmp_path, monkeypatch), tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            for prompt, why in (
                ("please BLOCK_ME", "Gemini stopped the answer: SAFETY"),
                ("BLOCK_PROMPT", "prompt: SAFETY"),
            ):
                kwargs: Any = {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": prompt}]}
                if stream:
                    async with client.messages.stream(**kwargs) as s:
                        msg = await s.get_final_message()
                else:
                    msg = await client.messages.create(**kwargs)
                assert msg.stop_reason == "refusal"
                assert why in msg.content[-1].text  # type: ignore[union-attr]


async def test_stream_error_before_output_fails_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockGemini(name="g") as mock, MockGemini(name="h", api_key=API_KEY) as backup:
        mock.faults.append(Fault("error_event", times=1))
        cfg = await router_config("key", mock, tmp_path, monkeypatch)
        cfg = cfg.replace(
            "[[models]]",
            key_provider("h", backup.url) + "[[models]]",
        )
        cfg += f'[[models.mappings]]\nprovider = "h"\nactual_model = "{MODEL}"\npriority = 2\n'
        async with run_router(cfg, tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            async with client.messages.stream(
                model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "Reply with exactly: OK-2"}]
            ) as s:
                msg = await s.get_final_message()
        assert msg.content[-1].text == "OK-2"  # type: ignore[union-attr]
        assert backup.generate_requests()


async def test_vertex_401_forces_one_token_refresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockGemini(name="g") as mock:
        async with run_router(await router_config("vertex", mock, tmp_path, monkeypatch), tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            kwargs: Any = {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
            await client.messages.create(**kwargs)
            mock.access_tokens.clear()  # every token revoked upstream
            msg = await client.messages.create(**kwargs)
            assert msg.content[-1].text == "Hello from g."  # type: ignore[union-attr]
        assert len(mock.jwt_claims) == 2
        assert [r.status for r in mock.generate_requests()] == [200, 401, 200]


async def test_gemini_3_gets_its_own_thought_signatures_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockGemini(name="g") as mock:
        cfg = (await router_config("key", mock, tmp_path, monkeypatch)).replace(MODEL, "gemini-3-pro-preview")
        async with run_router(cfg, tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            history: list[Any] = [{"role": "user", "content": "Run the shell command `echo s-1` now"}]
            for n, stream in enumerate((True, False, True)):
                kwargs: Any = {"model": "claude-x", "max_tokens": 100, "tools": TOOLS, "messages": history}
                if stream:
                    async with client.messages.stream(**kwargs) as s:
                        msg = await s.get_final_message()
                else:
                    msg = await client.messages.create(**kwargs)
                use = next(b for b in msg.content if b.type == "tool_use")
                history += [
                    {"role": "assistant", "content": [b.model_dump() for b in msg.content]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": f"s-{n}"}]},
                    {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": f"Run the shell command `echo s-{n + 2}` now"},
                ]
        gens = mock.generate_requests()
        assert [r.status for r in gens] == [200, 200, 200]
        sent = [p["thoughtSignature"] for c in gens[-1].json["contents"] for p in c["parts"] if "functionCall" in p]
        assert len(sent) == 2 and all(sig in mock.signatures_issued for sig in sent)


async def test_a_wrong_api_key_is_a_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockGemini(name="g") as mock:
        cfg = await router_config("key", mock, tmp_path, monkeypatch)
        mock.api_key = "another-key"
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient(timeout=10) as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
            )
        assert r.status_code == 401, r.text
        assert r.json()["error"]["type"] == "authentication_error" and "API key not valid" in r.text
        assert API_KEY not in r.text and API_KEY not in router.log_text()


async def test_vertex_location_must_be_a_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from claude_code_mux.config.load import parse_config
    from claude_code_mux.errors import ConfigError

    async with MockGemini(name="g") as mock:
        cfg = (await router_config("vertex", mock, tmp_path, monkeypatch)).replace('"global"', '"evil.example.com/x"')
        with pytest.raises(ConfigError, match="Google Cloud location") as info:
            parse_config(cfg, path="t.toml")
        assert info.value.line is not None


async def test_a_connection_lost_mid_stream_ends_with_an_error_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with MockGemini(name="g", chunks=4) as mock:
        mock.faults.append(Fault("drop_mid"))
        async with run_router(await router_config("key", mock, tmp_path, monkeypatch), tmp_path) as router:
            async with httpx.AsyncClient(timeout=10) as http:
                body = {
                    "model": "claude-x",
                    "max_tokens": 50,
                    "stream": True,
                    "messages": [{"role": "user", "content": "Reply with exactly: a long enough answer"}],
                }
                r = await http.post(router.url + "/v1/messages", json=body)
            assert r.status_code == 200
            events = parse_events(r.content)
            check_stream(events, complete=False)
            assert events[-1][0] == "error" and "upstream connection failed" in events[-1][1]["error"]["message"]
            assert any(e == "content_block_delta" for e, _ in events)
            # the router is fine afterwards
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            msg = await client.messages.create(**{**body, "stream": False})
            assert msg.content[-1].text == "a long enough answer"  # type: ignore[union-attr]
