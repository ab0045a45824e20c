"""Budget spend shared by a fleet: one Redis counter per scope and period (``INCRBYFLOAT``).

Implements :class:`claude_code_mux.budgets.ledger.SpendLedger`. A counter that does not exist yet is seeded once
(``SET NX``) from this instance's durable ledger (the usage store), so spend recorded before the fleet shared
Redis still counts. While Redis is unreachable the local ledger answers (the budget then holds per instance)
and what was settled meanwhile is added to Redis when it returns.
"""

from __future__ import annotations

from claude_code_mux.budgets.ledger import Scope, SpendLedger
from claude_code_mux.state.redis_link import RedisLink

_TTL_S = 400 * 86400  # longer than any period but "total"; a counter of a past period expires by itself


class RedisLedger:
    def __init__(self, link: RedisLink, local: SpendLedger) -> None:
        self.link = link
        self.local = local
        self._unsent: dict[tuple[str, float], float] = {}
        self._scopes: dict[str, Scope] = {}
        link.on_recover.append(self._flush)

    def _key(self, scope: Scope, since: float) -> str:
        return self.link.key("budget", str(scope), f"{since:.0f}")

    async def spent(self, scope: Scope, since: float) -> float:
        key = self._key(scope, since)
        raw = await self.link.call(lambda: self.link.client.get(key), "budget read")
        if raw is None and not self.link.degraded:
            seed = await self.local.spent(scope, since)
            await self.link.call(lambda: self.link.client.set(key, repr(seed), nx=True, ex=_TTL_S), "budget seed")
            raw = await self.link.call(lambda: self.link.client.get(key), "budget read")
        if raw is None:
            return await self.local.spent(scope, since)
        return float(raw)

    async def add(self, scope: Scope, since: float, usd: float) -> None:
        await self.local.add(scope, since, usd)
        if usd <= 0:
            return
        await self.spent(scope, since)  # make sure the counter exists (seeded) before adding to it
        key = self._key(scope, since)
        done = await self.link.call(lambda: self.link.client.incrbyfloat(key, usd), "budget add")
        if done is None:
            k = (str(scope), since)
            self._unsent[k] = self._unsent.get(k, 0.0) + usd
            self._scopes[k[0]] = scope

    async def _flush(self) -> None:
        pending, self._unsent = self._unsent, {}
        for (name, since), usd in pending.items():
            scope = self._scopes.get(name)
            if scope is not None:
                await self._incr(self._key(scope, since), usd)

    async def _incr(self, key: str, usd: float) -> None:
        await self.link.call(lambda: self.link.client.incrbyfloat(key, usd), "budget resync")
