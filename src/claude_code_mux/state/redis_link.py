"""One instance's link to Redis: the client, the key prefix, and whether the link is healthy.

Every caller goes through :meth:`RedisLink.call`, which bounds the call's time and turns any Redis failure into
``None`` with the link marked degraded (one loud warning per outage, one line when it comes back). Requests then
carry on with this instance's local state; nothing waits on a dead Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as redis_async
from redis.exceptions import RedisError

T = TypeVar("T")
log = logging.getLogger("claude_code_mux.state")


class RedisLink:
    def __init__(self, url: str, prefix: str = "ccm:", timeout_s: float = 1.5) -> None:
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.client: redis_async.Redis = redis_async.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False
        )
        self.degraded_since: float | None = None
        self.failures = 0
        self.on_recover: list[Callable[[], Awaitable[None]]] = []
        self.probe_s = 1.0
        self._probe: asyncio.Task[None] | None = None

    def __repr__(self) -> str:  # the URL may carry a password: never shown
        return f"RedisLink(prefix={self.prefix!r}, degraded={self.degraded})"

    @property
    def degraded(self) -> bool:
        return self.degraded_since is not None

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def call(self, fn: Callable[[], Awaitable[T]], what: str = "") -> T | None:
        """Run one Redis operation; ``None`` (and degraded) when Redis cannot answer in time.

        While degraded, calls return ``None`` at once (a request never waits on a dead Redis); a background probe
        pings every ``probe_s`` and, when Redis answers, runs the ``on_recover`` hooks (resync).
        """
        if self.degraded_since is not None:
            self._ensure_probe()
            return None
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                out = await fn()
        except (RedisError, OSError, TimeoutError) as exc:
            self.failures += 1
            if self.degraded_since is None:
                self.degraded_since = time.time()
                log.warning(
                    "Redis unreachable (%s%s): serving on this instance's local state until it is back",
                    type(exc).__name__,
                    f" during {what}" if what else "",
                )
            self._ensure_probe()
            return None
        return out

    def _ensure_probe(self) -> None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_back(), name="redis-probe")

    async def _probe_until_back(self) -> None:
        while self.degraded_since is not None:
            await asyncio.sleep(self.probe_s)
            try:
                async with asyncio.timeout(self.timeout_s * 2):
                    await self.client.ping()
            except (RedisError, OSError, TimeoutError):
                continue
            down = time.time() - self.degraded_since
            self.degraded_since = None
            log.warning("Redis is back after %.1fs: resynchronising shared state", down)
            for hook in list(self.on_recover):
                try:
                    await hook()
                except Exception:  # one failed resync must not stop the others
                    log.exception("resync after Redis recovery failed")

    async def ping(self) -> bool:
        return bool(await self.call(self.client.ping, "ping"))

    def status(self) -> dict[str, Any]:
        return {"backend": "redis", "ok": not self.degraded, "degraded_since": self.degraded_since}

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        await self.client.aclose()
