"""Three router processes sharing one Redis behind a real HAProxy: what one instance learns, all of them know."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from tests.harness import anthropic_provider, model_block
from tests.mocks.anthropic import Fault, MockAnthropic
from tests.state.fleet_procs import run_fleet, stop_instance
from tests.state.redis_server import RedisServer

BODY = {"model": "main", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def config(redis_url: str, one: str, two: str, pool: str) -> str:
    return (
        '[router]\ndefault = "main"\n'
        + f'[state]\nbackend = "redis"\nurl = "{redis_url}"\nkey_prefix = "lb:"\n'
        + anthropic_provider("one", one)
        + anthropic_provider("two", two)
        + f'[[providers]]\nname = "pool"\nprovider_type = "anthropic"\nbase_url = "{pool}"\n'
        + 'api_keys = ["sk-a", "sk-b"]\nstrategy = "round_robin"\n'
        + model_block("main", [("one", "m1"), ("two", "m2")])
        + model_block("pooled", [("pool", "claude-sonnet-4-5")])
    )


async def test_fleet_shares_cooldowns_sessions_config_and_survives_a_kill(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        MockAnthropic(name="one") as one,
        MockAnthropic(name="two", chunks=40, delay_ms=20) as two,
        MockAnthropic(name="pool") as pool,
    ):
        one.add_fault(Fault(kind="status", status=529, times=1))
        text = config(redis_server.url, one.url, two.url, pool.url)
        async with run_fleet(text, tmp_path / "fleet") as fleet, httpx.AsyncClient(timeout=30) as c:
            a, b, d = fleet.instances
            # A 529 on instance a cools "one" down; b and d go straight to "two".
            r = await c.post(a.url + "/v1/messages", json=BODY)
            assert r.status_code == 200 and r.headers["x-ccm-provider"] == "two"
            await asyncio.sleep(0.3)
            for inst in (b, d):
                r = await c.post(inst.url + "/v1/messages", json=BODY)
                assert r.headers["x-ccm-provider"] == "two" and r.headers["x-ccm-attempts"] == "1"
            assert len(one.messages_requests()) == 1

            # A session keeps its account whichever instance serves it (round robin over the instances).
            hdrs = {"x-claude-code-session-id": "sess-lb-1"}
            first = await c.post(fleet.url + "/v1/messages", json={**BODY, "model": "pooled"}, headers=hdrs)
            account = first.headers["x-ccm-account"]
            await asyncio.sleep(0.3)
            for _ in range(6):
                r = await c.post(fleet.url + "/v1/messages", json={**BODY, "model": "pooled"}, headers=hdrs)
                assert r.headers["x-ccm-account"] == account and r.headers["x-ccm-sticky"] == "hit"

            # A router change made through instance b's admin API is applied by all within 3 s.
            r = await c.put(b.url + "/api/config/router", json={"default": "pooled"})
            assert r.status_code == 200, r.text
            t0 = time.monotonic()
            auto = {**BODY, "model": "claude-sonnet-4-5"}  # auto-mapped to router.default
            for inst in fleet.instances:
                while True:
                    r = await c.post(inst.url + "/v1/messages", json=auto)
                    if r.headers.get("x-ccm-provider") == "pool":
                        break
                    assert time.monotonic() - t0 < 3.0, f"{inst.url} did not apply the change"
                    await asyncio.sleep(0.05)

            # kill -9 one instance in the middle of a stream: that client sees a clean error, the rest carry on.
            stream_body = {**BODY, "model": "main", "stream": True}
            async with c.stream("POST", d.url + "/v1/messages", json=stream_body) as resp:
                got = b""
                chunks = resp.aiter_bytes()
                async for chunk in chunks:
                    got += chunk
                    if b"content_block_delta" in got:
                        break
                await stop_instance(d, signal.SIGKILL)
                try:
                    async for chunk in chunks:
                        got += chunk
                except httpx.HTTPError:
                    pass  # the clean error: the connection ends before the stream does
            assert b"message_stop" not in got
            await asyncio.sleep(1.0)  # HAProxy's health check takes it out
            rs = await asyncio.gather(*(c.post(fleet.url + "/v1/messages", json=BODY) for _ in range(12)))
            assert [x.status_code for x in rs] == [200] * 12
