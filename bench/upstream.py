"""A fast mock upstream on raw asyncio protocols (uvloop when available), built never to be the bottleneck.

Routes (by path suffix, any prefix):
  POST .../v1/messages              Anthropic Messages: JSON, or SSE with N text deltas if ``"stream": true``
  POST .../chat/completions         OpenAI Chat Completions: JSON, or SSE with N content deltas, a final
                                    usage chunk and ``data: [DONE]``
  POST .../v1/messages/count_tokens ``{"input_tokens": 1000}``
  GET  /stats                       request counters (the orchestrator checks the router really forwarded)

All responses are encoded once at start-up. Each SSE event is its own ``transport.write`` (its own send),
so the router sees events arriving separately, as from a real upstream. ``"stream": true`` is detected with a
regex on the raw body (JSON escapes quotes inside strings, so only a real key matches). A body holding the
marker ``[[mock:chunks=N]]`` (anywhere: it survives the router and the OpenAI translation) gets N deltas
instead of ``--chunks``; those replies are encoded on first use.

``python -m bench.upstream --port 0 --chunks 20 --port-file F`` writes the bound port to F when listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any, cast

import orjson

_WORDS = "The quick brown fox jumps over the lazy dog while the router relays every token".split()  # noqa: SIM905
_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_MARK = b"[[mock:chunks="
_MARK_RE = re.compile(rb"\[\[mock:chunks=(\d{1,6})\]\]")
_MODEL = "claude-sonnet-4-5-20250929"


def delta_texts(n: int) -> list[str]:
    """The text of each of the ``n`` deltas the mock streams (the load generator checks them)."""
    return [_WORDS[i % len(_WORDS)] + " " for i in range(n)]


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def anthropic_events(n: int) -> list[bytes]:
    usage = {
        "input_tokens": 11000,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    msg: dict[str, Any] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": _MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    ev = [
        _sse("message_start", {"type": "message_start", "message": msg}),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        b'event: ping\ndata: {"type": "ping"}\n\n',
    ]
    ev += [
        _sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
        )
        for t in delta_texts(n)
    ]
    ev.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    ev.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
        )
    )
    ev.append(_sse("message_stop", {"type": "message_stop"}))
    return ev


def anthropic_json(n: int) -> bytes:
    return orjson.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": _MODEL,
            "content": [{"type": "text", "text": "".join(delta_texts(n))}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 11000, "output_tokens": n},
        }
    )


def openai_events(n: int) -> list[bytes]:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-bench",
        "system_fingerprint": "fp_bench",
    }

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + orjson.dumps({**base, "choices": choices, **extra}) + b"\n\n"

    def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    ev = [chunk(choice({"role": "assistant", "content": ""}))]
    ev += [chunk(choice({"content": t})) for t in delta_texts(n)]
    ev.append(chunk(choice({}, "stop")))
    ev.append(chunk([], usage={"prompt_tokens": 11000, "completion_tokens": n, "total_tokens": 11000 + n}))
    ev.append(b"data: [DONE]\n\n")
    return ev


def openai_json(n: int) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(delta_texts(n))},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 11000, "completion_tokens": n, "total_tokens": 11000 + n},
        }
    )


def _whole(status: bytes, body: bytes) -> list[bytes]:
    return [_head(status, b"application/json", len(body)) + body]


def _head(status: bytes, ctype: bytes, length: int | None) -> bytes:
    size = b"transfer-encoding: chunked\r\n" if length is None else b"content-length: %d\r\n" % length
    return b"HTTP/1.1 " + status + b"\r\ncontent-type: " + ctype + b"\r\n" + size + b"\r\n"


class Replies:
    """Every response, pre-encoded; ``stats`` counts requests per route."""

    def __init__(self, chunks: int, coalesce: bool) -> None:
        self.coalesce = coalesce
        self.routes: dict[str, list[bytes]] = {
            **self._answers(chunks),
            "count_tokens": _whole(b"200 OK", b'{"input_tokens":1000}'),
            "not_found": _whole(b"404 Not Found", b'{"error":"not found"}'),
        }
        self.by_chunks: dict[int, dict[str, list[bytes]]] = {chunks: self.routes}
        self.stats: dict[str, int] = dict.fromkeys(self.routes, 0)

    def _answers(self, chunks: int) -> dict[str, list[bytes]]:
        def stream(events: list[bytes]) -> list[bytes]:
            frames = [_head(b"200 OK", b"text/event-stream; charset=utf-8", None)]
            frames += [b"%x\r\n%b\r\n" % (len(e), e) for e in events] + [b"0\r\n\r\n"]
            return [b"".join(frames)] if self.coalesce else frames

        return {
            "anthropic_stream": stream(anthropic_events(chunks)),
            "anthropic": _whole(b"200 OK", anthropic_json(chunks)),
            "openai_stream": stream(openai_events(chunks)),
            "openai": _whole(b"200 OK", openai_json(chunks)),
        }

    def _for(self, body: bytes) -> dict[str, list[bytes]]:
        at = body.find(_MARK)
        m = _MARK_RE.match(body, at) if at >= 0 else None
        if m is None:
            return self.routes
        n = max(1, int(m.group(1)))
        if n not in self.by_chunks:
            self.by_chunks[n] = self._answers(n)
        return self.by_chunks[n]

    def route(self, method: bytes, path: bytes, body: bytes) -> list[bytes]:
        path = path.split(b"?", 1)[0]
        if method == b"POST" and path.endswith(b"/v1/messages"):
            name = "anthropic_stream" if _STREAM_RE.search(body) else "anthropic"
        elif method == b"POST" and path.endswith(b"/chat/completions"):
            name = "openai_stream" if _STREAM_RE.search(body) else "openai"
        elif method == b"POST" and path.endswith(b"/count_tokens"):
            name = "count_tokens"
        elif method == b"GET" and path == b"/stats":
            body = orjson.dumps(self.stats)
            return [_head(b"200 OK", b"application/json", len(body)) + body]
        else:
            name = "not_found"
        self.stats[name] += 1
        if name in ("count_tokens", "not_found"):
            return self.routes[name]
        return self._for(body)[name]


class MockProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive server: content-length or chunked request bodies, one request at a time."""

    def __init__(self, replies: Replies) -> None:
        self.replies = replies
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None and self._one():
            pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _one(self) -> bool:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buf[:end]).split(b"\r\n")
        method, path, _ = head[0].split(b" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in head[1:])}
        start = end + 4
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            parsed = _dechunk(buf, start)
            if parsed is None:
                return False
            body, stop = parsed
        else:
            stop = start + int(headers.get(b"content-length", b"0"))
            if len(buf) < stop:
                return False
            body = bytes(buf[start:stop])
        del buf[:stop]
        assert self.transport is not None
        for frame in self.replies.route(method, path, body):
            self.transport.write(frame)
        if headers.get(b"connection", b"").lower() == b"close":
            self.transport.close()
            return False
        return True


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """(body, end offset) of a complete chunked body starting at ``pos``; None while incomplete."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", eol)
            return (b"".join(parts), trailer_end + 4) if trailer_end >= 0 else None
        if len(buf) < eol + 2 + size + 2:
            return None
        parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
        pos = eol + 2 + size + 2


async def serve(port: int, chunks: int, coalesce: bool, port_file: Path | None) -> None:
    replies = Replies(chunks, coalesce)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: MockProtocol(replies), "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(bound))
        tmp.replace(port_file)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description="mock Anthropic + OpenAI upstream for the benchmark")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--chunks", type=int, default=20, help="text deltas per response")
    ap.add_argument("--coalesce", action="store_true", help="write each stream in one send")
    ap.add_argument("--port-file", type=Path, default=None)
    a = ap.parse_args()
    coro = serve(a.port, max(1, a.chunks), a.coalesce, a.port_file)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop
        except ImportError:
            asyncio.run(coro)
        else:
            uvloop.run(coro)


if __name__ == "__main__":
    main()
