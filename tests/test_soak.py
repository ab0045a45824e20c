"""Soak: thousands of streamed requests with injected upstream faults and two candidates.

Every client response must be a complete, well-formed Anthropic event sequence or a proper error; afterwards no
stream is open, no connection or task is leaked, and memory is flat. Sized by CCM_SOAK_REQUESTS (default 10000).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
from pathlib import Path

import aiohttp
import orjson

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic

N = int(os.environ.get("CCM_SOAK_REQUESTS", "10000"))
CONCURRENCY = 32
FAULT_KINDS = ["status529", "status500", "reset", "drop", "error_event", "error_mid", "truncate", "malformed"]


def current_rss_kb() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * (os.sysconf("SC_PAGE_SIZE") // 1024)


def check_stream(body: bytes) -> str:
    """'ok' for a complete stream, 'error' for one ending in an error event; raises on anything else."""
    events = []
    for frame in body.split(b"\n\n"):
        if not frame.strip():
            continue
        lines = frame.split(b"\n")
        assert lines[0].startswith(b"event: "), frame[:80]
        name = lines[0][7:].decode()
        data = orjson.loads(lines[1][6:])
        assert data["type"] == name
        events.append(name)
    assert events, "empty stream"
    assert events[0] in ("message_start", "error"), events[:3]
    if events[-1] == "error":
        assert "message_stop" not in events
        return "error"
    assert events[-1] == "message_stop", events[-3:]
    assert events[-2] == "message_delta"
    opened: set[int] = set()
    for e in events:
        assert e in {
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
            "ping",
        }, e
    assert not opened
    return "ok"


async def test_soak_streams_with_faults(tmp_path: Path) -> None:
    rng = random.Random(1234)
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        cfg = (
            '[server]\nlog_level = "warn"\n[server.timeouts]\nretry_budget_ms = 0\n'
            '[router]\ndefault = "main"\nauto_map = true\n'
            + anthropic_provider("one", one.url)
            + anthropic_provider("two", two.url)
            + model_block("main", [("one", "m1"), ("two", "m2")])
        )
        injected = 0
        async with run_router(cfg, tmp_path) as router:
            body = orjson.dumps(
                {
                    "model": "claude-x",
                    "max_tokens": 50,
                    "stream": True,
                    "messages": [{"role": "user", "content": "Reply with exactly: soak"}],
                }
            )
            results = {"ok": 0, "error": 0, "http_error": 0}
            rss_mid = 0
            conn = aiohttp.TCPConnector(limit=CONCURRENCY)
            async with aiohttp.ClientSession(connector=conn) as http:

                async def one_request(i: int) -> None:
                    nonlocal injected
                    if i % 500 == 0:  # the mocks record every request; keep their memory out of the figure
                        one.requests.clear()
                        two.requests.clear()
                    if rng.random() < 0.10:
                        injected += 1
                        kind = rng.choice(FAULT_KINDS)
                        target = one if rng.random() < 0.7 else two
                        if kind.startswith("status"):
                            target.add_fault(Fault(kind="status", status=int(kind[6:])))
                        else:
                            target.add_fault(Fault(kind=kind))
                    async with http.post(router.url + "/v1/messages", data=body, headers={"x-api-key": "k"}) as r:
                        data = await r.read()
                    if r.status != 200:
                        err = orjson.loads(data)
                        assert err["type"] == "error" and err["error"]["type"], data[:200]
                        results["http_error"] += 1
                    else:
                        results[check_stream(data)] += 1

                half = N // 5

                async def run_range(start: int, stop: int) -> None:
                    # CONCURRENCY workers pull from one counter: no task per request piles up.
                    numbers = iter(range(start, stop))

                    async def worker() -> None:
                        for i in numbers:
                            await one_request(i)

                    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

                await run_range(0, half)
                gc.collect()
                rss_mid = current_rss_kb()
                await run_range(half, N)
            await asyncio.sleep(0.2)
            holder = router.server.holder
            assert holder is not None
            assert holder.active_streams == 0
            # Upstream connections are back in the pool or closed, none held by a finished request.
            for transport in holder.current.transports.values():
                pool = transport.pool  # type: ignore[attr-defined]
                assert pool.in_use == 0
        gc.collect()
        one.requests.clear()
        two.requests.clear()
        gc.collect()
        rss_end = current_rss_kb()
        total = sum(results.values())
        print(
            f"soak: requests={total} faults_injected={injected} results={results} "
            f"rss_after_2000={rss_mid // 1024}MB rss_end={rss_end // 1024}MB"
        )
        assert total == N
        assert injected > N // 20
        assert results["ok"] > N * 0.85
        # Memory is flat: less than 15 MB of growth over the last 80 % of the run (test client, router and
        # mocks all live in this process).
        assert rss_end - rss_mid < 15 * 1024
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == [], leftover
