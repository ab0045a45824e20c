"""write_chunk: a streamed body chunk written straight to the transport is exactly what uvicorn's send writes."""

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
