"""Health, quota readings and sticky sessions shared by a fleet: local state, replicated through Redis.

Routing reads its state synchronously on every request, so each instance keeps its own copy (as one process
always did) and the fleet keeps the copies in step: every change made here — a cooldown after a 529, a quota
reading off an answer, a session pinned to an account — is written to a Redis hash (for instances that start
later or missed messages during an outage) and published on one channel; every instance applies what the others
publish. Changes arrive within milliseconds; applying one never re-announces it. A config change made through one
instance's admin API is announced the same way, and every other instance re-reads the shared config file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from claude_code_mux.accounts.quota import parse_headers
from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.routing.health import Health
from claude_code_mux.state.redis_link import RedisLink

log = logging.getLogger("claude_code_mux.state")


class Replicator:
    def __init__(
        self,
        link: RedisLink,
        health: Health,
        accounts: Callable[[], AccountRouter | None],
        on_config: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        self.link = link
        self.health = health
        self.accounts = accounts
        self.on_config = on_config
        self.instance = secrets.token_hex(6)
        self.channel = link.key("events")
        self._cool = link.key("cool")
        self._quota = link.key("quota")
        self._pins = link.key("pins")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.applied = 0  # events from other instances applied here (for tests and /health)

    # -- wiring --

    async def start(self) -> None:
        self.health.on_cooldown = self._cooldown
        self.attach(self.accounts())
        self.link.on_recover.append(self.load)
        await self.load()
        self._listener = asyncio.get_running_loop().create_task(self._listen(), name="fleet-events")

    def attach(self, router: AccountRouter | None) -> None:
        """Hook a (new) account router: readings and pins made through it are shared."""
        if router is not None:
            router.on_reading = self._reading
            router.on_pin = self._pin

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for t in list(self._tasks):
            t.cancel()

    # -- outgoing --

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _publish(self, event: dict[str, Any], hash_key: str | None = None, field: str | None = None) -> None:
        event["from"] = self.instance
        data = orjson.dumps(event)
        client = self.link.client

        async def send() -> None:
            async def ops() -> None:
                pipe = client.pipeline(transaction=False)
                if hash_key is not None and field is not None:
                    pipe.hset(hash_key, field, data)
                pipe.publish(self.channel, data)
                await pipe.execute()

            await self.link.call(ops, "fleet event")

        self._spawn(send())

    def _cooldown(self, provider: str, family: str, seconds: float) -> None:
        until = time.time() + seconds
        self._publish({"kind": "cool", "p": provider, "f": family, "until": until}, self._cool, f"{provider}|{family}")

    def _reading(self, account: str, model: str, headers: Mapping[str, str], at: float) -> None:
        evt = {"kind": "quota", "a": account, "m": model, "h": dict(headers), "at": at}
        self._publish(evt, self._quota, f"{account}|{model}")

    def _pin(self, session: str, provider: str, account: str, expires: float) -> None:
        self._publish({"kind": "pin", "s": session, "p": provider, "a": account, "exp": expires}, self._pins, session)

    def config_changed(self, digest: str) -> None:
        """Tell the fleet that the shared config file changed (after this instance applied it)."""
        self._publish({"kind": "config", "digest": digest})

    # -- incoming --

    async def _listen(self) -> None:
        while True:
            pubsub = self.link.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for msg in pubsub.listen():
                    if msg.get("type") == "message":
                        await self._apply_raw(msg.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: the link's probe resyncs; we re-subscribe
                log.debug("fleet event listener: %s", type(exc).__name__)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _apply_raw(self, data: Any) -> None:
        try:
            evt = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            return
        if not isinstance(evt, dict) or evt.get("from") == self.instance:
            return
        await self._apply(evt)

    async def _apply(self, evt: dict[str, Any]) -> None:
        kind = evt.get("kind")
        now = time.time()
        try:
            if kind == "cool":
                left = float(evt["until"]) - now
                if left > 0:
                    self.health.apply_cooldown(str(evt["p"]), str(evt["f"]), left)
            elif kind == "quota":
                router = self.accounts()
                reading = parse_headers(evt["h"], float(evt["at"]))
                if router is not None and reading is not None:
                    router.apply_reading(str(evt["a"]), str(evt["m"]), reading)
            elif kind == "pin":
                router = self.accounts()
                exp = float(evt["exp"])
                if router is not None and exp > now:
                    router.sticky.pin(str(evt["s"]), str(evt["p"]), str(evt["a"]), exp - router.sticky.ttl_s)
            elif kind == "config" and self.on_config is not None:
                await self.on_config("config changed on another instance")
            else:
                return
        except (KeyError, TypeError, ValueError):
            return
        self.applied += 1

    async def load(self) -> None:
        """Catch up from the shared hashes (at start, and after Redis comes back)."""
        client = self.link.client
        for key in (self._cool, self._quota, self._pins):
            entries = await self.link.call(lambda k=key: client.hgetall(k), "fleet load")  # type: ignore[misc]
            stale: list[Any] = []
            for field, data in (entries or {}).items():
                try:
                    evt = orjson.loads(data)
                except orjson.JSONDecodeError:
                    continue
                if evt.get("kind") == "pin" and float(evt.get("exp", 0)) <= time.time():
                    stale.append(field)
                    continue
                if evt.get("kind") == "cool" and float(evt.get("until", 0)) <= time.time():
                    stale.append(field)
                    continue
                await self._apply(evt)
            if stale:
                await self.link.call(lambda k=key, s=stale: client.hdel(k, *s), "fleet prune")  # type: ignore[misc]
