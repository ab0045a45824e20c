"""In-process CPU of the passthrough relay, per streamed request and per delta (no sockets).

``python -m bench.relay`` runs what the router does for one streamed passthrough answer after the upstream head
arrived: the Anthropic dialect's stream reply (first event read, the client's model echoed in
``message_start``), relayed by ``_relay_stream`` through the StreamGuard and ``AsgiOut`` into our uvicorn
protocol (:class:`BoundedHttpToolsProtocol`, request parsed, ASGI task, chunked framing) over a transport that
only counts. The upstream answer is the benchmark mock's: 20 deltas in one read, or 2,000 deltas in reads of
``--per-read`` events (the router reads ~20-40 per read on the benchmark's 2,000-delta load). Not included: the
sockets, uvloop, and the upstream client's parsing of the chunked body (``providers/http1_conn.py``).

Per delta = (2,000-delta request - 20-delta request) / 1,980; best of ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import types
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from bench.upstream import anthropic_events

REQUEST = (
    b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
)


class _Reply:
    """An upstream answer whose body reads are given."""

    status = 200

    def __init__(self, reads: list[bytes]) -> None:
        self.headers = {"content-type": "text/event-stream; charset=utf-8", "request-id": "req_bench"}
        self._reads = reads
        self._i = 0

    async def readany(self) -> bytes:
        i = self._i
        if i < len(self._reads):
            self._i = i + 1
            return self._reads[i]
        return b""

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Transport:
    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def post(self, url: str, headers: Any, body: bytes, timeouts: Any) -> _Reply:
        return _Reply(self.reads)

    def close(self) -> None:
        pass


class _Sink:
    """The client side: counts writes."""

    def __init__(self) -> None:
        self.writes = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)


def reads(deltas: int, per_read: int) -> list[bytes]:
    events = anthropic_events(deltas)
    if deltas <= 20:
        return [b"".join(events)]
    rest = events[1:]
    return [events[0]] + [b"".join(rest[i : i + per_read]) for i in range(0, len(rest), per_read)]


async def cpu_per_request(deltas: int, per_read: int, count: int) -> tuple[float, float]:
    """CPU seconds per relayed request, and client writes per request."""
    from claude_code_mux.dispatch import DispatchResult
    from claude_code_mux.providers.anthropic import AnthropicDialect
    from claude_code_mux.providers.transport import Timeouts
    from claude_code_mux.server.api import messages
    from claude_code_mux.server.api.exchange import AsgiOut
    from claude_code_mux.server.api.recording import Recording
    from claude_code_mux.server.protocol import BoundedHttpToolsProtocol

    dialect = AnthropicDialect(
        {"p": _Transport(reads(deltas, per_read))}, timeouts=Timeouts(), tokens=None, oauth_beta=""
    )
    ctx: Any = types.SimpleNamespace(query="", path="/v1/messages", client_model="claude-sonnet-4-5")
    provider: Any = types.SimpleNamespace(name="p", base_url="http://upstream")
    holder: Any = types.SimpleNamespace(active_streams=0)
    candidate: Any = types.SimpleNamespace(provider="p")
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        reply = await dialect._attempt(ctx, provider, "/v1/messages", b"{}", {}, True)
        assert not isinstance(reply, Exception)
        rec = Recording("messages", 0.0, "r")
        await messages._relay_stream(AsgiOut(send), holder, rec, DispatchResult(reply, candidate))
        if rec.error is not None:
            raise RuntimeError(rec.error)
        done.set()

    config = Config(app=app, http=BoundedHttpToolsProtocol, lifespan="off", access_log=False, log_level="warning")
    config.load()
    proto = BoundedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    sink = _Sink()
    proto.connection_made(sink)  # type: ignore[arg-type]

    async def one() -> None:
        done.clear()
        proto.data_received(REQUEST)
        await done.wait()

    for _ in range(10):
        await one()
    writes = sink.writes
    t0 = time.process_time()
    for _ in range(count):
        await one()
    dt = time.process_time() - t0
    per_write = (sink.writes - writes) / count
    proto.connection_lost(None)
    return dt / count, per_write


async def measure(per_read: int, repeat: int) -> None:
    short, long_ = [], []
    writes = 0.0
    for _ in range(repeat):
        s, writes = await cpu_per_request(20, per_read, 1000)
        short.append(s)
        long_.append((await cpu_per_request(2000, per_read, 50))[0])
    a, b = min(short), min(long_)
    print(
        f"relay, 2,000 deltas in reads of {per_read}: {a * 1e6:.1f} us per 20-delta request "
        f"({writes:.1f} client writes), {b * 1e6:.0f} us per 2,000-delta request, "
        f"{(b - a) / 1980 * 1e6:.3f} us per delta"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-read", type=int, nargs="*", default=[20, 40], help="events per upstream read")
    ap.add_argument("--repeat", type=int, default=5, help="rounds (best reported)")
    args = ap.parse_args(argv)
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    for per in args.per_read:
        run(measure(max(1, per), args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
