"""Bounded reads of hostile answers: the first SSE event and error bodies are capped and copied linearly.

Unit tests run the readers on a transport-level fake response; the end-to-end ones put the real router in front
of a raw upstream that sends an endless first event or a huge error body.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from claude_code_mux.errors import UpstreamFailure
from claude_code_mux.providers.reading import (
    MAX_ERROR_BODY_BYTES,
    MAX_FIRST_EVENT_BYTES,
    first_event_end,
    read_error_body,
    read_first_event,
)
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic


class FakeResponse:
    """An UpstreamResponse whose body is a list of chunks; counts what was read and how it ended."""

    def __init__(self, chunks: list[bytes], status: int = 200) -> None:
        self.status = status
        self.headers: dict[str, str] = {}
        self._chunks = chunks
        self.taken = 0
        self.ended = ""

    async def readany(self) -> bytes:
        if self.taken == len(self._chunks):
            return b""
        self.taken += 1
        return self._chunks[self.taken - 1]

    async def read(self, limit: int | None = None) -> bytes:
        return b"".join([c async for c in self.iter_any()])

    async def iter_any(self) -> AsyncIterator[bytes]:
        while c := await self.readany():
            yield c

    def release(self) -> None:
        self.ended = self.ended or "released"

    def close(self) -> None:
        self.ended = self.ended or "closed"


async def test_first_event_found_across_chunk_boundaries() -> None:
    data = b"event: message_start\r\ndata: {}\r\n\r\nevent: ping\n\n"
    for size in (1, 2, 3, 5):
        resp = FakeResponse([data[i : i + size] for i in range(0, len(data), size)])
        got = await read_first_event(resp, "p")
        assert first_event_end(got) == data.index(b"\r\n\r\n") + 4


async def test_an_endless_first_event_is_cut_off_linearly() -> None:
    chunk = b"x" * 64
    n = (8 * MAX_FIRST_EVENT_BYTES) // len(chunk)  # 8 MB in 64-byte pieces: quadratic copying would take minutes
    resp = FakeResponse([b"event: message_start\ndata: "] + [chunk] * n)
    started = time.process_time()
    with pytest.raises(UpstreamFailure, match="first stream event over"):
        await read_first_event(resp, "p")
    assert time.process_time() - started < 2.0
    assert resp.taken <= MAX_FIRST_EVENT_BYTES // len(chunk) + 2  # stopped at the limit, did not read on


async def test_error_body_kept_when_small_and_refused_when_huge() -> None:
    small = FakeResponse([b'{"type":"error",', b'"error":{}}'], status=529)
    assert await read_error_body(small) == b'{"type":"error","error":{}}' and small.ended == "released"
    huge = FakeResponse([b"e" * 4096] * (4 * MAX_ERROR_BODY_BYTES // 4096), status=500)
    assert await read_error_body(huge) is None
    assert huge.ended == "closed" and huge.taken <= MAX_ERROR_BODY_BYTES // 4096 + 1


@contextlib.asynccontextmanager
async def hostile_upstream(answer: bytes, body_chunk: bytes, chunks: int) -> AsyncIterator[str]:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await r.readuntil(b"\r\n\r\n")
            length = next(int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length"))
            await r.readexactly(length)
            w.write(answer)
            for _ in range(chunks):
                w.write(b"%x\r\n%s\r\n" % (len(body_chunk), body_chunk))
                await w.drain()
            w.write(b"0\r\n\r\n")
            await w.drain()
        w.close()

    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    finally:
        srv.close()


REQ = {"model": "main", "max_tokens": 5, "messages": [{"role": "user", "content": "Reply with exactly: OK-7"}]}


def config(hostile: str, good: str) -> str:
    return (
        '[router]\ndefault = "main"\n'
        + anthropic_provider("bad", hostile)
        + anthropic_provider("good", good)
        + model_block("main", [("bad", "m1"), ("good", "m2")])
    )


@pytest.mark.parametrize("kind", ["first-event", "error-body"])
async def test_hostile_upstream_is_bounded_and_fails_over(tmp_path: Path, kind: str) -> None:
    if kind == "first-event":
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"data: " + b"x" * 8000
    else:
        head = b"HTTP/1.1 529 Overloaded\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"e" * 8000
    async with (
        hostile_upstream(head, chunk, chunks=(40 << 20) // len(chunk)) as bad,  # 40 MB
        MockAnthropic(name="good") as good,
        run_router(config(bad, good.url), tmp_path) as router,
        httpx.AsyncClient(timeout=30) as http,
    ):
        r = await http.post(router.url + "/v1/messages", json={**REQ, "stream": kind == "first-event"})
        assert r.status_code == 200
        assert r.headers["x-ccm-provider"] == "good"
        assert ("event: message_stop" if kind == "first-event" else "OK-7") in r.text
