"""The HTTP/1.1 protocol of the one server stack (uvicorn + the ASGI app): keep-alive, pipelining, limits,
malformed heads and smuggling attempts.

Driven with raw sockets where the exact bytes matter, and with httpx otherwise, against the real server and the
mock Anthropic API. Every refusal must be an Anthropic error envelope and must leave nothing for the upstream.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httptools
import httpx
import orjson
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic


def _config(url: str, extra: str = "") -> str:
    return (
        '[router]\ndefault = "main"\nauto_map = true\n'
        + anthropic_provider("up", url)
        + model_block("main", [("up", "upstream-main")])
        + extra
    )


def _post(text: str, *, stream: bool = False, extra_headers: str = "", version: str = "1.1") -> bytes:
    body = orjson.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "stream": stream,
            "messages": [{"role": "user", "content": f"Reply with exactly: {text}"}],
        }
    )
    head = (
        f"POST /v1/messages HTTP/{version}\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"x-api-key: k\r\ncontent-length: {len(body)}\r\n{extra_headers}\r\n"
    )
    return head.encode() + body


class _Responses:
    """Parse the HTTP/1.1 responses arriving on one connection, in order."""

    def __init__(self) -> None:
        self.done: list[tuple[int, dict[str, str], bytes]] = []
        self._headers: dict[str, str] = {}
        self._body = bytearray()
        self._parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.done.append((self._parser.get_status_code(), self._headers, bytes(self._body)))
        self._headers = {}
        self._body = bytearray()

    def feed(self, data: bytes) -> None:
        self._parser.feed_data(data)


async def _exchange(
    port: int, payload: bytes, n: int, *, eof_ok: bool = False
) -> list[tuple[int, dict[str, str], bytes]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parsed = _Responses()
    try:
        writer.write(payload)
        await writer.drain()
        while len(parsed.done) < n:
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                break
            parsed.feed(data)
    finally:
        writer.close()
    assert len(parsed.done) == n or eof_ok, parsed.done
    return parsed.done


def _text_of(body: bytes, stream: bool) -> str:
    if not stream:
        return str(orjson.loads(body)["content"][0]["text"])
    out = []
    for line in body.split(b"\n"):
        if line.startswith(b"data: "):
            data = orjson.loads(line[6:])
            if data.get("type") == "content_block_delta":
                out.append(data["delta"]["text"])
    return "".join(out)


async def test_one_connection_serves_claude_codes_preconnect_then_every_kind_of_request(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(_config(mock.url), tmp_path) as router:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        parsed = _Responses()

        async def ask(payload: bytes) -> tuple[int, dict[str, str], bytes]:
            writer.write(payload)
            want = len(parsed.done) + 1
            while len(parsed.done) < want:
                data = await asyncio.wait_for(reader.read(65536), 10)
                assert data, "the router closed a keep-alive connection"
                parsed.feed(data)
            return parsed.done[-1]

        try:
            # Claude Code's preconnect: headers only (a body would desync the connection).
            writer.write(b"HEAD / HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: Bun/1.4.0\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 0" in head.lower()
            status, headers, body = await ask(_post("FIRST", stream=True))
            assert status == 200 and headers["transfer-encoding"] == "chunked"
            assert headers["content-type"].startswith("text/event-stream")
            assert headers["x-ccm-provider"] == "up" and headers["x-ccm-model"] == "upstream-main"
            assert _text_of(body, True) == "FIRST"
            status, _, body = await ask(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            assert status == 200 and orjson.loads(body)["status"] == "ok"
            status, _, body = await ask(b"GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            assert status == 200 and "data" in orjson.loads(body)
            status, _, body = await ask(b"GET /nope HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            assert status == 404 and orjson.loads(body)["error"]["type"] == "not_found_error"
            status, _, body = await ask(_post("THIRD"))
            assert status == 200 and _text_of(body, False) == "THIRD"
        finally:
            writer.close()
        assert [r.json["model"] for r in mock.messages_requests()] == ["upstream-main", "upstream-main"]


async def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(_config(mock.url), tmp_path) as router:
        payload = (
            _post("ONE", stream=True)
            + _post("TWO")
            + b"GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
            + _post("FOUR", stream=True)
        )
        got = await _exchange(router.port, payload, 4)
        assert [s for s, _, _ in got] == [200, 200, 200, 200]
        assert _text_of(got[0][2], True) == "ONE"
        assert _text_of(got[1][2], False) == "TWO"
        assert "data" in orjson.loads(got[2][2])
        assert _text_of(got[3][2], True) == "FOUR"


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n\r\n{}", 400),  # no model: our 400
        (b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 3\r\n\r\n{x}", 400),  # not JSON
        (b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: nope\r\n\r\n", 400),  # malformed framing
        (b"BREW /v1/messages HTTX/9\r\n\r\n", 400),  # not HTTP at all
    ],
)
async def test_bad_requests_get_an_anthropic_error(tmp_path: Path, payload: bytes, status: int) -> None:
    async with MockAnthropic(name="up") as mock, run_router(_config(mock.url), tmp_path) as router:
        got = await _exchange(router.port, payload, 1)
        assert got[0][0] == status
        err = orjson.loads(got[0][2])
        assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
        assert err["error"]["message"]
        # The server keeps serving.
        async with httpx.AsyncClient() as http:
            assert (await http.get(router.url + "/health")).status_code == 200


async def test_over_the_size_limit_is_413_and_nothing_reaches_upstream(tmp_path: Path) -> None:
    extra = ""
    cfg = "[server]\nmax_body_bytes = 1000\n" + _config("http://127.0.0.1:9", extra)
    async with run_router(cfg, tmp_path) as router:
        big = _post("X" * 2000)
        got = await _exchange(router.port, big, 1)
        assert got[0][0] == 413
        assert orjson.loads(got[0][2])["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("variant", ["http/1.0", "chunked upload", "expect 100-continue", "connection close"])
async def test_every_framing_of_a_messages_request_works(tmp_path: Path, variant: str) -> None:
    async with MockAnthropic(name="up") as mock, run_router(_config(mock.url), tmp_path) as router:
        if variant == "http/1.0":
            payload = _post("OLD", version="1.0")
        elif variant == "chunked upload":
            raw = _post("CHUNKED")
            head, _, body = raw.partition(b"\r\n\r\n")
            head = head.replace(f"content-length: {len(body)}".encode(), b"transfer-encoding: chunked")
            payload = head + b"\r\n\r\n" + b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
        elif variant == "expect 100-continue":
            payload = _post("EXPECT", extra_headers="expect: 100-continue\r\n")
        else:
            payload = _post("CLOSE", extra_headers="connection: close\r\n")
        got = await _exchange(router.port, payload, 2 if variant == "expect 100-continue" else 1)
        status, headers, body = got[-1]
        assert status == 200, body
        if variant == "expect 100-continue":
            assert got[0][0] == 100
        assert _text_of(body, False) in {"OLD", "CHUNKED", "EXPECT", "CLOSE"}
        if variant == "connection close":
            assert headers.get("connection") == "close"


async def test_connection_close_is_honoured(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(_config(mock.url), tmp_path) as router:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(_post("BYE", stream=True, extra_headers="connection: close\r\n"))
        data = await asyncio.wait_for(reader.read(), 10)  # read() returns at EOF: the router closed
        writer.close()
        assert b"event: message_stop" in data and b"connection: close" in data.lower()


async def test_the_deprecated_front_key_still_loads(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="up") as mock,
        run_router('[server]\nfront = "aiohttp"\n' + _config(mock.url), tmp_path) as router,
        httpx.AsyncClient() as http,
    ):
        r = await http.post(router.url + "/v1/messages", content=_post("AIO").split(b"\r\n\r\n", 1)[1])
        assert r.status_code == 200 and _text_of(r.content, False) == "AIO"


async def test_client_gone_mid_stream_cancels_the_upstream(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="up", delay_ms=100, chunks=30) as mock,
        run_router(_config(mock.url), tmp_path) as router,
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(_post("one two three four five six seven eight nine ten", stream=True))
        got = b""
        while b"content_block_delta" not in got:
            got += await asyncio.wait_for(reader.read(65536), 10)
        writer.transport.abort()
        for _ in range(100):
            if mock.messages_requests() and mock.messages_requests()[0].disconnected:
                break
            await asyncio.sleep(0.05)
        assert mock.messages_requests()[0].disconnected, "the upstream request was not cancelled"
        assert router.server.holder is not None
        for _ in range(50):
            if router.server.holder.active_streams == 0:
                break
            await asyncio.sleep(0.05)
        assert router.server.holder.active_streams == 0


async def test_empty_lines_between_requests_do_not_shift_the_body(tmp_path: Path) -> None:
    # Clients may send CRLFs after a body; they must not shift where the next request's body is read from.
    async with MockAnthropic(name="up") as mock, run_router(_config(mock.url), tmp_path) as router:
        smuggled = _post("B GET /v1/models/SMUGGLED HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        payload = _post("A") + b"\r\n\r\n" + smuggled + b"\r\n" + b"GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
        got = await _exchange(router.port, payload, 3)
        assert [s for s, _, _ in got] == [200, 200, 200]
        assert _text_of(got[0][2], False) == "A"
        assert "SMUGGLED" in _text_of(got[1][2], False)  # it was body text, answered as such
        assert "data" in orjson.loads(got[2][2])
        # The connection then ends cleanly: nothing (no smuggled fourth answer) follows the three.
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(payload + _post("LAST", extra_headers="connection: close\r\n"))
        data = await asyncio.wait_for(reader.read(), 10)  # to EOF: the router closes after LAST
        writer.close()
        assert data.count(b"HTTP/1.1 ") == 4 and b"SMUGGLED HTTP" not in data.split(b"\r\n\r\n", 1)[0]
        assert b"HTTP/1.1 404" not in data


async def test_a_malformed_pipelined_request_is_refused_after_the_answers_before_it(tmp_path: Path) -> None:
    async with MockAnthropic(name="up", delay_ms=20) as mock, run_router(_config(mock.url), tmp_path) as router:
        got = await _exchange(router.port, _post("FIRST", stream=True) + b"GARBAGE\r\n\r\n", 2)
        assert got[0][0] == 200 and _text_of(got[0][2], True) == "FIRST"
        assert got[1][0] == 400 and orjson.loads(got[1][2])["error"]["type"] == "invalid_request_error"


async def test_oversized_head_is_431_and_a_stalled_head_is_closed(tmp_path: Path) -> None:
    from claude_code_mux.server.protocol import MAX_HEAD_BYTES, MAX_HEADERS

    cfg = "[server.timeouts]\nclient_read_ms = 300\n" + _config("http://127.0.0.1:9")
    async with run_router(cfg, tmp_path) as router:
        big = b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n"
        got = await _exchange(router.port, big, 1)
        assert got[0][0] == 431 and orjson.loads(got[0][2])["type"] == "error"
        assert MAX_HEAD_BYTES < 100_000
        many = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n" + b"x-h: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n"
        got = await _exchange(router.port, many, 1)
        assert got[0][0] == 431
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n")  # and never the rest
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the router
        writer.close()
        # A connection that never sends a byte is closed too.
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


SMUGGLING = {
    "CL+TE": b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /v1/models/SMUGGLED HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
    "duplicate Content-Length": b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n"
    b"content-length: 40\r\n\r\n{}GET /v1/models/SMUGGLED HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
    "bad chunk size": b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n"
    b"2g\r\n{}\r\n0\r\n\r\n",
    "chunk size overflow": b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n"
    b"fffffffffffffffff2\r\n{}\r\n0\r\n\r\n",
    "obs-fold": b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\nx-api-key: a\r\n"
    b" folded\r\n\r\n{}",
    "TE not chunked last": b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    b"transfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "space before colon": b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length : 2\r\n\r\n{}",
    "LF-only chunk": b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n2\n{}\n0\n\n",
}


@pytest.mark.parametrize("name", list(SMUGGLING))
async def test_smuggling_attempts_are_refused_whole(tmp_path: Path, name: str) -> None:
    async with MockAnthropic(name="up") as mock, run_router(_config(mock.url), tmp_path) as router:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(SMUGGLING[name])
        data = await asyncio.wait_for(reader.read(), 10)  # to EOF: a refusal closes the connection
        writer.close()
        assert data.startswith(b"HTTP/1.1 400 "), data[:200]
        assert data.count(b"HTTP/1.1 ") == 1, data  # nothing smuggled gets an answer of its own
        body = data.split(b"\r\n\r\n", 1)[1]
        assert orjson.loads(body)["error"]["type"] == "invalid_request_error"
        assert mock.requests == []


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /health HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET /health HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n", 400),  # two Host headers
        (b"POST /v1/messages HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}", 400),
        (b"GET /health HTTP/1.0\r\n\r\n", 200),  # HTTP/1.0 needs none
    ],
)
async def test_host_header_rules(tmp_path: Path, head: bytes, status: int) -> None:
    async with MockAnthropic(name="up") as mock, run_router(_config(mock.url), tmp_path) as router:
        got = await _exchange(router.port, head, 1)
        assert got[0][0] == status
        if status == 400:
            assert "Host" in orjson.loads(got[0][2])["error"]["message"]
        assert mock.requests == []


async def test_trailing_whitespace_in_a_header_value_is_not_part_of_it(tmp_path: Path) -> None:
    cfg = '[server]\napi_key = "router-key-1234"\n' + _config("http://127.0.0.1:9")
    async with MockAnthropic(name="up") as mock:
        cfg = '[server]\napi_key = "router-key-1234"\n' + _config(mock.url)
        async with run_router(cfg, tmp_path) as router:
            payload = _post("WS").replace(b"x-api-key: k\r\n", b"x-api-key: router-key-1234 \t\r\n")
            got = await _exchange(router.port, payload, 1)
            assert got[0][0] == 200 and _text_of(got[0][2], False) == "WS"


async def test_chunked_body_over_the_limit_is_refused_while_it_arrives(tmp_path: Path) -> None:
    cfg = "[server]\nmax_body_bytes = 1000\n" + _config("http://127.0.0.1:9")
    async with run_router(cfg, tmp_path) as router:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")  # over the limit, and the body is not finished
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)  # answered before the body ends
        writer.close()
        assert head.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/files"])
async def test_a_body_that_stops_arriving_is_408(tmp_path: Path, path: str) -> None:
    cfg = "[server.timeouts]\nclient_read_ms = 300\n" + _config("http://127.0.0.1:9")
    async with run_router(cfg, tmp_path) as router:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n{{".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), 5)
        writer.close()
        assert data.startswith(b"HTTP/1.1 408 "), data[:200]
        assert orjson.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["type"] == "timeout_error"
        if path == "/v1/messages":
            assert router.server.holder is not None
            recent = router.server.holder.observers.recent
            for _ in range(50):
                if recent:
                    break
                await asyncio.sleep(0.02)
            assert recent[-1].status == 408 and recent[-1].error_type == "timeout_error"
