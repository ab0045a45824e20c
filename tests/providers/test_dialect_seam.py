"""Both dialects through the transport seam, with a transport-level fake: what they send, and what they catch.

A dialect sees only the ``Transport`` protocol: every ``TransportError`` (at connect or mid-body) becomes an
``UpstreamFailure`` the dispatcher can fail over on; anything else is a bug and is not swallowed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import orjson
import pytest

from claude_code_mux.config.presets import preset_for
from claude_code_mux.errors import (
    ConnectFailed,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
    UpstreamClosed,
    UpstreamFailure,
)
from claude_code_mux.providers.anthropic import AnthropicDialect
from claude_code_mux.providers.base import Dialect, Provider, RequestContext
from claude_code_mux.providers.openai_chat import OpenAIChatDialect
from claude_code_mux.providers.transport import Timeouts, Transport, UpstreamResponse
from claude_code_mux.routing.probe import Probe


@dataclass
class FakeResponse:
    status: int
    headers: dict[str, str]
    chunks: list[bytes | TransportError]
    closed: bool = False
    released: bool = False

    async def readany(self) -> bytes:
        if not self.chunks:
            return b""
        item = self.chunks.pop(0)
        if isinstance(item, TransportError):
            raise item
        return item

    async def read(self, limit: int | None = None) -> bytes:
        return b"".join([c async for c in self.iter_any()])

    async def iter_any(self) -> AsyncIterator[bytes]:
        while c := await self.readany():
            yield c

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeTransport:
    """Answers each post with the next scripted response, or raises the next scripted exception."""

    script: list[FakeResponse | BaseException]
    sent: list[tuple[str, dict[str, str], bytes, Timeouts]] = field(default_factory=list)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts) -> UpstreamResponse:
        self.sent.append((url, dict(headers), body, timeouts))
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        pass


TIMEOUTS = Timeouts(connect_s=1.5, read_s=7.0)
BODY = {"model": "claude-x", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def provider(dialect: str) -> Provider:
    preset = preset_for("anthropic" if dialect == "anthropic" else "openai")
    assert preset is not None
    return Provider(name="p", dialect=dialect, base_url="http://up.test", auth_type="none", preset=preset)


def ctx(stream: bool = True) -> RequestContext:
    body = {**BODY, "stream": stream}
    raw = orjson.dumps(body)
    return RequestContext(
        request_id="r1",
        path="/v1/messages",
        query="",
        raw=raw,
        probe=Probe.parse(raw),
        client_model="claude-x",
        stream=stream,
        headers={"anthropic-version": "2023-06-01"},
    )


def dialect(kind: str, transport: Transport) -> Dialect:
    if kind == "anthropic":
        return AnthropicDialect({"p": transport}, timeouts=TIMEOUTS, tokens=None, oauth_beta="")
    return OpenAIChatDialect({"p": transport}, timeouts=TIMEOUTS, tokens=None)


ANTHROPIC_SSE = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant",'
    b'"model":"up-model","content":[],"stop_reason":null,"usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
)
OPENAI_SSE = b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"}}]}\n\n'


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
@pytest.mark.parametrize(
    "exc", [ConnectFailed("refused"), TransportTimeout("slow"), UpstreamClosed("gone"), RemoteProtocolError("bad")]
)
async def test_transport_errors_at_post_become_retryable_failures(kind: str, exc: TransportError) -> None:
    t = FakeTransport([exc])
    with pytest.raises(UpstreamFailure) as info:
        await dialect(kind, t).send(ctx(), provider(kind), "up-model")
    assert info.value.retryable and str(exc) in info.value.message and info.value.message.startswith("p: ")
    url, headers, body, timeouts = t.sent[0]
    assert "x-api-key" not in headers and "authorization" not in headers  # auth_type "none"
    assert timeouts is TIMEOUTS
    assert url == ("http://up.test/v1/messages" if kind == "anthropic" else "http://up.test/chat/completions")
    assert orjson.loads(body)["model"] == "up-model"


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_other_exceptions_are_not_swallowed(kind: str) -> None:
    with pytest.raises(RuntimeError, match="a bug"):
        await dialect(kind, FakeTransport([RuntimeError("a bug")])).send(ctx(), provider(kind), "up-model")


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_a_transport_error_mid_stream_leaves_as_an_upstream_failure(kind: str) -> None:
    first = ANTHROPIC_SSE if kind == "anthropic" else OPENAI_SSE
    resp = FakeResponse(200, {"content-type": "text/event-stream"}, [first, UpstreamClosed("cut mid-body")])
    reply = await dialect(kind, FakeTransport([resp])).send(ctx(), provider(kind), "up-model")
    assert reply.first and reply.chunks is not None
    with pytest.raises(UpstreamFailure, match="cut mid-body"):
        async for _ in reply.chunks:
            pass
    assert resp.closed


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_an_error_status_is_read_bounded_and_released(kind: str) -> None:
    resp = FakeResponse(529, {"content-type": "application/json", "retry-after": "3"}, [b'{"type":"error",', b"}"])
    with pytest.raises(UpstreamFailure) as info:
        await dialect(kind, FakeTransport([resp])).send(ctx(stream=False), provider(kind), "up-model")
    assert info.value.status == 529 and info.value.retryable and info.value.retry_after == 3.0
    assert resp.released  # back to the pool (a later close() is a no-op on a released response)
