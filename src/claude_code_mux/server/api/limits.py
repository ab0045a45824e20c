"""Per-client limits: a token-bucket rate limit and a cap on concurrent requests.

Clients are told apart by who they really are: the identity that authenticated (``key:<name>`` for the router
key), else their address (``addr:<ip>``) — never by a header the client can vary at will. Idle buckets are
evicted (a bucket that has refilled is the same as a new one), so random identities cannot grow memory. A
refusal is a 429 ``rate_limit_error`` with ``retry-after`` so Claude Code backs off on its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from claude_code_mux.config.schema import ServerConfig
from claude_code_mux.errors import RateLimited

if TYPE_CHECKING:
    from claude_code_mux.state.ratelimit import FleetRateLimiter

_SWEEP_EVERY_S = 30.0
# The login and OAuth endpoints are limited even when server.rate_limit_rps is off.
AUTH_PREFIXES = ("/auth/", "/api/oauth/")


@dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float
    full_after: float  # seconds of idleness after which the bucket is full again


@dataclass
class Limiter:
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, Bucket] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    _next_sweep: float = 0.0
    # With [state] backend = "redis": the limits hold for the whole fleet (see admit_async).
    fleet: FleetRateLimiter | None = None

    def take(self, client: str, rate: float, burst: int) -> float:
        """Take one token; returns 0 when allowed, else the seconds until a token is available."""
        now = self.clock()
        if now >= self._next_sweep:
            self.sweep(now)
        cap = float(max(burst, 1))
        b = self.buckets.get(client)
        if b is None:
            b = self.buckets[client] = Bucket(cap, now, cap / rate)
        b.tokens = min(cap, b.tokens + (now - b.updated) * rate)
        b.updated = now
        b.full_after = cap / rate
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        return (1 - b.tokens) / rate

    def sweep(self, now: float) -> None:
        """Forget buckets that have refilled (they behave exactly like a new one)."""
        self._next_sweep = now + _SWEEP_EVERY_S
        stale = [k for k, b in self.buckets.items() if now - b.updated >= b.full_after]
        for k in stale:
            del self.buckets[k]

    def acquire(self, client: str, cap: int) -> Callable[[], None] | None:
        """Count one more request in flight for ``client``; None when ``cap`` are already running."""
        n = self.in_flight.get(client, 0)
        if n >= cap:
            return None
        self.in_flight[client] = n + 1

        def release() -> None:
            left = self.in_flight.get(client, 1) - 1
            if left <= 0:
                self.in_flight.pop(client, None)
            else:
                self.in_flight[client] = left

        return release


def _no_release() -> None:
    return None


def admit(limiter: Limiter, s: ServerConfig, method: str, path: str, identity: str) -> Callable[[], None]:
    """Apply the rate limit and the concurrency cap to one request from ``identity``.

    Raises :class:`RateLimited` when refused; otherwise returns what to call when the request is over.
    """
    plan = _plan(s, method, path, identity)
    if plan is None:
        return _no_release
    bucket, rate, burst, cap = plan
    if rate > 0:
        _refuse_rate(limiter.take(bucket, rate, burst), rate, burst)
    if not cap:
        return _no_release
    return _refuse_cap(limiter.acquire(identity, cap), cap)


async def admit_async(limiter: Limiter, s: ServerConfig, method: str, path: str, identity: str) -> Callable[[], None]:
    """:func:`admit`, for the whole fleet when the limiter has one (``[state] backend = "redis"``)."""
    fleet = limiter.fleet
    if fleet is None:
        return admit(limiter, s, method, path, identity)
    plan = _plan(s, method, path, identity)
    if plan is None:
        return _no_release
    bucket, rate, burst, cap = plan
    if rate > 0:
        _refuse_rate(await fleet.take(bucket, rate, burst), rate, burst)
    if not cap:
        return _no_release
    return _refuse_cap(await fleet.acquire(identity, cap), cap)


def _plan(s: ServerConfig, method: str, path: str, identity: str) -> tuple[str, float, int, int] | None:
    """(bucket, rate, burst, stream cap or 0) for a request, or None when no limit applies."""
    auth_path = path.startswith(AUTH_PREFIXES)
    if not auth_path and not path.startswith("/v1/"):
        return None
    rate = s.rate_limit_rps if not auth_path else (s.rate_limit_rps or 2.0)
    burst = s.rate_limit_burst if not auth_path else (s.rate_limit_burst or 30)
    cap = s.max_streams_per_client
    capped = cap > 0 and method == "POST" and path.startswith("/v1/messages")
    return ("auth|" if auth_path else "") + identity, rate, burst or max(int(rate), 1), cap if capped else 0


def _refuse_rate(wait: float, rate: float, burst: int) -> None:
    if wait > 0:
        raise RateLimited(
            f"rate limit of claude-code-mux exceeded ({rate:g} requests/s, burst {burst}); retry later",
            headers={"retry-after": str(max(1, math.ceil(wait)))},
        )


def _refuse_cap(release: Callable[[], None] | None, cap: int) -> Callable[[], None]:
    if release is None:
        raise RateLimited(
            f"too many concurrent requests from this client ({cap} allowed; server.max_streams_per_client)",
            headers={"retry-after": "1"},
        )
    return release
