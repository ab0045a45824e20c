"""The lean client against a hostile or broken upstream (raw asyncio servers writing exact bytes).

Stray bytes after a response, oversized or too many headers, an encoding we did not ask for, and the rule that
a POST which reached the upstream is never sent twice (in test_http1.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import brotli
import httpx
import pytest
import zstandard

from claude_code_mux.errors import RemoteProtocolError
from claude_code_mux.providers.http1 import Http1Pool
from claude_code_mux.providers.http1_conn import MAX_HEAD_BYTES, MAX_HEADERS, MAX_LINE_BYTES, join_headers
from tests.harness import anthropic_provider, model_block, run_router

T = {"connect_timeout": 5.0, "read_timeout": 5.0}
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    finally:
        srv.close()


async def read_request(r: asyncio.StreamReader) -> bytes:
    head = await r.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await r.readexactly(int(line.split(b":")[1]))
    return head


# ---- bytes after a complete response ------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [0.0, 0.05], ids=["same-read", "later-read"])
async def test_a_second_response_never_overwrites_the_first_nor_reaches_the_pool(delay: float) -> None:
    conns = 0

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal conns
        conns += 1
        await read_request(r)
        first = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        stray = b"HTTP/1.1 529 Overloaded\r\nContent-Length: 5\r\n\r\nstray"
        if delay:
            w.write(first)
            await w.drain()
            await asyncio.sleep(delay)
            w.write(stray)
        else:
            w.write(first + stray)
        await w.drain()
        with contextlib.suppress(Exception):
            await read_request(r)  # a second request on this connection would be answered with the stray
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwrong")

    async with raw_server(handler) as url:
        pool = Http1Pool()
        resp = await pool.request("POST", url + "/", headers={}, body=b"x", **T)
        if delay:
            await asyncio.sleep(delay * 3)  # the stray arrives while the answer is still held
        assert resp.status == 200
        assert await resp.read() == b"ok"
        assert pool.idle_count() == 0  # never pooled
        resp = await pool.request("POST", url + "/", headers={}, body=b"x", **T)
        assert resp.status == 200 and await resp.read() == b"ok"  # a fresh connection, not the stray
        assert conns == 2
        pool.close()


# ---- response head limits -----------------------------------------------------------------------------------


def head_server(head: bytes) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_request(r)
        w.write(head)
        with contextlib.suppress(ConnectionError):
            await w.drain()
            await r.read()  # until the client hangs up
        w.close()

    return handler


@pytest.mark.parametrize(
    ("head", "match"),
    [
        (b"X-Big: " + b"a" * (MAX_LINE_BYTES + 1) + b"\r\n", "header line over"),
        (b"".join(b"X-N: 1\r\n" for _ in range(MAX_HEADERS + 1)), "more than"),
        (b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(100)), "head over"),  # 100 KB in 100 lines
        (b"X-Huge: " + b"a" * (5 << 20) + b"\r\n", "over"),  # a 5 MB line, never buffered whole
    ],
    ids=["long-line", "too-many", "head-size", "5MB-line"],
)
async def test_oversized_heads_fail_the_attempt_cleanly(head: bytes, match: str) -> None:
    async with raw_server(head_server(b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 0\r\n\r\n")) as url:
        pool = Http1Pool()
        with pytest.raises(RemoteProtocolError, match=match):
            await pool.request("POST", url + "/", headers={}, body=b"x", **T)
        assert pool.idle_count() == 0
        pool.close()


async def test_limits_leave_a_normal_head_alone() -> None:
    lines = b"".join(b"Set-Cookie: c%d=%s\r\n" % (i, b"v" * 200) for i in range(MAX_HEADERS - 2))
    async with raw_server(head_server(b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 2\r\n\r\nok")) as url:
        pool = Http1Pool()
        resp = await pool.request("POST", url + "/", headers={}, body=b"x", **T)
        assert resp.headers["set-cookie"].count(", ") == MAX_HEADERS - 3 and await resp.read() == b"ok"
        pool.close()
    assert MAX_HEAD_BYTES >= 32 * 1024


def test_repeated_headers_are_joined_in_linear_time() -> None:
    pairs = [("x-rep", "v" * 1000)] * 20_000  # the attack: 20,000 x 1 KB of one header (22.6 s before)
    started = time.perf_counter()
    joined = join_headers(pairs)
    assert time.perf_counter() - started < 0.5
    assert len(joined["x-rep"]) == 20_000 * 1000 + 19_999 * 2
    assert join_headers([("a", "1"), ("b", "2"), ("a", "3")]) == {"a": "1, 3", "b": "2"}


# ---- content-encoding ---------------------------------------------------------------------------------------

BODY = b'{"type":"message","content":[{"type":"text","text":"' + b"hello " * 2000 + b'"}]}'


def _deflate(b: bytes) -> bytes:
    return zlib.compress(b)


def _raw_deflate(b: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(b) + c.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": _deflate,
    "deflate-raw": _raw_deflate,
    "br": brotli.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("name", list(ENCODERS))
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
async def test_an_encoding_we_did_not_ask_for_is_decoded_and_the_headers_stay_true(name: str, chunked: bool) -> None:
    seen: list[bytes] = []
    encoded = ENCODERS[name](BODY)
    label = name.removesuffix("-raw").encode()

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen.append(await read_request(r))
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: " + label + b"\r\n"
        if chunked:
            mid = len(encoded) // 2
            parts = [encoded[:mid], encoded[mid:]]
            w.write(head + b"Transfer-Encoding: chunked\r\n\r\n")
            for p in parts:
                w.write(b"%x\r\n%s\r\n" % (len(p), p))
                await w.drain()
                await asyncio.sleep(0.01)
            w.write(b"0\r\n\r\n")
        else:
            w.write(head + b"Content-Length: %d\r\n\r\n" % len(encoded) + encoded)
        await w.drain()

    async with raw_server(handler) as url:
        pool = Http1Pool()
        resp = await pool.request("POST", url + "/", headers={"accept-encoding": "gzip"}, body=b"x", **T)
        assert "content-encoding" not in resp.headers and "content-length" not in resp.headers
        assert resp.headers["content-type"] == "application/json"
        assert await resp.read() == BODY
        pool.close()
    # We ask for identity, whatever a caller passed.
    assert b"\r\naccept-encoding: identity\r\n" in seen[0].lower() and b"gzip" not in seen[0].lower()


@pytest.mark.parametrize(
    ("encoding", "payload", "match"),
    [
        ("compress", b"xx", "unsupported content-encoding"),
        ("gzip", b"not gzip at all", "not valid gzip"),
        ("gzip", gzip.compress(b"\0" * (8 << 20)), "over the limit"),  # a bomb: 8 MB from ~8 KB
    ],
    ids=["unknown", "corrupt", "bomb"],
)
async def test_bad_encodings_fail_cleanly(encoding: str, payload: bytes, match: str) -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_request(r)
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (encoding.encode(), len(payload), payload)
        )
        await w.drain()

    async with raw_server(handler) as url:
        pool = Http1Pool(max_body_bytes=1 << 20)
        with pytest.raises(RemoteProtocolError, match=match):
            resp = await pool.request("POST", url + "/", headers={}, body=b"x", **T)
            await resp.read()
        pool.close()


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_gzip_from_the_upstream_reaches_the_client_as_plain_json(tmp_path: Path, dialect: str) -> None:
    """Through the router: an upstream that gzips anyway is decoded, never relayed as gzip labelled JSON."""
    if dialect == "anthropic":
        answer = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m1",
            "content": [{"type": "text", "text": "GZ-1"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 2},
        }
    else:
        answer = {
            "id": "c1",
            "object": "chat.completion",
            "model": "m1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "GZ-1"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    body = gzip.compress(json.dumps(answer).encode())

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                await read_request(r)
                w.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await w.drain()

    async with raw_server(handler) as url:
        if dialect == "anthropic":
            provider = anthropic_provider("up", url)
        else:
            provider = f'[[providers]]\nname = "up"\nprovider_type = "openai"\nbase_url = "{url}/v1"\napi_key = "k"\n'
        cfg = '[router]\ndefault = "main"\n' + provider + model_block("main", [("up", "m1")])
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient() as http:
            req = {"model": "main", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            r = await http.post(router.url + "/v1/messages", json=req, headers={"accept-encoding": "identity"})
        assert r.status_code == 200, r.text
        assert "content-encoding" not in r.headers
        assert r.json()["content"][0]["text"] == "GZ-1"
