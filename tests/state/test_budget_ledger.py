"""A budget holds across two router instances that share Redis (each with its own home and usage.db)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_code_mux.access.gate import AccessGate
from claude_code_mux.budgets.ledger import SqliteLedger
from claude_code_mux.config.load import parse_config
from claude_code_mux.errors import RateLimited
from claude_code_mux.state.budget_ledger import RedisLedger
from claude_code_mux.state.redis_link import RedisLink
from tests.access.test_gate import BODY, CONFIG, USAGE, Clock, Router
from tests.state.redis_server import RedisServer


async def test_budget_holds_across_two_instances_sharing_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    clock = Clock()
    cfg = parse_config(CONFIG)
    links = [RedisLink(redis_server.url, "budget-test:"), RedisLink(redis_server.url, "budget-test:")]
    gates = [
        AccessGate(
            cfg,
            tmp_path / f"i{i}",
            clock=clock,
            ledger=RedisLedger(links[i], SqliteLedger(tmp_path / f"i{i}" / "usage.db", clock=clock)),
        )
        for i in range(2)
    ]
    for i, g in enumerate(gates):
        (tmp_path / f"i{i}").mkdir()
        await g.start(watch_interval_s=0.05)
    try:
        a, b = Router(gates[0], cfg), Router(gates[1], cfg)
        blocked = {"x-api-key": "rk-shared", "x-ccm-project": "blocked-repo"}
        await a.request(blocked, BODY, USAGE)  # $0.0225 on instance A
        await b.request(blocked, BODY, USAGE)  # $0.0225 on instance B: $0.045 for the fleet
        for router in (a, b):  # the next request would cross $0.05, wherever it lands
            with pytest.raises(RateLimited, match=r"\$0.0450 spent this day"):
                await router.request(blocked, BODY, USAGE)
        assert len(a.dispatched) == 1 and len(b.dispatched) == 1
        clock.t += 86400  # a new period resets it
        await b.request(blocked, BODY, USAGE)
    finally:
        for g in gates:
            await g.close()
        for link in links:
            await link.close()
