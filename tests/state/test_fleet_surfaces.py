"""What a team sees of its fleet: three real routers sharing one Redis behind a real HAProxy.

The admin feed of any instance shows every instance's requests; ``rate_limit_rps`` holds for the fleet as a whole
(within 10 %), not per instance; ``/health`` says ``degraded`` (still 200: requests flow) while Redis is down and
``ok`` once it is back.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson
import pytest

from claude_code_mux.cli.main import main
from tests.harness import anthropic_provider, model_block
from tests.mocks.anthropic import MockAnthropic
from tests.state.fleet_procs import run_fleet
from tests.state.redis_server import RedisServer

BODY = {"model": "main", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def config(redis_url: str, upstream: str, prefix: str, server: str = "") -> str:
    return (
        (f"[server]\n{server}\n" if server else "")
        + '[router]\ndefault = "main"\n'
        + f'[state]\nbackend = "redis"\nurl = "{redis_url}"\nkey_prefix = "{prefix}"\n'
        + anthropic_provider("one", upstream)
        + model_block("main", [("one", "m1")])
    )


async def next_event(lines: object, timeout: float) -> dict[str, object]:
    async def read() -> dict[str, object]:
        async for line in lines:  # type: ignore[attr-defined]
            if line.startswith("data: "):
                data = orjson.loads(line[6:])
                assert isinstance(data, dict)
                return data
        raise AssertionError("the feed ended")

    return await asyncio.wait_for(read(), timeout)


async def test_feed_of_one_instance_shows_the_whole_fleet(tmp_path: Path, redis_server: RedisServer) -> None:
    async with MockAnthropic(name="one") as one:
        text = config(redis_server.url, one.url, "feed:")
        async with run_fleet(text, tmp_path / "fleet") as fleet, httpx.AsyncClient(timeout=30) as c:
            first, _, third = fleet.instances
            async with c.stream("GET", first.url + "/api/requests/stream") as live:
                lines = live.aiter_lines()
                r = await c.post(third.url + "/v1/messages", json=BODY, headers={"x-request-id": "served-by-3"})
                assert r.status_code == 200
                event = await next_event(lines, 5.0)
            assert event["request_id"] == "served-by-3"
            assert str(event["instance"]).endswith(f":{third.port}")
            assert event["status"] == 200 and event["provider"] == "one"

            # The recent list of instance 1 has it too, and one from each instance after a round through the LB.
            for i in range(3):
                await c.post(fleet.url + "/v1/messages", json=BODY, headers={"x-request-id": f"lb-{i}"})
            want = {"lb-0", "lb-1", "lb-2", "served-by-3"}
            deadline = time.monotonic() + 5
            while True:  # each instance writes its entries after its answer, in its own time
                got = (await c.get(first.url + "/api/requests?limit=10")).json()
                assert got["fleet"] is True
                entries = {x["request_id"]: x for x in got["requests"]}
                if want <= set(entries):
                    break
                assert time.monotonic() < deadline, list(entries)
                await asyncio.sleep(0.1)
            assert len(got["requests"]) == 4
            ports = {entries[f"lb-{i}"]["instance"].rsplit(":", 1)[1] for i in range(3)}
            assert ports == {str(i.port) for i in fleet.instances}  # HAProxy's round robin: one each


async def test_global_rate_limit_holds_within_ten_percent(tmp_path: Path, redis_server: RedisServer) -> None:
    # The burst is the rate: under overload the bucket never fills, so no token is lost to the cap (with a burst
    # of 1, every token that comes due between two arrivals is capped away: the limit would read low).
    rps, burst, seconds = 12.0, 12, 4.0
    async with MockAnthropic(name="one") as one:
        text = config(redis_server.url, one.url, "rl:", f"rate_limit_rps = {rps}\nrate_limit_burst = {burst}")
        async with run_fleet(text, tmp_path / "fleet") as fleet, httpx.AsyncClient(timeout=30) as c:
            for _ in range(6):  # connections warm (/health is not limited), so the clock starts on the limit
                await c.get(fleet.url + "/health")
            codes: list[int] = []
            sent: list[float] = []
            t0 = time.monotonic()
            stop = t0 + seconds

            async def worker() -> None:
                while time.monotonic() < stop:
                    sent.append(time.monotonic())
                    r = await c.post(fleet.url + "/v1/messages", json=BODY)
                    codes.append(r.status_code)
                    if r.status_code == 429:
                        assert r.json()["error"]["type"] == "rate_limit_error"
                        assert int(r.headers["retry-after"]) >= 1

            await asyncio.gather(*(worker() for _ in range(6)))
            elapsed = max(sent) - min(sent)  # from the first request sent to the last
            ok = codes.count(200)
            expected = burst + rps * elapsed  # the burst, then the rate
            print(f"fleet rate limit: {ok} admitted of {len(codes)} in {elapsed:.2f}s, expected {expected:.1f}")
            assert set(codes) <= {200, 429}
            assert len(codes) > 2 * expected  # the limit was really pushed (per-instance buckets would admit 3x)
            assert abs(ok - expected) <= 0.1 * expected, (ok, expected)


async def test_health_is_degraded_while_redis_is_down(
    tmp_path: Path, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with MockAnthropic(name="one") as one:
        text = config(redis_server.url, one.url, "hl:")
        async with run_fleet(text, tmp_path / "fleet", n=1) as fleet, httpx.AsyncClient(timeout=30) as c:
            inst = fleet.instances[0]
            h = (await c.get(inst.url + "/health")).json()
            assert h["status"] == "ok" and h["state"]["backend"] == "redis" and h["state"]["ok"] is True
            # `ccm accounts` finds this running router by its PID file, as `ccm status` does.
            config_path = tmp_path / "fleet" / "config.toml"
            args = ["accounts", "--home", str(inst.home), "--config", str(config_path)]
            assert await asyncio.to_thread(main, args) == 0
            assert "no account pools configured" in capsys.readouterr().out
            await redis_server.stop()
            # Idle, the instance notices the outage from /health itself (a background ping every 2 s at most).
            deadline = time.monotonic() + 6
            while (h := (await c.get(inst.url + "/health")).json())["status"] != "degraded":
                assert time.monotonic() < deadline, h
                await asyncio.sleep(0.2)
            # Requests keep flowing on local state.
            for _ in range(3):
                assert (await c.post(inst.url + "/v1/messages", json=BODY)).status_code == 200
            r = await c.get(inst.url + "/health")
            assert r.status_code == 200
            h = r.json()
            assert h["status"] == "degraded" and h["state"]["ok"] is False and h["state"]["degraded_since"]
            assert len(r.content) < 512
            # Through the load balancer too: still in rotation (200), still serving.
            assert (await c.post(fleet.url + "/v1/messages", json=BODY)).status_code == 200
            await redis_server.start()
            deadline = time.monotonic() + 10
            while (await c.get(inst.url + "/health")).json()["status"] != "ok":
                assert time.monotonic() < deadline, "still degraded 10 s after Redis came back"
                await asyncio.sleep(0.2)
            # What was served during the outage reaches the fleet feed once Redis is back.
            deadline = time.monotonic() + 10
            while True:
                got = (await c.get(inst.url + "/api/requests?limit=50")).json()
                if got.get("fleet") and len(got["requests"]) >= 4:  # 3 during the outage, 1 through the LB
                    break
                assert time.monotonic() < deadline, got
                await asyncio.sleep(0.2)
