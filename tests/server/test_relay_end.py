"""The end of a relayed stream: the last event goes out with the end of the body, and the upstream's own end is
still read, so its connection is reused; bytes an upstream sends after ``message_stop`` are not relayed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.harness import anthropic_provider, model_block, run_router

EVENTS = [
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant",'
    b'"model":"up","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"hi"}}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":2}}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]
AFTER = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"late"}}\n\n'
)


class Upstream:
    """A keep-alive HTTP/1.1 upstream streaming EVENTS one write each (and AFTER them when ``after``)."""

    def __init__(self, after: bool) -> None:
        self.after = after
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                )
                events = EVENTS + ([AFTER] if self.after else [])
                for i, event in enumerate(events):
                    frame = b"%x\r\n%b\r\n" % (len(event), event)
                    if i == len(events) - 1:
                        frame += b"0\r\n\r\n"  # the body's end in the same write as the last event, as is usual
                    writer.write(frame)
                    await writer.drain()
                    await asyncio.sleep(0.005)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def config(url: str) -> str:
    return '[router]\ndefault = "main"\n' + anthropic_provider("up", url) + model_block("main", [("up", "up-model")])


async def ask(client: httpx.AsyncClient, url: str) -> bytes:
    body = {"model": "main", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    r = await client.post(f"{url}/v1/messages", json=body, headers={"x-api-key": "k"})
    assert r.status_code == 200
    return r.content


async def test_a_stream_ends_with_message_stop_and_the_upstream_connection_is_reused(tmp_path: Path) -> None:
    upstream = Upstream(after=False)
    async with upstream as up, run_router(config(up), tmp_path) as router, httpx.AsyncClient() as client:
        for _ in range(3):
            body = await ask(client, router.url)
            assert body.endswith(EVENTS[-1]) and b"event: error" not in body
            assert body.count(b"event: ") == len(EVENTS)
        # The upstream's end arrived with message_stop: the router read it before answering the next request, so
        # one connection served all three.
        assert upstream.connections == 1


async def test_bytes_after_message_stop_are_not_relayed_and_that_connection_is_dropped(tmp_path: Path) -> None:
    upstream = Upstream(after=True)
    async with upstream as up, run_router(config(up), tmp_path) as router, httpx.AsyncClient() as client:
        for _ in range(2):
            body = await ask(client, router.url)
            assert body.endswith(EVENTS[-1]) and b"late" not in body and b"event: error" not in body
        assert upstream.connections == 2
