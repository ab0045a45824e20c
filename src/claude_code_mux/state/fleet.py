"""The shared-state parts of one instance, built from ``[state]``: nothing for ``memory``, Redis for a fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claude_code_mux.auth.store import TokenStore
from claude_code_mux.auth.wiring import token_store_for
from claude_code_mux.config.schema import Config
from claude_code_mux.state.redis_link import RedisLink
from claude_code_mux.state.token_store import RedisTokenStore


class Fleet:
    """``link`` is None for the in-process backend; everything then behaves as one process always did."""

    def __init__(self, link: RedisLink | None) -> None:
        self.link = link

    @classmethod
    def from_config(cls, cfg: Config) -> Fleet:
        st = cfg.state
        if st.backend != "redis" or st.url is None:
            return cls(None)
        return cls(RedisLink(st.url.get_secret_value(), st.key_prefix, st.timeout_ms / 1000))

    def token_store(self, cfg: Config, home: Path) -> TokenStore:
        durable = token_store_for(cfg, home)
        if self.link is None:
            return durable
        return RedisTokenStore(self.link, durable)

    def status(self) -> dict[str, Any]:
        """For ``/health``: the state backend's readiness."""
        if self.link is None:
            return {"backend": "memory", "ok": True}
        return self.link.status()

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()
