"""write_chunk and the held head: what AsgiOut writes straight to the transport is exactly what uvicorn's send
writes, in fewer transport writes (the head with the first chunk, the last chunk with the body's end)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from claude_code_mux.server.api.exchange import AsgiOut
from claude_code_mux.server.protocol import body_writer, write_chunk


class Sink:
    def __init__(self) -> None:
        self.out: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def cycle(method: str = "POST") -> tuple[RequestResponseCycle, Sink]:
    sink = Sink()
    scope: Any = {"method": method, "http_version": "1.1", "type": "http"}
    c = RequestResponseCycle(
        scope=scope,
        transport=sink,  # type: ignore[arg-type]
        flow=FlowControl(sink),  # type: ignore[arg-type]
        logger=logging.getLogger("t"),
        access_logger=logging.getLogger("t"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    return c, sink


async def stream(method: str, direct: bool) -> list[bytes]:
    c, sink = cycle(method)
    out = AsgiOut(c.send)
    if not direct:
        out._cycle = None  # every chunk through send()
    await out.start(200, {"content-type": "text/event-stream"})
    for piece in (b"event: a\ndata: {}\n\n", b"x" * 70_000, b""):
        await out.write(piece)
    await out.end()
    return sink.out


@pytest.mark.parametrize("method", ["POST", "HEAD"])
async def test_direct_chunks_are_the_bytes_send_writes(method: str) -> None:
    assert body_writer(cycle()[0].send) is not None
    assert await stream(method, True) == await stream(method, False)


async def merged(method: str, direct: bool, first: bytes, last: bytes) -> list[bytes]:
    c, sink = cycle(method)
    out = AsgiOut(c.send)
    if not direct:
        out._cycle = None
    await out.start(200, {"content-type": "text/event-stream", "x-ccm-route": "default"}, first)
    await out.write(b"event: b\ndata: {}\n\n")
    await out.end(last)
    return sink.out


@pytest.mark.parametrize("method", ["POST", "HEAD"])
@pytest.mark.parametrize("first", [b"event: a\ndata: {}\n\n", b""])
@pytest.mark.parametrize("last", [b"event: message_stop\ndata: {}\n\n", b""])
async def test_head_goes_with_the_first_chunk_and_the_end_with_the_last(method: str, first: bytes, last: bytes) -> None:
    direct = await merged(method, True, first, last)
    # The same bytes as three separate sends of uvicorn's own (head, first, … , last with the end) …
    assert b"".join(direct) == b"".join(await merged(method, False, first, last))
    if method == "POST":
        # … in one write for the head and the first chunk, and one for the last chunk and the body's end.
        assert len(direct) == 3
        assert direct[0].startswith(b"HTTP/1.1 200 OK\r\n")
        assert direct[0].endswith(b"\r\n\r\n" + (b"%x\r\n%b\r\n" % (len(first), first) if first else b""))
        assert direct[-1] == (b"%x\r\n%b\r\n" % (len(last), last) if last else b"") + b"0\r\n\r\n"


async def test_a_head_uvicorn_refuses_leaves_the_transport_in_place() -> None:
    c, sink = cycle()
    out = AsgiOut(c.send)
    with pytest.raises(RuntimeError):
        await out.start(200, {"x-bad name": "v"}, b"data")
    assert c.transport is sink and sink.out == []


async def test_the_head_is_not_held_while_writes_are_paused() -> None:
    c, sink = cycle()
    out = AsgiOut(c.send)
    c.flow.pause_writing()
    task = asyncio.ensure_future(out.start(200, {}, b"data"))
    await asyncio.sleep(0)
    assert sink.out == [] and not task.done()  # uvicorn's send waits for the drain, as before
    c.flow.resume_writing()
    await task
    assert sink.out[0].startswith(b"HTTP/1.1 200") and sink.out[-1] == b"4\r\ndata\r\n"


async def test_chunks_go_through_send_when_the_cycle_cannot_take_them_directly() -> None:
    c, sink = cycle()
    assert not write_chunk(c, b"x")  # not started
    await c.send({"type": "http.response.start", "status": 200, "headers": []})
    assert write_chunk(c, b"x") and sink.out[-1] == b"1\r\nx\r\n"
    c.flow.pause_writing()
    assert not write_chunk(c, b"x")  # send() waits for the drain
    c.flow.resume_writing()
    c.disconnected = True
    assert not write_chunk(c, b"x")  # send() drops it
    c.disconnected = False
    await c.send({"type": "http.response.body", "body": b"", "more_body": False})
    assert not write_chunk(c, b"x")  # send() refuses it
    assert body_writer(lambda message: None) is None


def test_the_header_callback_keeps_what_uvicorns_keeps() -> None:
    """BoundedHttpToolsProtocol.on_header is uvicorn's written out (it runs per header): same headers, same
    Expect flag, for the shapes llhttp hands over (any case, trailing whitespace kept by llhttp)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from claude_code_mux.server.protocol import BoundedHttpToolsProtocol

    pairs = [
        (b"Host", b"127.0.0.1"),
        (b"Expect", b"100-Continue \t"),
        (b"X-Api-Key", b"k  "),
        (b"Transfer-Encoding", b"chunked"),
        (b"expect", b"something-else"),
        (b"Empty", b""),
        (b"T", b" \t"),
    ]
    for cls in (HttpToolsProtocol, BoundedHttpToolsProtocol):
        results = []
        for expect_first in (True, False):
            proto: Any = object.__new__(cls)
            proto.headers, proto.expect_100_continue = [], False
            proto._head_size = proto._header_count = 0
            for name, value in pairs if expect_first else pairs[2:]:
                cls.on_header(proto, name, value)
            results.append((proto.headers, proto.expect_100_continue))
        if cls is HttpToolsProtocol:
            expected = results
        else:
            assert results == expected
