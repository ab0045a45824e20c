"""Http1Pool / Http1Response: the lean http:// upstream client, against aiohttp.web and MockAnthropic.

CPU micro-benchmark (aiohttp ClientSession vs Http1Pool, sequential streamed requests against the fast mock
in bench/upstream.py running in a child process; prints µs of client-process CPU per request)::

    .venv/bin/python -m tests.providers.test_http1 --n 2000 [--chunks 20] [--rounds 3] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import re
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from claude_code_mux.errors import (
    ConnectFailed,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
    UpstreamClosed,
)
from claude_code_mux.providers.http1 import (
    Http1Pool,
)
from tests.mocks.anthropic import Fault, MockAnthropic

T = {"connect_timeout": 5.0, "read_timeout": 5.0}
EVENTS = [b'event: e%d\ndata: {"i": %d, "pad": "%s"}\n\n' % (i, i, b"x" * (i * 37 % 300)) for i in range(40)]


def msg_body(stream: bool, **extra: Any) -> bytes:
    return orjson.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
            **extra,
        }
    )


HDRS = {"content-type": "application/json", "x-api-key": "k", "anthropic-version": "2023-06-01"}


# ---- a small aiohttp.web server -------------------------------------------------------------------


class Server:
    def __init__(self) -> None:
        self.peers: list[Any] = []
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def start(self, keepalive_timeout: float = 75.0) -> None:
        app = web.Application(client_max_size=16 << 20)
        app.router.add_get("/json", self.json)
        app.router.add_get("/sse", self.sse)
        app.router.add_post("/echo", self.echo)
        app.router.add_get("/big", self.big)
        self.runner = web.AppRunner(app, access_log=None, keepalive_timeout=keepalive_timeout)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def _seen(self, request: web.Request) -> None:
        assert request.transport is not None
        self.peers.append(request.transport.get_extra_info("peername"))

    async def json(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.json_response({"ok": True, "q": request.query_string}, headers={"X-Multi": "a"})

    async def sse(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        resp.headers.add("X-Multi", "a")
        resp.headers.add("X-Multi", "b")
        await resp.prepare(request)
        for i, ev in enumerate(EVENTS):
            await resp.write(ev)
            if i % 7 == 0:
                await asyncio.sleep(0.001)
        await resp.write_eof()
        return resp

    async def echo(self, request: web.Request) -> web.Response:
        self._seen(request)
        raw = await request.read()
        return web.json_response(
            {"len": len(raw), "sha": hashlib.sha256(raw).hexdigest(), "hdr": request.headers.get("X-Custom")}
        )

    async def big(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        resp = web.StreamResponse()
        resp.content_length = 4 << 20
        await resp.prepare(request)
        for _ in range(64):
            await resp.write(b"z" * (64 << 10))
        return resp


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def pool() -> AsyncIterator[Http1Pool]:
    p = Http1Pool()
    yield p
    p.close()


async def wait_for(pred: Any, limit: float = 3.0) -> None:
    end = time.monotonic() + limit
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.01)


# ---- basics ---------------------------------------------------------------------------------------


def test_supports_and_errors() -> None:
    assert Http1Pool.supports("http://x/v1") and Http1Pool.supports("HTTP://x")
    assert Http1Pool.supports("https://api.anthropic.com")
    assert not Http1Pool.supports("ftp://x") and not Http1Pool.supports("unix:///tmp/s")
    assert issubclass(TransportTimeout, asyncio.TimeoutError)
    for cls in (TransportTimeout, UpstreamClosed, RemoteProtocolError, ConnectFailed):
        assert issubclass(cls, TransportError)


async def test_json_and_keepalive_reuse(server: Server, pool: Http1Pool) -> None:
    for i in range(5):
        resp = await pool.request("GET", f"{server.url}/json?n={i}", headers={"Accept": "*/*"}, body=b"", **T)
        assert resp.status == 200 and resp.content_type == "application/json"
        assert resp.headers["x-multi"] == "a"
        assert orjson.loads(await resp.read()) == {"ok": True, "q": f"n={i}"}
        resp.release()
    assert len(set(server.peers)) == 1 and pool.opened == 1 and pool.idle_count() == 1


async def test_sse_equals_aiohttp(server: Server, pool: Http1Pool) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{server.url}/sse") as r:
        ref = b"".join([c async for c in r.content.iter_any()])
    assert ref == b"".join(EVENTS)
    resp = await pool.request("GET", f"{server.url}/sse", headers={}, body=b"", **T)
    assert resp.headers["x-multi"] == "a, b" and resp.content_type == "text/event-stream"
    first = await resp.readany()
    rest = [c async for c in resp.iter_any()]
    assert first + b"".join(rest) == ref
    assert await resp.readany() == b""
    resp.release()
    assert pool.idle_count() == 1


async def test_large_request_body_and_reuse(server: Server, pool: Http1Pool) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    for _ in range(2):
        async with await pool.request(
            "POST", f"{server.url}/echo", headers={"X-Custom": "v", "Content-Length": "1"}, body=body, **T
        ) as resp:
            got = orjson.loads(await resp.read())
        assert got == {"len": len(body), "sha": hashlib.sha256(body).hexdigest(), "hdr": "v"}
    assert pool.opened == 1


async def test_flow_control_pauses_reading(server: Server, pool: Http1Pool) -> None:
    resp = await pool.request("GET", f"{server.url}/big", headers={}, body=b"", **T)
    await asyncio.sleep(0.3)  # the server could send it all; the client must stop at ~1 MiB
    conn = resp._conn
    assert conn is not None and conn.paused and conn.size < (2 << 20)
    data = await resp.read()
    assert len(data) == 4 << 20 and set(data) == {ord("z")}
    assert pool.idle_count() == 1  # auto-released at the end of the body


async def test_connection_refused(pool: Http1Pool) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectFailed, match=f"127.0.0.1:{port}"):
        await pool.request("GET", f"http://127.0.0.1:{port}/", headers={}, body=b"", **T)


async def test_idle_connection_closed_by_server() -> None:
    s = Server()
    await s.start(keepalive_timeout=0.1)
    pool = Http1Pool()
    try:
        for _ in range(2):
            resp = await pool.request("GET", f"{s.url}/json", headers={}, body=b"", **T)
            assert resp.status == 200 and orjson.loads(await resp.read())["ok"]
            await asyncio.sleep(0.4)  # the server drops the kept-alive connection meanwhile
        assert len(set(s.peers)) == 2 and pool.opened == 2
    finally:
        pool.close()
        await s.stop()


@contextlib.asynccontextmanager
async def raw_server(handler: Any) -> AsyncIterator[str]:
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    finally:
        srv.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def test_post_that_reached_the_upstream_is_never_resent() -> None:
    """The server answers one request per connection, then reads the next one and closes without a byte.

    The second POST was written and read by the upstream (which may have run it): it fails, it is not re-sent.
    """
    conns = 0
    received = 0

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal conns, received
        conns += 1
        await r.readuntil(b"\r\n\r\n")
        received += 1
        await r.readexactly(4)
        w.write(OK)
        await r.readuntil(b"\r\n\r\n")
        received += 1
        w.close()

    async with raw_server(handler) as url:
        pool = Http1Pool()
        resp = await pool.request("POST", url + "/", headers={}, body=b"ping", **T)
        assert await resp.read() == b"ok"
        with pytest.raises(UpstreamClosed):
            await pool.request("POST", url + "/", headers={}, body=b"ping", **T)
        await asyncio.sleep(0.05)
        assert received == 2 and conns == 1 and pool.opened == 1
        # Found closed before writing: the next request takes a fresh connection without any failure.
        resp = await pool.request("POST", url + "/", headers={}, body=b"ping", **T)
        assert await resp.read() == b"ok" and pool.opened == 2
        pool.close()


async def test_close_delimited_interim_and_garbage() -> None:
    replies = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof",
        b"NOT HTTP AT ALL\r\n\r\n",
    ]

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(replies.pop(0))
        w.close()

    async with raw_server(handler) as url:
        pool = Http1Pool()
        resp = await pool.request("GET", url + "/", headers={}, body=b"", **T)
        assert resp.status == 200 and await resp.read() == b"until-eof"
        with pytest.raises(RemoteProtocolError):
            await pool.request("GET", url + "/", headers={}, body=b"", **T)
        assert pool.idle_count() == 0
        pool.close()


# ---- against MockAnthropic ------------------------------------------------------------------------


async def test_mock_json_and_stream_match_aiohttp(pool: Http1Pool) -> None:
    norm = re.compile(rb"msg_01\w+")
    async with MockAnthropic(chunks=8) as mock:
        url = mock.url + "/v1/messages"
        resp = await pool.request("POST", url, headers=HDRS, body=msg_body(False), **T)
        assert resp.status == 200 and resp.content_type == "application/json"
        assert orjson.loads(await resp.read())["content"][0]["text"] == mock.text
        resp.release()
        async with aiohttp.ClientSession() as s, s.post(url, data=msg_body(True), headers=HDRS) as r:
            ref = b"".join([c async for c in r.content.iter_any()])
        resp = await pool.request("POST", url, headers=HDRS, body=msg_body(True), **T)
        assert resp.content_type == "text/event-stream" and resp.headers["x-mock-name"] == "anthropic"
        got = b"".join([c async for c in resp.iter_any()])
        resp.release()
        assert norm.sub(b"ID", got) == norm.sub(b"ID", ref) and b"message_stop" in got
        assert pool.opened == 1
        assert mock.messages_requests()[0].header("Host") == mock.url.removeprefix("http://")


@pytest.mark.parametrize("status", [413, 429])
async def test_mock_error_status_body(pool: Http1Pool, status: int) -> None:
    async with MockAnthropic() as mock:
        mock.add_fault(Fault(kind="status", status=status, retry_after=3))
        resp = await pool.request("POST", mock.url + "/v1/messages", headers=HDRS, body=msg_body(True), **T)
        assert resp.status == status and resp.headers["retry-after"] == "3"
        err = orjson.loads(await resp.read())
        assert err["type"] == "error" and err["error"]["type"] in ("request_too_large", "rate_limit_error")
        resp.release()
        resp = await pool.request("POST", mock.url + "/v1/messages", headers=HDRS, body=msg_body(False), **T)
        assert resp.status == 200 and await resp.read()
        assert pool.opened == 1


async def test_mock_large_body(pool: Http1Pool) -> None:
    async with MockAnthropic() as mock:
        body = msg_body(False, metadata={"user_id": "u" * (1 << 20)})
        resp = await pool.request("POST", mock.url + "/v1/messages", headers=HDRS, body=body, **T)
        assert resp.status == 200 and orjson.loads(await resp.read())["type"] == "message"
        assert mock.requests[0].body == body


async def test_mock_reset_before_headers(pool: Http1Pool) -> None:
    async with MockAnthropic() as mock:
        mock.add_fault(Fault(kind="reset"))
        with pytest.raises(UpstreamClosed):
            await pool.request("POST", mock.url + "/v1/messages", headers=HDRS, body=msg_body(True), **T)
        assert pool.idle_count() == 0


async def test_mock_stall_times_out(pool: Http1Pool) -> None:
    async with MockAnthropic() as mock:
        mock.add_fault(Fault(kind="stall", seconds=10))
        t0 = time.monotonic()
        with pytest.raises(TransportTimeout):
            await pool.request(
                "POST",
                mock.url + "/v1/messages",
                headers=HDRS,
                body=msg_body(True),
                connect_timeout=5,
                read_timeout=0.3,
            )
        assert 0.25 < time.monotonic() - t0 < 1.5
        await wait_for(lambda: mock.requests[0].disconnected)  # the socket was closed


async def test_mock_drop_mid_stream(pool: Http1Pool) -> None:
    async with MockAnthropic(chunks=5) as mock:
        mock.add_fault(Fault(kind="drop"))
        resp = await pool.request("POST", mock.url + "/v1/messages", headers=HDRS, body=msg_body(True), **T)
        assert resp.status == 200
        got = b""
        with pytest.raises(UpstreamClosed):
            async for chunk in resp.iter_any():
                got += chunk
        assert b"message_start" in got and b"message_stop" not in got
        resp.release()
        assert pool.idle_count() == 0


async def test_mock_stall_mid_read_timeout(pool: Http1Pool) -> None:
    async with MockAnthropic(chunks=5) as mock:
        mock.add_fault(Fault(kind="stall_mid", seconds=10))
        resp = await pool.request(
            "POST", mock.url + "/v1/messages", headers=HDRS, body=msg_body(True), connect_timeout=5, read_timeout=0.3
        )
        with pytest.raises(TransportTimeout):
            async for _ in resp.iter_any():
                pass
        await wait_for(lambda: mock.requests[0].disconnected)


async def test_read_timeout_is_per_wait(pool: Http1Pool) -> None:
    """Slow but steady streams never time out; a shorter timeout on a reused connection still applies."""
    async with MockAnthropic(chunks=8, delay_ms=120) as mock:
        url = mock.url + "/v1/messages"
        t0 = time.monotonic()
        resp = await pool.request("POST", url, headers=HDRS, body=msg_body(True), connect_timeout=5, read_timeout=0.5)
        got = await resp.read()
        assert b"message_stop" in got and time.monotonic() - t0 > 1.0
        mock.add_fault(Fault(kind="stall", seconds=10))
        t0 = time.monotonic()
        with pytest.raises(TransportTimeout):
            await pool.request("POST", url, headers=HDRS, body=msg_body(True), connect_timeout=5, read_timeout=0.2)
        assert time.monotonic() - t0 < 0.45 and pool.opened == 1


@pytest.mark.parametrize("where", ["headers", "body"])
async def test_mock_cancellation_closes_socket(pool: Http1Pool, where: str) -> None:
    async with MockAnthropic(chunks=5) as mock:
        mock.add_fault(Fault(kind="stall" if where == "headers" else "stall_mid", seconds=30))

        async def consume() -> None:
            resp = await pool.request("POST", mock.url + "/v1/messages", headers=HDRS, body=msg_body(True), **T)
            async for _ in resp.iter_any():
                pass

        task = asyncio.create_task(consume())
        await wait_for(lambda: bool(mock.requests))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for(lambda: mock.requests[0].disconnected)
        assert pool.idle_count() == 0


# ---- micro-benchmark (run as a script; prints, asserts nothing) -----------------------------------


async def _bench(n: int, chunks: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        port_file = Path(d) / "port"
        cmd = [sys.executable, "-m", "bench.upstream", "--port", "0", "--chunks", str(chunks), "--port-file"]
        proc = await asyncio.create_subprocess_exec(*cmd, str(port_file), cwd=Path(__file__).resolve().parents[2])
        try:
            while not port_file.exists():
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}/v1/messages"
            body = msg_body(True)

            async def via_aiohttp() -> int:
                total = 0
                async with aiohttp.ClientSession() as s:
                    for _ in range(n):
                        async with s.post(url, data=body, headers=HDRS) as r:
                            async for c in r.content.iter_any():
                                total += len(c)
                return total

            async def via_http1() -> int:
                total = 0
                pool = Http1Pool()
                for _ in range(n):
                    resp = await pool.request("POST", url, headers=HDRS, body=body, **T)
                    async for c in resp.iter_any():
                        total += len(c)
                    resp.release()
                pool.close()
                return total

            best: dict[str, float] = {}
            for name, fn in (("aiohttp", via_aiohttp), ("http1", via_http1)) * rounds:  # interleaved rounds
                cpu, wall = time.process_time(), time.perf_counter()
                size = await fn()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                best[name] = min(best.get(name, cpu), cpu)
                print(
                    f"{name:8} {n} streamed requests ({size // n} B each): {cpu / n * 1e6:7.1f} µs CPU/request, "
                    f"{wall / n * 1e6:7.1f} µs wall/request"
                )
            a, h = best["aiohttp"] / n * 1e6, best["http1"] / n * 1e6
            print(f"best of {rounds}: aiohttp {a:.1f} µs, http1 {h:.1f} µs CPU/request ({1 - h / a:.0%} less)")
        finally:
            proc.terminate()
            await proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--uvloop", action="store_true")
    a = ap.parse_args()
    if a.uvloop:
        import uvloop

        uvloop.run(_bench(a.n, a.chunks, a.rounds))
    else:
        asyncio.run(_bench(a.n, a.chunks, a.rounds))


if __name__ == "__main__":
    main()


async def test_https_with_a_local_tls_server() -> None:
    """https:// upstreams (the real APIs) take the fast path too, with certificate verification."""
    import ssl

    import trustme
    from aiohttp import web

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "body": (await request.read()).decode()})

    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        pool = Http1Pool(ssl_context=client_ctx)
        for _ in range(2):
            resp = await pool.request(
                "POST",
                f"https://localhost:{port}/v1/messages",
                headers={},
                body=b"hi",
                connect_timeout=5,
                read_timeout=5,
            )
            assert resp.status == 200 and b'"hi"' in await resp.read()
            resp.release()
        assert pool.opened == 1  # the TLS connection was kept alive and reused
        # An untrusted certificate is refused.
        strict = Http1Pool(ssl_context=ssl.create_default_context())
        with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
            await strict.request(
                "POST",
                f"https://localhost:{port}/v1/messages",
                headers={},
                body=b"x",
                connect_timeout=5,
                read_timeout=5,
            )
        pool.close()
        strict.close()
    finally:
        await runner.cleanup()
