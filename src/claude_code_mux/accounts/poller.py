"""Polling ``GET /api/oauth/usage`` for idle subscription accounts (``[subscription] poll_usage_s``, off by default).

Readings normally arrive for free on every answer. An account that served nothing for ``poll_usage_s`` has no
fresh reading, so its window may have filled elsewhere (claude.ai, another machine) or reset; one small GET
with the account's bearer tells. The fetch is injected (the server passes one built on its HTTP client), so this
module does no I/O of its own beyond sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from claude_code_mux.accounts.quota import parse_usage_body
from claude_code_mux.accounts.select import AccountRouter

log = logging.getLogger("claude_code_mux.accounts")

# (provider, account) -> the usage body, or None when it could not be read.
Fetch = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]


class UsagePoller:
    def __init__(self, router: Callable[[], AccountRouter | None], fetch: Fetch, every_s: float) -> None:
        self.router = router
        self.fetch = fetch
        self.every_s = every_s
        self.polls = 0

    def idle_accounts(self, now: float) -> list[tuple[str, str]]:
        """Pooled accounts whose newest reading is older than ``every_s`` (or that have none)."""
        r = self.router()
        if r is None:
            return []
        out: list[tuple[str, str]] = []
        for provider, pool in r.pools.items():
            for acc in pool.accounts:
                readings = r.book.readings(acc)
                newest = max((x.at for x in readings.values()), default=0.0)
                if now - newest >= self.every_s:
                    out.append((provider, acc))
        return out

    async def poll_once(self) -> int:
        r = self.router()
        if r is None:
            return 0
        n = 0
        for provider, acc in self.idle_accounts(r.clock()):
            try:
                body = await self.fetch(provider, acc)
            except Exception as exc:  # one account's failure must not stop the others
                log.debug("usage poll of %s failed: %s", acc, type(exc).__name__)
                continue
            reading = parse_usage_body(body, r.clock()) if body is not None else None
            if reading is not None:
                # A reading over every family: recorded under a neutral model name.
                r.apply_reading(acc, "*", reading)
                n += 1
        self.polls += 1
        return n

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self.poll_once()
