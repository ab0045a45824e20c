"""/v1/messages through the real router to the mock Anthropic API, with real clients."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import orjson
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic


def fixture_body(name: str) -> bytes:
    path = Path(__file__).resolve().parent.parent / "fixtures" / name
    data = json.loads(path.read_text())
    # Claude Code sends compact JSON with non-ASCII characters unescaped.
    return json.dumps(data["body"], separators=(",", ":"), ensure_ascii=False).encode()


def config_for(url: str, *, extra: str = "") -> str:
    return (
        '[router]\ndefault = "main"\nauto_map = true\nauto_map_regex = "^(claude-|haiku-)"\n'
        + anthropic_provider("up", url)
        + model_block("main", [("up", "upstream-main")])
        + extra
    )


async def test_sdk_non_stream_and_stream(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        client = anthropic.AsyncAnthropic(base_url=router.url, api_key="client-key")
        msg = await client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "Reply with exactly: HELLO-1"}],
        )
        assert msg.content[0].type == "text" and msg.content[0].text == "HELLO-1"
        # The response echoes the model the client asked for.
        assert msg.model == "claude-sonnet-4-5"
        async with client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "Reply with exactly: STREAMED-2"}],
        ) as stream:
            final = await stream.get_final_message()
        assert final.content[0].type == "text" and final.content[0].text == "STREAMED-2"
        assert final.model == "claude-sonnet-4-5"
        reqs = mock.messages_requests()
        assert [r.json["model"] for r in reqs] == ["upstream-main", "upstream-main"]
        # Provider auth replaced the client's key.
        hdrs = dict((k.lower(), v) for k, v in reqs[0].headers)
        assert hdrs["x-api-key"] == "sk-up-test"
        assert "authorization" not in hdrs


async def test_sdk_tool_use_stream(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k")
        tools = [
            {
                "name": "Bash",
                "description": "run",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
            }
        ]
        async with client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=100,
            tools=tools,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Run the shell command `echo hi-42` please"}],
        ) as stream:
            final = await stream.get_final_message()
        uses = [b for b in final.content if b.type == "tool_use"]
        assert uses and uses[0].name == "Bash"
        assert uses[0].input["command"] == "echo hi-42"  # type: ignore[index]
        assert final.stop_reason == "tool_use"


async def test_sdk_count_tokens_and_models(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k")
        res = await client.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hello there " * 50}]
        )
        assert res.input_tokens > 10
        assert any(r.path.endswith("/v1/messages/count_tokens") for r in mock.requests)
        models = await client.models.list()
        assert [m.id for m in models.data] == ["main"]


@pytest.mark.parametrize(
    "fixture",
    [
        "cc-2.1.197_main_turn1.json",
        "cc-2.1.197_main_turn2_tool_result.json",
        "cc-2.1.197_background_title.json",
    ],
)
async def test_lossless_passthrough_byte_identical_except_model(tmp_path: Path, fixture: str) -> None:
    raw = fixture_body(fixture)
    body = orjson.loads(raw)
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages?beta=true",
                content=raw,
                headers={
                    "content-type": "application/json",
                    "x-api-key": "client",
                    "anthropic-version": "2023-06-01",
                    "anthropic-beta": "claude-code-20250219,mid-conversation-system-2026-04-07",
                    "x-app": "cli",
                },
            )
            assert r.status_code == 200, r.text
        got = mock.messages_requests()[-1]
        expected = raw.replace(orjson.dumps(body["model"]), orjson.dumps("upstream-main"), 1)
        assert got.body == expected
        assert got.query == "beta=true"
        hdrs = {k.lower(): v for k, v in got.headers}
        assert hdrs["anthropic-beta"] == "claude-code-20250219,mid-conversation-system-2026-04-07"
        assert hdrs["x-app"] == "cli"
        assert r.headers["x-ccm-provider"] == "up"
        assert r.headers["x-ccm-model"] == "upstream-main"
        assert r.headers["x-ccm-attempts"] == "1"
        assert r.headers["x-ccm-route"]


async def test_stream_bytes_are_relayed_verbatim(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        payload = {
            "model": "main",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "Reply with exactly: V"}],
        }
        async with httpx.AsyncClient() as http:
            via = await http.post(router.url + "/v1/messages", json=payload, headers={"x-api-key": "k"})
            payload["model"] = "upstream-main"
            direct = await http.post(mock.url + "/v1/messages", json=payload, headers={"x-api-key": "k"})
        assert via.headers["content-type"].startswith("text/event-stream")

        def norm(b: bytes) -> list[bytes]:
            # ids differ between the two calls; everything else must be identical
            return [ln for ln in b.split(b"\n") if b'"id"' not in ln]

        assert norm(via.content) == norm(direct.content)


async def test_passthrough_auth_forwards_client_credentials(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        cfg = (
            '[router]\ndefault = "main"\nauto_map = true\n'
            + anthropic_provider("up", mock.url, auth="passthrough")
            + model_block("main", [("up", "m")])
        )
        async with run_router(cfg, tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, auth_token="user-oauth-token", api_key=None)
            await client.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
            hdrs = {k.lower(): v for k, v in mock.messages_requests()[-1].headers}
            assert hdrs["authorization"] == "Bearer user-oauth-token"
            # No credentials at all → a clear 401, not a 500.
            async with httpx.AsyncClient() as http:
                r = await http.post(
                    router.url + "/v1/messages",
                    json={
                        "model": "claude-x",
                        "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                )
            assert r.status_code == 401
            assert r.json()["error"]["type"] == "authentication_error"


BAD_INPUTS = [
    (b"{not json", 400, "invalid_request_error", "not valid JSON"),
    (b"[]", 400, "invalid_request_error", "JSON object"),
    (b"", 400, "invalid_request_error", "empty"),
    (b'{"messages": []}', 400, "invalid_request_error", "model"),
    (b'{"model": 42, "messages": []}', 400, "invalid_request_error", "model"),
    (b'{"model": "main", "messages": "hi"}', 400, "invalid_request_error", "messages"),
    (b'{"model": "main"}', 400, "invalid_request_error", "messages"),
    (b'{"model": "main", "messages": [], "stream": "yes"}', 400, "invalid_request_error", "stream"),
    (b'{"model": "unknown-model", "messages": []}', 404, "not_found_error", "unknown-model"),
]


@pytest.mark.parametrize(("body", "status", "etype", "fragment"), BAD_INPUTS)
async def test_bad_inputs_get_anthropic_errors(
    tmp_path: Path, body: bytes, status: int, etype: str, fragment: str
) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            r = await http.post(router.url + "/v1/messages", content=body, headers={"x-api-key": "k"})
        assert r.status_code == status, r.text
        data = r.json()
        assert data["type"] == "error"
        assert data["error"]["type"] == etype
        assert fragment in data["error"]["message"]
        assert mock.messages_requests() == []


async def test_body_over_limit_is_413(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        cfg = "[server]\nmax_body_bytes = 1000\n" + config_for(mock.url)
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient() as http:
            big = {"model": "main", "messages": [{"role": "user", "content": "x" * 5000}]}
            r = await http.post(router.url + "/v1/messages", json=big)
            assert r.status_code == 413
            assert r.json()["error"]["type"] == "request_too_large"


async def test_health_head_and_unknown_paths(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            h = await http.head(router.url + "/")
            assert h.status_code == 200 and h.content == b""
            r = await http.get(router.url + "/health")
            assert r.json()["status"] == "ok"
            r = await http.get(router.url + "/nope")
            assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
            # Other /v1/* paths go to the default Anthropic provider unchanged.
            r = await http.get(router.url + "/v1/files?limit=3", headers={"x-api-key": "k"})
            assert mock.requests[-1].path == "/v1/files"
            assert mock.requests[-1].query == "limit=3"
            assert r.status_code == 404 and r.json()["type"] == "error"
