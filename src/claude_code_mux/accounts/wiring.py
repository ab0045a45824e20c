"""Build the account router from the config: one pool per provider that lists several credentials."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from claude_code_mux.accounts.book import AccountBook, Limits
from claude_code_mux.accounts.pool import Pool
from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.accounts.sticky import StickyTable
from claude_code_mux.config.schema import Config
from claude_code_mux.providers.base import Provider


def build_account_router(
    cfg: Config,
    providers: Mapping[str, Provider],
    previous: AccountRouter | None = None,
    log: Callable[[str], None] | None = None,
) -> AccountRouter:
    """Pools from the config; readings, pins and round-robin positions carried over from ``previous``."""
    sub = cfg.subscription
    book = previous.book if previous is not None else AccountBook()
    book.limits = Limits(sub.soft_limit, sub.hard_limit)
    book.per_account = {}
    pools: dict[str, Pool] = {}
    for pc in cfg.providers:
        prov = providers.get(pc.name)
        if prov is None or not prov.accounts:
            continue
        old = previous.pools.get(pc.name) if previous is not None else None
        pool = Pool(prov.accounts, pc.strategy, pc.weights)
        if old is not None and tuple(old.accounts) == prov.accounts and old.strategy == pc.strategy:
            pool._current = old._current
        pools[pc.name] = pool
        if pc.soft_limit is not None or pc.hard_limit is not None:
            lim = Limits(pc.soft_limit or sub.soft_limit, pc.hard_limit or sub.hard_limit)
            for acc in prov.accounts:
                book.per_account[acc] = lim
    sticky = previous.sticky if previous is not None else StickyTable(sub.sticky_ttl_s)
    sticky.ttl_s = sub.sticky_ttl_s
    router = AccountRouter(pools=pools, book=book, sticky=sticky)
    if previous is not None:
        router.clock = previous.clock
        router.on_reading = previous.on_reading
        router.on_pin = previous.on_pin
    if log is not None:
        router.log = log
    elif previous is not None:
        router.log = previous.log
    return router
