"""The OAuth token store shared by a fleet: Redis for agreement, the local token file as the durable copy.

- ``locked()`` is one lock for the whole fleet: ``SET key token NX PX`` with expiry (a crashed holder cannot
  block the others for longer than ``lock_ttl_s``), renewed while held, released by compare-and-delete. Each
  acquisition takes a fencing number (``INCR``); a write carries it and Redis refuses a write whose number is
  older than the newest acquisition, so a holder that stalled past its expiry cannot overwrite a newer token.
  The token manager re-reads the record after acquiring, so a refresh made by another instance is used, not
  repeated: one refresh per login across the fleet.
- Every write goes to the local file first (0600, atomic), then to Redis: a token is never only in Redis.
- Redis unreachable: reads and writes use the file, the lock falls back to the file lock (safe on one host),
  and the instance says so once; when Redis is back, the newer copy of each login (by expiry) wins both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson

from claude_code_mux.auth.store import FileStore, TokenRecord, _TaskLock
from claude_code_mux.errors import OAuthError
from claude_code_mux.state.redis_link import RedisLink

log = logging.getLogger("claude_code_mux.state")

# KEYS: hash, fence counter. ARGV: field, value, fence. Write only if no newer lock holder exists.
_FENCED_HSET = """
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[3]) < cur then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class StaleLockHolder(OAuthError):
    """This instance's fleet lock expired and another instance took it; the write was refused."""


class RedisTokenStore:
    def __init__(self, link: RedisLink, durable: FileStore, *, lock_ttl_s: float = 30.0, lock_wait_s: float = 65.0):
        self.link = link
        self.durable = durable
        self.path = durable.path
        self.lock_ttl_s = lock_ttl_s
        self.lock_wait_s = lock_wait_s
        self._hash = link.key("tokens")
        self._lock_key = link.key("tokens", "lock")
        self._fence_key = link.key("tokens", "fence")
        self._tl = _TaskLock()
        self._fence: int | None = None  # set while this instance holds the fleet lock
        link.on_recover.append(self.resync)

    def __repr__(self) -> str:
        return f"RedisTokenStore({self.link!r}, durable={self.durable!r})"

    # -- reads --

    async def get(self, provider_id: str) -> TokenRecord | None:
        raw = await self.link.call(lambda: self.link.client.hget(self._hash, provider_id), "token read")
        if raw is None:
            return await self.durable.get(provider_id)
        try:
            return TokenRecord.from_json(provider_id, orjson.loads(raw))
        except (ValueError, orjson.JSONDecodeError):
            log.warning("ignoring a malformed shared token entry for %r; using the local copy", provider_id)
            return await self.durable.get(provider_id)

    async def all(self) -> list[TokenRecord]:
        shared = await self.link.call(lambda: self.link.client.hgetall(self._hash), "token list")
        local = {r.provider_id: r for r in await self.durable.all()}
        if shared:
            for k, v in shared.items():
                pid = k.decode() if isinstance(k, bytes) else str(k)
                with contextlib.suppress(ValueError, orjson.JSONDecodeError):
                    local[pid] = TokenRecord.from_json(pid, orjson.loads(v))
        return [local[k] for k in sorted(local)]

    # -- writes --

    async def put(self, record: TokenRecord) -> None:
        await self.durable.put(record)  # the durable copy first, always
        value = orjson.dumps(record.to_json())
        if self._fence is not None and self._tl.held_here():
            fence = self._fence
            ok = await self.link.call(
                lambda: self.link.client.eval(
                    _FENCED_HSET, 2, self._hash, self._fence_key, record.provider_id, value, str(fence)
                ),
                "token write",
            )
            if ok == 0:
                raise StaleLockHolder(
                    f"refused to overwrite the shared login '{record.provider_id}': this instance's lock expired "
                    "and another instance holds it now"
                )
        else:
            await self.link.call(lambda: self.link.client.hset(self._hash, record.provider_id, value), "token write")

    async def delete(self, provider_id: str) -> bool:
        removed = await self.durable.delete(provider_id)
        n = await self.link.call(lambda: self.link.client.hdel(self._hash, provider_id), "token delete")
        return removed or bool(n)

    # -- the fleet lock --

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        if self._tl.held_here():
            yield
            return
        async with self._tl.lock:
            self._tl.owner = asyncio.current_task()
            try:
                token = secrets.token_hex(16)
                fence = await self._acquire(token)
                if fence is None:  # Redis is down: the file lock keeps one host safe
                    async with self.durable.locked():
                        yield
                    return
                self._fence = fence
                renew = asyncio.get_running_loop().create_task(self._renew(token))
                try:
                    yield
                finally:
                    renew.cancel()
                    self._fence = None
                    await self.link.call(
                        lambda: self.link.client.eval(_RELEASE, 1, self._lock_key, token), "lock release"
                    )
            finally:
                self._tl.owner = None

    async def _acquire(self, token: str) -> int | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_wait_s
        ttl_ms = int(self.lock_ttl_s * 1000)
        delay = 0.005
        while True:
            got = await self.link.call(
                lambda: self.link.client.set(self._lock_key, token, nx=True, px=ttl_ms), "lock acquire"
            )
            if got is None and self.link.degraded:
                return None
            if got:
                fence = await self.link.call(lambda: self.link.client.incr(self._fence_key), "lock fence")
                return int(fence) if fence is not None else None
            if loop.time() > deadline:
                raise OAuthError(
                    f"timed out after {self.lock_wait_s:.0f}s waiting for the fleet's token lock "
                    f"({self._lock_key}); another instance may be stuck refreshing"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def _renew(self, token: str) -> None:
        ttl_ms = int(self.lock_ttl_s * 1000)
        while True:
            await asyncio.sleep(self.lock_ttl_s / 3)
            await self.link.call(lambda: self.link.client.eval(_RENEW, 1, self._lock_key, token, ttl_ms), "renew")

    async def _hset(self, provider_id: str, value: bytes) -> None:
        await self.link.call(lambda: self.link.client.hset(self._hash, provider_id, value), "token resync")

    # -- after an outage --

    async def resync(self) -> None:
        """Make Redis and the local file agree: for each login, the copy that expires later wins."""
        shared_raw: Any = await self.link.call(lambda: self.link.client.hgetall(self._hash), "token resync")
        shared: dict[str, TokenRecord] = {}
        for k, v in (shared_raw or {}).items():
            pid = k.decode() if isinstance(k, bytes) else str(k)
            with contextlib.suppress(ValueError, orjson.JSONDecodeError):
                shared[pid] = TokenRecord.from_json(pid, orjson.loads(v))
        for rec in await self.durable.all():
            other = shared.get(rec.provider_id)
            if other is None or rec.expires_at > other.expires_at:
                await self._hset(rec.provider_id, orjson.dumps(rec.to_json()))
            elif other.expires_at > rec.expires_at:
                await self.durable.put(other)
