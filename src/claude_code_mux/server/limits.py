"""Per-client limits: a token-bucket rate limit and a cap on concurrent requests, as a middleware.

Clients are told apart by their key (x-api-key / Bearer, hashed) or, without one, by address. A refusal is a
429 ``rate_limit_error`` with ``retry-after`` so Claude Code backs off on its own.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from claude_code_mux.config.schema import ServerConfig
from claude_code_mux.errors import RateLimited
from claude_code_mux.server.state import HOLDER

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LIMITED_PREFIXES = ("/v1/", "/auth/", "/api/oauth/")


@dataclass
class Bucket:
    tokens: float
    updated: float


@dataclass
class Limiter:
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, Bucket] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)

    def take(self, client: str, rate: float, burst: int) -> float:
        """Take one token; returns 0 when allowed, else the seconds until a token is available."""
        now = self.clock()
        cap = float(max(burst, 1))
        b = self.buckets.get(client)
        if b is None:
            b = self.buckets[client] = Bucket(cap, now)
        b.tokens = min(cap, b.tokens + (now - b.updated) * rate)
        b.updated = now
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        if len(self.buckets) > 10_000:  # forget idle clients
            self.buckets = {k: v for k, v in self.buckets.items() if now - v.updated < 3600}
        return (1 - b.tokens) / rate


def client_id(headers: Mapping[str, str], remote: str | None) -> str:
    key = headers.get("x-api-key")
    if not key:
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if key:
        return "k:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return "a:" + (remote or "?")


LIMITER: web.AppKey[Limiter] = web.AppKey("limiter", Limiter)


def _no_release() -> None:
    return None


def admit(
    limiter: Limiter, s: ServerConfig, method: str, path: str, headers: Mapping[str, str], remote: str | None
) -> Callable[[], None]:
    """Apply the rate limit and the concurrency cap to one request.

    Raises :class:`RateLimited` when refused; otherwise returns what to call when the request is over.
    """
    if not path.startswith(_LIMITED_PREFIXES):
        return _no_release
    auth_path = not path.startswith("/v1/")
    rate = s.rate_limit_rps if not auth_path else (s.rate_limit_rps or 2.0)
    burst = s.rate_limit_burst if not auth_path else (s.rate_limit_burst or 30)
    cap = s.max_streams_per_client
    capped = cap > 0 and method == "POST" and path.startswith("/v1/messages")
    if rate <= 0 and not capped:
        return _no_release
    cid = client_id(headers, remote)
    if rate > 0:
        wait = limiter.take(("auth|" if auth_path else "") + cid, rate, burst or max(int(rate), 1))
        if wait > 0:
            raise RateLimited(
                f"rate limit of claude-code-mux exceeded ({rate:g} requests/s, burst {burst}); retry later",
                headers={"retry-after": str(max(1, math.ceil(wait)))},
            )
    if not capped:
        return _no_release
    n = limiter.in_flight.get(cid, 0)
    if n >= cap:
        raise RateLimited(
            f"too many concurrent requests from this client ({cap} allowed; server.max_streams_per_client)",
            headers={"retry-after": "1"},
        )
    limiter.in_flight[cid] = n + 1

    def release() -> None:
        left = limiter.in_flight.get(cid, 1) - 1
        if left <= 0:
            limiter.in_flight.pop(cid, None)
        else:
            limiter.in_flight[cid] = left

    return release


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    s = request.app[HOLDER].current.config.server
    release = admit(request.app[LIMITER], s, request.method, request.path, request.headers, request.remote)
    try:
        return await handler(request)
    finally:
        release()


def setup(app: web.Application) -> None:
    app[LIMITER] = Limiter()
    app.middlewares.append(limits_middleware)
