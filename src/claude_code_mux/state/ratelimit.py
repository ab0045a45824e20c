"""Rate limits enforced across the fleet: one token bucket per client in Redis, taken atomically by a Lua script.

``rate_limit_rps`` then means requests per second for the whole fleet, not per instance. While Redis is
unreachable each instance falls back to its own local bucket (the limit then holds per instance).
"""

from __future__ import annotations

import time
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


class LocalBuckets(Protocol):
    def take(self, client: str, rate: float, burst: int) -> float: ...


class FleetRateLimiter:
    """``take`` answers 0 (allowed) or the seconds to wait, for the fleet as a whole."""

    def __init__(self, link: RedisLink, local: LocalBuckets, clock: Callable[[], float] = time.time) -> None:
        self.link = link
        self.local = local
        self.clock = clock

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
