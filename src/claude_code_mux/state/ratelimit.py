"""Rate limits enforced across the fleet: one token bucket per client in Redis, taken atomically by a Lua script,
and the per-client stream cap as a sorted set of leases.

``rate_limit_rps`` then means requests per second for the whole fleet, not per instance, and
``max_streams_per_client`` streams across the fleet. While Redis is unreachable each instance falls back to its
own local bucket and counter (the limits then hold per instance). A stream's lease expires after
:data:`STREAM_LEASE_S` even if its instance died without releasing it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from claude_code_mux.state.redis_link import RedisLink

# KEYS[1]: the bucket. ARGV: rate (tokens/s), capacity, now (s, float), ttl (ms).
# Returns 0 when a token was taken, else the milliseconds until one is available.
_TAKE = """
local b = redis.call('HMGET', KEYS[1], 't', 'u')
local rate, cap, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, updated = tonumber(b[1]), tonumber(b[2])
if tokens == nil then tokens = cap; updated = now end
tokens = math.min(cap, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'u', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return wait
"""


# KEYS[1]: the client's leases. ARGV: now (s), cap, member, lease (s). Returns 1 when a slot was taken, else 0.
_ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[4])) + 1)
return 1
"""
STREAM_LEASE_S = 900.0


class LocalBuckets(Protocol):
    def take(self, client: str, rate: float, burst: int) -> float: ...

    def acquire(self, client: str, cap: int) -> Callable[[], None] | None: ...


class FleetRateLimiter:
    """``take`` answers 0 (allowed) or the seconds to wait, for the fleet as a whole."""

    def __init__(self, link: RedisLink, local: LocalBuckets, clock: Callable[[], float] = time.time) -> None:
        self.link = link
        self.local = local
        self.clock = clock
        self._releases: set[asyncio.Task[object]] = set()

    async def take(self, client: str, rate: float, burst: int) -> float:
        cap = max(burst, 1)
        key = self.link.key("rl", client)
        ttl_ms = int(max(cap / rate, 1.0) * 2000)  # an idle bucket is full again by then: forget it
        now = self.clock()
        wait_ms = await self.link.call(
            lambda: self.link.client.eval(_TAKE, 1, key, repr(rate), str(cap), repr(now), str(ttl_ms)), "rate limit"
        )
        if wait_ms is None:
            return self.local.take(client, rate, burst)
        return float(wait_ms) / 1000.0

    async def acquire(self, client: str, cap: int) -> Callable[[], None] | None:
        """One more stream for ``client`` across the fleet; None when ``cap`` are open. The release is
        fire-and-forget (a lost release expires with its lease)."""
        key = self.link.key("streams", client)
        member = uuid.uuid4().hex
        lease = STREAM_LEASE_S
        got = await self.link.call(
            lambda: self.link.client.eval(_ACQUIRE, 1, key, repr(self.clock()), str(cap), member, repr(lease)),
            "stream cap",
        )
        if got is None:
            return self.local.acquire(client, cap)
        if not int(got):
            return None

        def release() -> None:
            task = asyncio.get_running_loop().create_task(
                self.link.call(lambda: self.link.client.zrem(key, member), "stream cap")
            )
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

        return release
