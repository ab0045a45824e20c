"""The shared-state parts of one instance, built from ``[state]``: nothing for ``memory``, Redis for a fleet."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.auth.store import TokenStore
from claude_code_mux.auth.wiring import token_store_for
from claude_code_mux.config.schema import Config
from claude_code_mux.routing.health import Health

if TYPE_CHECKING:  # redis loads only when [state] backend = "redis" (7 MB and 0.09 s of start-up otherwise)
    from claude_code_mux.state.redis_link import RedisLink
    from claude_code_mux.state.replica import Replicator

PROBE_EVERY_S = 2.0


class Fleet:
    """``link`` is None for the in-process backend; everything then behaves as one process always did."""

    def __init__(self, link: RedisLink | None) -> None:
        self.link = link
        self.replicator: Replicator | None = None
        self._probed_at = -PROBE_EVERY_S
        self._probes: set[asyncio.Task[bool]] = set()

    async def start(
        self,
        health: Health,
        accounts: Callable[[], AccountRouter | None],
        reload: Callable[[str], Awaitable[Any]],
    ) -> None:
        """Share health, quota readings and pins with the fleet, and re-read the config when another instance
        changes it."""
        if self.link is None or self.replicator is not None:
            return
        from claude_code_mux.state.replica import Replicator

        self.replicator = Replicator(self.link, health, accounts, reload)
        await self.replicator.start()

    def attach(self, accounts: AccountRouter | None) -> None:
        if self.replicator is not None:
            self.replicator.attach(accounts)

    def config_changed(self, digest: str) -> None:
        if self.replicator is not None:
            self.replicator.config_changed(digest)

    @classmethod
    def from_config(cls, cfg: Config) -> Fleet:
        st = cfg.state
        if st.backend != "redis" or st.url is None:
            return cls(None)
        from claude_code_mux.state.redis_link import RedisLink

        return cls(RedisLink(st.url.get_secret_value(), st.key_prefix, st.timeout_ms / 1000))

    def token_store(self, cfg: Config, home: Path) -> TokenStore:
        durable = token_store_for(cfg, home)
        if self.link is None:
            return durable
        from claude_code_mux.state.token_store import RedisTokenStore

        return RedisTokenStore(self.link, durable)

    def status(self) -> dict[str, Any]:
        """For ``/health``: the state backend's readiness. Never waits: at most every :data:`PROBE_EVERY_S` it
        starts a ping in the background, so an idle instance notices an outage (or a recovery) too."""
        if self.link is None:
            return {"backend": "memory", "ok": True}
        now = time.monotonic()
        if now - self._probed_at >= PROBE_EVERY_S and not self.link.degraded:
            self._probed_at = now
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule on
                task = asyncio.get_running_loop().create_task(self.link.ping())
                self._probes.add(task)
                task.add_done_callback(self._probes.discard)
        return self.link.status()

    async def close(self) -> None:
        if self.replicator is not None:
            await self.replicator.close()
        if self.link is not None:
            await self.link.close()
