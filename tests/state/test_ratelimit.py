"""The fleet rate limit: three limiters sharing one Redis hold N rps together, within 10 %."""

from __future__ import annotations

import asyncio
import time

from claude_code_mux.server.api.limits import Limiter
from claude_code_mux.state.ratelimit import FleetRateLimiter
from claude_code_mux.state.redis_link import RedisLink
from tests.state.redis_server import RedisServer


async def test_three_instances_share_one_bucket(redis_server: RedisServer) -> None:
    links = [RedisLink(redis_server.url, "rl-test:") for _ in range(3)]
    limiters = [FleetRateLimiter(link, Limiter()) for link in links]
    rate, burst, seconds = 20.0, 5, 2.0
    allowed = 0
    t0 = time.monotonic()
    i = 0
    try:
        while time.monotonic() - t0 < seconds:
            # Each "instance" is hammered in turn, far above the limit.
            waits = await asyncio.gather(*(limiters[(i + k) % 3].take("k:alice", rate, burst) for k in range(3)))
            allowed += sum(1 for w in waits if w == 0)
            i += 1
            await asyncio.sleep(0.005)
        elapsed = time.monotonic() - t0
        expected = burst + rate * elapsed
        assert abs(allowed - expected) <= 0.1 * expected, (allowed, expected)
        # Another client has its own bucket.
        assert await limiters[0].take("k:bob", rate, burst) == 0
    finally:
        for link in links:
            await link.close()


async def test_falls_back_to_local_buckets_when_redis_is_down(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url, "rl-test:")
    limiter = FleetRateLimiter(link, Limiter())
    await redis_server.stop()
    try:
        waits = [await limiter.take("k:alice", 1.0, 2) for _ in range(3)]
        assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # the local bucket still limits
        assert link.degraded
    finally:
        await link.close()


async def test_stream_cap_holds_across_instances_and_releases(redis_server: RedisServer) -> None:
    links = [RedisLink(redis_server.url, "cap-test:") for _ in range(2)]
    a, b = (FleetRateLimiter(link, Limiter()) for link in links)
    try:
        r1 = await a.acquire("k:alice", 2)
        r2 = await b.acquire("k:alice", 2)
        assert r1 is not None and r2 is not None
        assert await a.acquire("k:alice", 2) is None  # two open across the fleet: the third is refused
        assert await b.acquire("k:alice", 2) is None
        assert await b.acquire("k:bob", 2) is not None  # per client
        r1()  # fire-and-forget ZREM
        for _ in range(50):
            if await links[0].client.zcard("cap-test:streams:k:alice") == 1:
                break
            await asyncio.sleep(0.01)
        r3 = await b.acquire("k:alice", 2)
        assert r3 is not None
        # A lease whose instance died without releasing it expires: move the clock past the lease.
        late = FleetRateLimiter(links[1], Limiter(), clock=lambda: time.time() + 901)
        assert await late.acquire("k:alice", 2) is not None
    finally:
        for link in links:
            await link.close()


async def test_stream_cap_falls_back_to_the_local_counter(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url, "cap-test:")
    local = Limiter()
    limiter = FleetRateLimiter(link, local)
    await redis_server.stop()
    try:
        first = await limiter.acquire("k:alice", 1)
        assert first is not None and link.degraded
        assert await limiter.acquire("k:alice", 1) is None  # the local cap still holds
        first()
        assert local.in_flight == {}
    finally:
        await link.close()
