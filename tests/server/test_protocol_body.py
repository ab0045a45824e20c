"""How the connection hands a request body to the handler (``server/protocol.py`` ``BodyCycle``).

The protocol is driven directly, with a fake transport, so the test sees each ASGI message and each pause of the
socket: a Content-Length body that arrives in many reads is one ``http.request`` message; a chunked body is
handed over as it arrives; reading pauses at uvicorn's high-water mark while no ``receive()`` waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.server import ServerState

from claude_code_mux.server import protocol
from claude_code_mux.server.protocol import BoundedHttpToolsProtocol


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closing = False
        self.paused = False
        self.pauses = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    def is_reading(self) -> bool:
        return not self.paused

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)


App = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[..., Awaitable[None]]], Any]


class Conn:
    """One connection: the protocol, its transport, and every message the handler received."""

    def __init__(self, start_reading: asyncio.Event | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.done = asyncio.Event()
        self.start_reading = start_reading

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if self.start_reading is not None:
                await self.start_reading.wait()
            while True:
                message = await receive()
                self.messages.append(message)
                if message["type"] != "http.request" or not message["more_body"]:
                    break
            if self.messages[-1]["type"] == "http.request":
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
            self.done.set()

        config = Config(app, http=BoundedHttpToolsProtocol, lifespan="off", log_config=None, proxy_headers=False)
        config.load()
        self.transport = FakeTransport()
        self.proto = BoundedHttpToolsProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
        self.proto.connection_made(self.transport)

    async def feed(self, pieces: list[bytes]) -> None:
        """Each piece as one socket read, with the loop turning between reads (and waiting while paused)."""
        for piece in pieces:
            for _ in range(1000):
                if not self.transport.paused:
                    break
                await asyncio.sleep(0)
            assert not self.transport.paused, "reading stayed paused"
            self.proto.data_received(piece)
            await asyncio.sleep(0)

    def body(self) -> bytes:
        return b"".join(m["body"] for m in self.messages if m["type"] == "http.request")


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _request(body: bytes) -> bytes:
    return b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body) + body


async def test_a_content_length_body_in_many_reads_is_one_message() -> None:
    conn = Conn()
    body = bytes(range(256)) * 4000  # 1 MB
    await conn.feed(_split(_request(body), 100_000))
    await asyncio.wait_for(conn.done.wait(), 5)
    assert len(conn.messages) == 1
    assert conn.messages[0]["more_body"] is False and conn.messages[0]["body"] == body
    assert conn.transport.out.startswith(b"HTTP/1.1 200 ")


async def test_a_body_in_one_read_is_handed_over_without_a_copy() -> None:
    conn = Conn()
    body = b"x" * 50_000
    await conn.feed([_request(body)])
    await asyncio.wait_for(conn.done.wait(), 5)
    assert [m["body"] for m in conn.messages] == [body]


async def test_reading_pauses_at_the_high_water_mark_while_nobody_reads() -> None:
    go = asyncio.Event()
    conn = Conn(start_reading=go)
    body = b"y" * (3 * HIGH_WATER_LIMIT)
    pieces = _split(_request(body), HIGH_WATER_LIMIT // 4)
    await conn.feed(pieces[:3])
    assert not conn.transport.paused  # under the mark
    await conn.feed(pieces[3:5])
    assert conn.transport.paused  # over it, and the handler has not asked for the body
    go.set()
    await conn.feed(pieces[5:])
    await asyncio.wait_for(conn.done.wait(), 5)
    assert len(conn.messages) == 1 and conn.body() == body


async def test_a_body_larger_than_the_handoff_comes_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "BODY_HANDOFF", 200_000)
    conn = Conn()
    body = bytes(range(256)) * 3000  # 768 KB
    await conn.feed(_split(_request(body), 70_000))
    await asyncio.wait_for(conn.done.wait(), 5)
    assert conn.body() == body
    assert 3 <= len(conn.messages) <= 5
    assert all(len(m["body"]) > 200_000 for m in conn.messages[:-1])
    assert conn.transport.pauses >= 3  # reading paused at each hand-over until the handler took it


async def test_a_chunked_body_is_handed_over_as_it_arrives() -> None:
    conn = Conn()
    head = b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    await conn.feed([head, b"5\r\nhello\r\n"])
    await asyncio.sleep(0)
    assert conn.messages == [{"type": "http.request", "body": b"hello", "more_body": True}]
    await conn.feed([b"6\r\n world\r\n", b"0\r\n\r\n"])
    await asyncio.wait_for(conn.done.wait(), 5)
    assert conn.body() == b"hello world" and conn.messages[-1]["more_body"] is False


async def test_a_client_gone_while_the_body_arrives_is_a_disconnect() -> None:
    conn = Conn()
    await conn.feed([_request(b"z" * 10_000)[:5_000]])
    await asyncio.sleep(0)
    assert conn.messages == []  # a partial Content-Length body is not handed over
    conn.proto.connection_lost(None)
    await asyncio.wait_for(conn.done.wait(), 5)
    assert conn.messages == [{"type": "http.disconnect"}]
