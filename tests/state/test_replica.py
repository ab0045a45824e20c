"""Cooldowns, quota readings, pins and config notices made on one instance reach the others through Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from claude_code_mux.accounts.book import AccountBook
from claude_code_mux.accounts.pool import Pool
from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.accounts.sticky import StickyTable
from claude_code_mux.routing.health import Health
from claude_code_mux.routing.types import Candidate
from claude_code_mux.state.redis_link import RedisLink
from claude_code_mux.state.replica import Replicator
from tests.state.redis_server import RedisServer

P = "anthropic-ratelimit-unified-"
CANDS = [Candidate("max", "claude-sonnet-4-5", 1), Candidate("key", "claude-sonnet-4-5", 2)]


def router() -> AccountRouter:
    return AccountRouter(pools={"max": Pool(["a", "b"])}, book=AccountBook(), sticky=StickyTable())


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not replicated in time"
        await asyncio.sleep(0.01)


async def test_state_made_on_one_instance_is_seen_by_the_other(redis_server: RedisServer) -> None:
    links = [RedisLink(redis_server.url, "rep:"), RedisLink(redis_server.url, "rep:")]
    healths = [Health(), Health()]
    routers = [router(), router()]
    reloads: list[str] = []

    async def on_config(why: str) -> None:
        reloads.append(why)

    reps = [Replicator(links[i], healths[i], lambda i=i: routers[i], on_config) for i in range(2)]
    for r in reps:
        await r.start()
    try:
        await asyncio.sleep(0.1)  # both subscribed
        # A 529 cooldown on instance 0 is honoured by instance 1.
        healths[0].record_failure("zai", "glm-4.6", 30)
        await eventually(lambda: healths[1].cooling("zai", "glm-4.6") > 25)
        # A quota reading on instance 0 (max account "a" over its hard limit) steers instance 1 too.
        now = time.time()
        hdrs = {P + "status": "rejected", P + "representative-claim": "five_hour", P + "reset": str(int(now + 600))}
        routers[0].observe(Candidate("max", "claude-sonnet-4-5", 1, "a"), hdrs, now)
        await eventually(lambda: routers[1].expand(CANDS, None, time.time()).candidates[0].account == "b")
        # A session pinned on instance 0 is a sticky hit on instance 1.
        exp = routers[0].expand(CANDS, "sid:42", time.time())
        assert routers[0].served(exp, exp.candidates[0], time.time()) == "new"
        await eventually(lambda: routers[1].sticky.get("sid:42", time.time()) is not None)
        exp1 = routers[1].expand(CANDS, "sid:42", time.time())
        assert routers[1].served(exp1, exp1.candidates[0], time.time()) == "hit"
        # A config change announced by instance 1 makes instance 0 re-read the file, not instance 1 itself.
        reps[1].config_changed("abc")
        await eventually(lambda: reloads == ["config changed on another instance"])
        # An instance that starts later catches up from the shared hashes.
        late_health, late_router = Health(), router()
        late = Replicator(RedisLink(redis_server.url, "rep:"), late_health, lambda: late_router)
        await late.start()
        assert late_health.cooling("zai", "glm-4.6") > 20
        assert late_router.sticky.get("sid:42", time.time()) is not None
        assert late_router.book.state("a", "claude-sonnet-4-5", time.time()).state == "hard"
        await late.close()
        await late.link.close()
    finally:
        for r in reps:
            await r.close()
        for link in links:
            await link.close()
