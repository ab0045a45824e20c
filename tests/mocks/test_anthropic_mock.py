"""Tests of the Anthropic API mock itself, with the official SDK, httpx and aiohttp."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from anthropic import APIStatusError, AsyncAnthropic, AuthenticationError, RateLimitError

from tests.mocks.anthropic import Fault, MockAnthropic, parse_fault_spec, plan_reply

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
BASH_TOOL: dict[str, Any] = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
        "required": ["command"],
    },
}
READ_TOOL: dict[str, Any] = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {
        "type": "object",
        "properties": {"file_path": {"type": "string"}},
        "required": ["file_path"],
    },
}


def body(prompt: str = "hi", *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "model": "claude-test",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": prompt}],
    }
    if stream:
        b["stream"] = True
    b.update(extra)
    return b


def parse_sse(raw: bytes) -> list[tuple[str, str]]:
    """Split an SSE byte stream into (event, data) pairs; asserts the event/data framing."""
    out: list[tuple[str, str]] = []
    text = raw.decode()
    assert text == "" or text.endswith("\n\n"), text[-80:]
    for frame in text.split("\n\n"):
        if not frame:
            continue
        lines = frame.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        out.append((lines[0][7:], lines[1][6:]))
    return out


def names(events: list[tuple[str, str]]) -> list[str]:
    return [e for e, _ in events]


async def read_stream_until_error(resp: httpx.Response) -> tuple[bytes, BaseException | None]:
    got = b""
    try:
        async for chunk in resp.aiter_raw():
            got += chunk
    except httpx.TransportError as e:
        return got, e
    return got, None


async def wait_for(cond: Any, limit_s: float = 2.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def mock() -> AsyncIterator[MockAnthropic]:
    async with MockAnthropic(name="m1") as m:
        yield m


@pytest.fixture
async def client(mock: MockAnthropic) -> AsyncIterator[AsyncAnthropic]:
    async with AsyncAnthropic(api_key="sk-test", base_url=mock.url, max_retries=0) as c:
        yield c


@pytest.fixture
async def http(mock: MockAnthropic) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mock.url, timeout=5.0) as c:
        yield c


# ---- SDK: happy paths ----------------------------------------------------------------------------


async def test_sdk_non_stream(mock: MockAnthropic, client: AsyncAnthropic) -> None:
    msg = await client.messages.create(
        model="claude-x",
        max_tokens=100,
        messages=[{"role": "user", "content": "Reply with exactly: PONG-42"}],
    )
    assert msg.type == "message" and msg.role == "assistant" and msg.model == "claude-x"
    assert msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].type == "text" and msg.content[0].text == "PONG-42"
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens >= 1 and msg.usage.output_tokens >= 1
    assert msg.usage.cache_creation_input_tokens == 0 and msg.usage.cache_read_input_tokens == 0
    (rec,) = mock.messages_requests()
    assert rec.json is not None and rec.json["model"] == "claude-x"
    # this SDK generation sends the key as a Bearer token; Claude Code sends x-api-key
    assert rec.header("x-api-key") == "sk-test" or rec.header("authorization") == "Bearer sk-test"
    assert rec.status == 200 and not rec.disconnected


async def test_sdk_stream_text(mock: MockAnthropic, client: AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "hello"}]
    ) as stream:
        pieces = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) == 3 and "".join(pieces) == "Hello from m1."
    assert final.content[0].type == "text" and final.content[0].text == "Hello from m1."
    assert final.stop_reason == "end_turn" and final.model == "claude-x"
    assert final.usage.output_tokens >= 1
    assert mock.messages_requests()[0].json == {
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hello"}],
        "model": "claude-x",
        "stream": True,
    }


async def test_sdk_stream_tool_use(mock: MockAnthropic, client: AsyncAnthropic) -> None:
    partials: list[str] = []
    async with client.messages.stream(
        model="claude-x",
        max_tokens=100,
        tools=[BASH_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Run the shell command `echo hi-$((1+2))` and tell me its output"}],
    ) as stream:
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partials.append(event.delta.partial_json)
        final = await stream.get_final_message()
    assert partials[0] == "" and len(partials) == 4
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    tool = final.content[1]
    assert tool.type == "tool_use" and tool.name == "Bash" and tool.id.startswith("toolu_")
    assert tool.input == {"command": "echo hi-$((1+2))", "description": "Run the requested echo"}


async def test_sdk_read_tool_and_tool_result(client: AsyncAnthropic) -> None:
    msg = await client.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=[READ_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Please read the file /tmp/notes.txt."}],
    )
    assert msg.stop_reason == "tool_use"
    (tool,) = msg.content
    assert tool.type == "tool_use" and tool.name == "Read" and tool.input == {"file_path": "/tmp/notes.txt"}
    msg2 = await client.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=[READ_TOOL],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Please read the file /tmp/notes.txt."},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": tool.id, "name": "Read", "input": tool.input}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "1\tsecret"}],
            },
        ],
    )
    assert msg2.content[0].type == "text" and msg2.content[0].text == "TOOL_RESULT: 1\tsecret"


async def test_sdk_thinking_stream() -> None:
    async with (
        MockAnthropic(thinking=True, chunks=2) as m,
        AsyncAnthropic(api_key="k", base_url=m.url, max_retries=0) as c,
    ):
        async with c.messages.stream(
            model="claude-x",
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "Reply with exactly: OK"}],
        ) as stream:
            final = await stream.get_final_message()
        assert [b.type for b in final.content] == ["thinking", "text"]
        th = final.content[0]
        assert th.type == "thinking" and th.thinking and th.signature
        assert final.content[1].type == "text" and final.content[1].text == "OK"
        plain = await c.messages.create(
            model="claude-x",
            max_tokens=64,
            thinking={"type": "disabled"},
            messages=[{"role": "user", "content": "hi"}],
        )
        assert [b.type for b in plain.content] == ["text"]


async def test_sdk_count_tokens_and_models(mock: MockAnthropic, client: AsyncAnthropic) -> None:
    count = await client.messages.count_tokens(model="claude-x", messages=[{"role": "user", "content": "x" * 400}])
    rec = mock.requests[-1]
    assert rec.path == "/v1/messages/count_tokens"
    assert count.input_tokens == len(rec.body) // 4 > 100
    ids = [m.id async for m in client.models.list()]
    assert "claude-opus-4-8" in ids and len(ids) >= 3
    page = await client.models.list(limit=2)
    assert len(page.data) == 2 and page.has_more and page.first_id == ids[0] and page.last_id == ids[1]
    info = await client.models.retrieve("claude-opus-4-8")
    assert info.id == "claude-opus-4-8" and info.type == "model" and info.display_name


# ---- wire format -----------------------------------------------------------------------------------


async def test_non_stream_wire_format(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/messages", json=body("Reply with exactly: A B"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["request-id"].startswith("req_") and r.headers["x-mock-name"] == "m1"
    data = r.json()
    assert list(data) == ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"]
    assert list(data["usage"]) == [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
    ]
    assert data["content"] == [{"type": "text", "text": "A B"}]
    assert b'"type":"message","role":"assistant"' in r.content  # compact, like the real API


async def test_stream_wire_format_and_chunking(mock: MockAnthropic) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{mock.url}/v1/messages?beta=true", json=body("hello there", stream=True)) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert r.headers["x-mock-name"] == "m1" and r.headers["request-id"].startswith("req_")
        http_chunks: list[bytes] = []
        buf = b""
        async for data, end_of_chunk in r.content.iter_chunks():
            buf += data
            if end_of_chunk:
                http_chunks.append(buf)
                buf = b""
    events = parse_sse(b"".join(http_chunks))
    assert len(http_chunks) == len(events)  # one HTTP chunk per SSE event
    assert names(events) == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2][1] == '{"type": "ping"}'
    start = json.loads(events[0][1])["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == "claude-test"
    assert start["usage"]["output_tokens"] == 1 and start["usage"]["input_tokens"] >= 1
    assert json.loads(events[1][1])["content_block"] == {"type": "text", "text": ""}
    text = "".join(json.loads(d)["delta"]["text"] for e, d in events if e == "content_block_delta")
    assert text == "Hello from m1."
    md = json.loads(events[7][1])
    assert md["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert md["usage"]["output_tokens"] >= 1
    assert events[8][1] == '{"type":"message_stop"}'
    assert mock.requests[0].query == "beta=true"


async def test_thinking_stream_events() -> None:
    async with MockAnthropic(thinking=True) as m, httpx.AsyncClient() as h:
        r = await h.post(f"{m.url}/v1/messages", json=body(stream=True, thinking={"type": "adaptive"}))
    events = parse_sse(r.content)
    deltas = [json.loads(d)["delta"]["type"] for e, d in events if e == "content_block_delta"]
    assert deltas[:4] == ["thinking_delta"] * 3 + ["signature_delta"]
    assert json.loads(events[1][1])["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert events[2][0] == "ping"


async def test_structured_output_and_stop_sequences_and_tool_choice(http: httpx.AsyncClient) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    r = await http.post("/v1/messages", json=body(output_config={"format": {"type": "json_schema", "schema": schema}}))
    assert json.loads(r.json()["content"][0]["text"]) == {"title": "Mock title"}

    r = await http.post("/v1/messages", json=body("Reply with exactly: one STOP two", stop_sequences=["STOP"]))
    data = r.json()
    assert data["content"][0]["text"] == "one "
    assert data["stop_reason"] == "stop_sequence" and data["stop_sequence"] == "STOP"

    weather = {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    r = await http.post("/v1/messages", json=body(tools=[weather], tool_choice={"type": "tool", "name": "get_weather"}))
    data = r.json()
    assert data["stop_reason"] == "tool_use"
    assert data["content"][0]["name"] == "get_weather" and data["content"][0]["input"] == {"city": "Mock title"}


async def test_claude_code_fixtures(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    def load(name: str) -> dict[str, Any]:
        fx: dict[str, Any] = json.loads((FIXTURES / name).read_text())
        return fx

    def hdrs(fx: dict[str, Any]) -> dict[str, str]:
        skip = {"host", "content-length"}
        return {k: v for k, v in fx["headers"] if k.lower() not in skip}

    t1 = load("cc-2.1.197_main_turn1.json")
    r = await http.post(t1["path"], content=json.dumps(t1["body"]).encode(), headers=hdrs(t1))
    events = parse_sse(r.content)
    partial = "".join(
        json.loads(d)["delta"]["partial_json"]
        for e, d in events
        if e == "content_block_delta" and '"input_json_delta"' in d
    )
    assert json.loads(partial)["command"] == "echo hi-T"
    assert json.loads(events[-2][1])["delta"]["stop_reason"] == "tool_use"

    t2 = load("cc-2.1.197_main_turn2_tool_result.json")
    r = await http.post(t2["path"], content=json.dumps(t2["body"]).encode(), headers=hdrs(t2))
    text = "".join(
        json.loads(d)["delta"].get("text", "") for e, d in parse_sse(r.content) if e == "content_block_delta"
    )
    assert text == "TOOL_RESULT: hi-T"

    title = load("cc-2.1.197_background_title.json")
    blocks, stop, _ = plan_reply(title["body"], "default")
    assert json.loads(blocks[0]["text"]) == {"title": "Mock title"} and stop == "end_turn"
    assert [rec.query for rec in mock.messages_requests()] == ["beta=true", "beta=true"]
    assert mock.messages_requests()[0].header("anthropic-beta") is not None


# ---- routing, auth, validation, recording ------------------------------------------------------------


async def test_head_404_and_prefix(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    r = await http.head("/")
    assert r.status_code == 200 and r.content == b"" and r.headers["x-mock-name"] == "m1"
    r = await http.get("/v1/nothing")
    assert r.status_code == 404
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "not_found_error"
    assert r.json()["request_id"] == r.headers["request-id"]
    r = await http.post("/anthropic/v1/messages?beta=true", json=body())
    assert r.status_code == 200 and r.json()["content"][0]["text"] == "Hello from m1."
    assert [x.path for x in mock.messages_requests()] == ["/anthropic/v1/messages"]
    assert [x.method for x in mock.requests] == ["HEAD", "GET", "POST"]


async def test_auth() -> None:
    async with MockAnthropic(require_key="sekret") as m, httpx.AsyncClient(base_url=m.url) as h:
        r = await h.post("/v1/messages", json=body())
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = await h.post("/v1/messages", json=body(), headers={"x-api-key": "wrong"})
        assert r.status_code == 401 and r.json()["error"]["message"] == "invalid x-api-key"
        assert (await h.post("/v1/messages", json=body(), headers={"x-api-key": "sekret"})).status_code == 200
        r = await h.post("/v1/messages", json=body(), headers={"Authorization": "Bearer sekret"})
        assert r.status_code == 200
        assert (await h.get("/v1/models", headers={"Authorization": "Bearer nope"})).status_code == 401
        async with AsyncAnthropic(api_key="wrong", base_url=m.url, max_retries=0) as c:
            with pytest.raises(AuthenticationError):
                await c.messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        async with AsyncAnthropic(auth_token="sekret", base_url=m.url, max_retries=0) as c:
            msg = await c.messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
            assert msg.content[0].type == "text"


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"{not json", "JSON"),
        (b"[1, 2]", "dictionary"),
        (json.dumps({"max_tokens": 5, "messages": []}).encode(), "model"),
        (json.dumps({"model": "m", "messages": []}).encode(), "max_tokens"),
        (json.dumps({"model": "m", "max_tokens": 5}).encode(), "messages"),
        (json.dumps({"model": "m", "max_tokens": "5", "messages": []}).encode(), "max_tokens"),
    ],
)
async def test_validation(mock: MockAnthropic, http: httpx.AsyncClient, payload: bytes, needle: str) -> None:
    r = await http.post("/v1/messages", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 400
    err = r.json()
    assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
    assert needle in err["error"]["message"]
    assert mock.requests[0].body == payload


async def test_recording_raw_bytes_and_header_order(mock: MockAnthropic) -> None:
    raw = b'{"model":  "m", "max_tokens": 5,\n "messages": [{"role": "user", "content": "hi"}]}'
    async with aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as s:
        hdrs = {"X-Zeta": "1", "x-api-key": "k", "X-Alpha": "2", "Content-Type": "application/json"}
        async with s.post(f"{mock.url}/v1/messages?beta=true&x=1", data=raw, headers=hdrs) as r:
            assert r.status == 200
        gz = gzip.compress(raw)
        async with s.post(
            f"{mock.url}/v1/messages",
            data=gz,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ) as r:
            assert r.status == 200
    rec, rec_gz = mock.requests
    assert rec.body == raw and rec.json == json.loads(raw)
    assert rec.query == "beta=true&x=1" and rec.path == "/v1/messages"
    keys = [k for k, _ in rec.headers]
    assert keys.index("X-Zeta") < keys.index("x-api-key") < keys.index("X-Alpha")
    assert rec_gz.body == gz and rec_gz.json == json.loads(raw)


async def test_several_mocks_and_clear() -> None:
    async with (
        MockAnthropic(name="a") as a,
        MockAnthropic(name="b", text="from b") as b,
        httpx.AsyncClient() as h,
    ):
        ra = await h.post(f"{a.url}/v1/messages", json=body())
        rb = await h.post(f"{b.url}/v1/messages", json=body())
        assert ra.headers["x-mock-name"] == "a" and rb.headers["x-mock-name"] == "b"
        assert rb.json()["content"][0]["text"] == "from b"
        a.add_fault(Fault("status", status=500))
        a.clear()
        assert a.requests == [] and a.faults == []
        assert (await h.post(f"{a.url}/v1/messages", json=body())).status_code == 200


# ---- faults ----------------------------------------------------------------------------------------


async def test_fault_status_headers_and_times(mock: MockAnthropic, client: AsyncAnthropic) -> None:
    mock.add_fault(Fault("status", status=429, retry_after=3, x_should_retry="false", times=2))
    for _ in range(2):
        with pytest.raises(RateLimitError) as ei:
            await client.messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        resp = ei.value.response
        assert resp.headers["retry-after"] == "3" and resp.headers["x-should-retry"] == "false"
        assert resp.headers["x-mock-name"] == "m1"
        err = resp.json()
        assert err["type"] == "error" and err["error"]["type"] == "rate_limit_error"
        assert err["request_id"] == resp.headers["request-id"]
    msg = await client.messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].type == "text"
    assert [r.status for r in mock.requests] == [429, 429, 200]
    assert [r.fault.kind if r.fault else None for r in mock.requests] == ["status", "status", None]

    mock.add_fault(Fault("status", status=529, error_type="overloaded_error", message="Overloaded!"))
    with pytest.raises(APIStatusError) as ei2:
        await client.messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert ei2.value.status_code == 529 and ei2.value.response.json()["error"]["message"] == "Overloaded!"


async def test_fault_path_and_forever(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("status", status=503, path="/v1/models", times=-1))
    for _ in range(3):
        r = await http.get("/v1/models")
        assert r.status_code == 503 and r.json()["error"]["type"] == "api_error"
    assert (await http.post("/prefix/v1/messages", json=body())).status_code == 200
    assert len(mock.faults) == 1


async def test_fault_stream_filter(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("status", status=500, stream=True))
    assert (await http.post("/v1/messages", json=body())).status_code == 200  # non-stream: not matched
    assert (await http.post("/v1/messages", json=body(stream=True))).status_code == 500
    assert mock.faults == []


async def test_fault_reset(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("reset"))
    with pytest.raises(httpx.TransportError):
        await http.post("/v1/messages", json=body(stream=True))
    assert mock.requests[0].status is None and mock.requests[0].json is not None  # recorded first
    assert (await http.post("/v1/messages", json=body())).status_code == 200


async def test_fault_stall_then_answer(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("stall", seconds=0.2))
    t0 = time.monotonic()
    r = await http.post("/v1/messages", json=body())
    assert time.monotonic() - t0 >= 0.2 and r.status_code == 200


async def test_fault_stall_client_gives_up(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("stall", seconds=5))
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/v1/messages", json=body(stream=True), timeout=0.2)
    await wait_for(lambda: mock.requests[0].disconnected)
    assert mock.disconnects == 1 and mock.requests[0].status is None


async def test_fault_drop_stream(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("drop"))
    async with http.stream("POST", "/v1/messages", json=body(stream=True)) as r:
        assert r.status_code == 200
        got, err = await read_stream_until_error(r)
    assert isinstance(err, httpx.RemoteProtocolError)
    events = parse_sse(got)
    assert names(events) == ["message_start", "content_block_start", "ping", "content_block_delta"]
    assert not mock.requests[0].disconnected and mock.disconnects == 0


async def test_fault_drop_stream_sdk(mock: MockAnthropic, client: AsyncAnthropic) -> None:
    mock.add_fault(Fault("drop"))
    with pytest.raises(Exception) as ei:  # this SDK surfaces httpx2.RemoteProtocolError as-is
        async with client.messages.stream(
            model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            await stream.get_final_message()
    assert "incomplete" in repr(ei.value).lower() or "closed" in repr(ei.value).lower()


async def test_fault_stall_mid_stream(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("stall_mid", seconds=0.2))
    stamps: list[tuple[float, bytes]] = []
    async with http.stream("POST", "/v1/messages", json=body(stream=True)) as r:
        async for chunk in r.aiter_raw():
            stamps.append((time.monotonic(), chunk))
    events = parse_sse(b"".join(c for _, c in stamps))
    assert names(events)[-1] == "message_stop"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(stamps)]
    assert max(gaps) >= 0.15


async def test_fault_error_event_first(mock: MockAnthropic, http: httpx.AsyncClient, client: AsyncAnthropic) -> None:
    mock.add_fault(Fault("error_event", times=2))
    r = await http.post("/v1/messages", json=body(stream=True))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.content)
    assert names(events) == ["error"]
    assert json.loads(events[0][1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    with pytest.raises(APIStatusError):
        async with client.messages.stream(
            model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            await stream.get_final_message()


async def test_fault_error_mid(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("error_mid", status=429))
    events = parse_sse((await http.post("/v1/messages", json=body(stream=True))).content)
    assert names(events) == ["message_start", "content_block_start", "ping", "content_block_delta", "error"]
    assert json.loads(events[-1][1])["error"]["type"] == "rate_limit_error"


async def test_fault_malformed_stream(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("malformed"))
    r = await http.post("/v1/messages", json=body(stream=True))
    frames = [f for f in r.text.split("\n\n") if f]
    datas = [f.split("\n")[1][6:] for f in frames]
    bad = [d for d in datas if not d.startswith("{") or not _is_json(d)]
    assert len(bad) == 1 and frames[-1].endswith(bad[0])
    assert "message_stop" not in r.text


async def test_fault_truncate_stream(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("truncate"))
    r = await http.post("/v1/messages", json=body(stream=True))  # ends cleanly: no exception
    events = parse_sse(r.content)
    assert names(events) == ["message_start", "content_block_start", "ping", "content_block_delta"]
    mock.add_fault(Fault("truncate", after_events=7))  # every block complete, no message_delta/stop
    events = parse_sse((await http.post("/v1/messages", json=body(stream=True))).content)
    assert names(events)[-2:] == ["content_block_delta", "content_block_stop"] and len(events) == 7


async def test_faults_on_non_stream(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    mock.add_fault(Fault("malformed"))
    r = await http.post("/v1/messages", json=body())
    assert r.status_code == 200 and not _is_json(r.text)

    mock.add_fault(Fault("truncate"))
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/v1/messages", json=body())

    mock.add_fault(Fault("drop"))
    with pytest.raises(httpx.TransportError):
        await http.post("/v1/messages", json=body())

    mock.add_fault(Fault("stall_mid", seconds=0.2))
    t0 = time.monotonic()
    r = await http.post("/v1/messages", json=body())
    assert time.monotonic() - t0 >= 0.2 and r.json()["type"] == "message"

    mock.add_fault(Fault("error_event", status=500))
    r = await http.post("/v1/messages", json=body())
    assert r.status_code == 500 and r.json()["error"]["type"] == "api_error"
    assert len(mock.requests) == 5


async def test_client_disconnect_mid_stream() -> None:
    async with MockAnthropic(delay_ms=30, chunks=30) as m:
        async with aiohttp.ClientSession() as s:
            resp = await s.post(f"{m.url}/v1/messages", json=body(stream=True))
            first = await resp.content.readuntil(b"\n\n")
            assert first.startswith(b"event: message_start")
            resp.close()  # drop the connection mid-stream
        await wait_for(lambda: m.requests[0].disconnected)
        assert m.disconnects == 1


async def test_control_endpoints(mock: MockAnthropic, http: httpx.AsyncClient) -> None:
    r = await http.post("/_mock/faults", json={"faults": ["429:1", {"kind": "status", "status": 500}]})
    assert [f["status"] for f in r.json()["faults"]] == [429, 500]
    assert (await http.post("/v1/messages", json=body())).status_code == 429
    assert (await http.post("/v1/messages", json=body())).status_code == 500
    assert (await http.post("/v1/messages", json=body())).status_code == 200
    log = (await http.get("/_mock/log")).json()
    assert [e["status"] for e in log] == [429, 500, 200]
    assert log[0]["json"]["model"] == "claude-test" and log[0]["fault"]["status"] == 429
    assert (await http.post("/_mock/faults", json={"faults": ["bogus"]})).status_code == 400
    assert (await http.post("/_mock/clear")).json() == {"ok": True}
    assert mock.requests == []


def test_parse_fault_spec() -> None:
    assert parse_fault_spec("429:2") == Fault("status", status=429, times=2)
    assert parse_fault_spec("hang:1:0.5") == Fault("stall_mid", seconds=0.5)
    assert parse_fault_spec("sse_error").kind == "error_mid"
    f = parse_fault_spec('{"kind": "stall", "seconds": 1}', retry_after=2, path="/v1/models")
    assert f == Fault("stall", seconds=1, retry_after=2, path="/v1/models")
    with pytest.raises(ValueError):
        Fault("nope")


async def test_standalone_process() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.mocks.anthropic",
        "--port",
        "0",
        "--name",
        "solo",
        "--fault",
        "529:1",
        "--retry-after",
        "2",
        "--max-seconds",
        "30",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.startswith("LISTENING ")
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        async with httpx.AsyncClient(base_url=url) as h:
            r = await h.post("/v1/messages?beta=true", json=body())
            assert r.status_code == 529 and r.headers["retry-after"] == "2" and r.headers["x-mock-name"] == "solo"
            assert (await h.post("/v1/messages?beta=true", json=body())).status_code == 200
            assert len((await h.get("/_mock/log")).json()) == 2
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 5) == 0


def _is_json(s: str) -> bool:
    try:
        json.loads(s)
    except ValueError:
        return False
    return True
