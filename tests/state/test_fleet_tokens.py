"""Three router instances sharing one Redis: one OAuth refresh for the whole fleet, rotation safe, Redis outages
survived on local state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import redis.asyncio as redis_async

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import FileStore, TokenRecord
from claude_code_mux.state.redis_link import RedisLink
from claude_code_mux.state.token_store import RedisTokenStore, StaleLockHolder
from tests.harness import RouterHandle, model_block, run_router
from tests.mocks.oauth import MockOAuthServer
from tests.state.redis_server import RedisServer


def fleet_config(mock: MockOAuthServer, redis_url: str) -> str:
    s = mock.settings()
    return (
        '[router]\ndefault = "main"\n'
        + f'[state]\nbackend = "redis"\nurl = "{redis_url}"\nkey_prefix = "test:"\n'
        + "[oauth]\n"
        + f'client_id = "{s.client_id}"\n'
        + f'token_url = "{s.token_url}"\n'
        + "token_url_fallbacks = []\n"
        + '[[providers]]\nname = "claude-max"\nprovider_type = "anthropic"\nauth_type = "oauth"\n'
        + f'oauth_provider = "claude-max"\nbase_url = "{mock.url}"\n'
        + model_block("main", [("claude-max", "claude-sonnet-4-5")])
    )


async def seed(home: Path, family: dict[str, str], expires_in: float) -> None:
    await FileStore(home / "oauth_tokens.json").put(
        TokenRecord(
            provider_id="claude-max",
            access_token=Secret(family["access_token"]),
            refresh_token=Secret(family["refresh_token"]),
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        )
    )


@contextlib.asynccontextmanager
async def fleet(text: str, root: Path, n: int = 3) -> AsyncIterator[list[RouterHandle]]:
    async with contextlib.AsyncExitStack() as stack:
        handles = [await stack.enter_async_context(run_router(text, root / f"i{i}")) for i in range(n)]
        yield handles


BODY = {"model": "main", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


async def test_fifty_requests_over_three_instances_refresh_once(tmp_path: Path, redis_server: RedisServer) -> None:
    async with MockOAuthServer() as mock:
        mock.config.refresh_delay_s = 0.3  # every instance is inside its refresh path at once
        family = mock.issue_tokens()
        for i in range(3):  # each instance's durable file holds the same (expired) login, as after a deploy
            await seed(tmp_path / f"i{i}", family, -10)
        async with fleet(fleet_config(mock, redis_server.url), tmp_path) as routers:
            async with httpx.AsyncClient(timeout=30) as c:
                rs = await asyncio.gather(*(c.post(routers[i % 3].url + "/v1/messages", json=BODY) for i in range(50)))
            assert [r.status_code for r in rs] == [200] * 50, [r.text for r in rs if r.status_code != 200][:2]
            assert mock.refresh_calls == 1, mock.state()
            # The rotated refresh token is in Redis and in every instance's durable file that wrote it.
            client = redis_async.Redis.from_url(redis_server.url)
            shared = orjson.loads(await client.hget("test:tokens", "claude-max"))
            await client.aclose()
            assert mock.refresh_valid(shared["refresh_token"])
            files = [orjson.loads((tmp_path / f"i{i}" / "oauth_tokens.json").read_bytes()) for i in range(3)]
            assert any(f["claude-max"]["refresh_token"] == shared["refresh_token"] for f in files)


async def test_redis_down_requests_keep_flowing_then_resync(tmp_path: Path, redis_server: RedisServer) -> None:
    async with MockOAuthServer() as mock:
        family = mock.issue_tokens()
        for i in range(2):
            await seed(tmp_path / f"i{i}", family, 3600)
        async with fleet(fleet_config(mock, redis_server.url), tmp_path, n=2) as routers:
            async with httpx.AsyncClient(timeout=30) as c:
                r = await c.post(routers[0].url + "/v1/messages", json=BODY)
                assert r.status_code == 200
                await redis_server.stop()
                t0 = asyncio.get_running_loop().time()
                rs = await asyncio.gather(*(c.post(routers[i % 2].url + "/v1/messages", json=BODY) for i in range(20)))
                assert [x.status_code for x in rs] == [200] * 20
                assert asyncio.get_running_loop().time() - t0 < 5  # nobody waited on the dead Redis
                assert "Redis unreachable" in routers[0].log_text() + routers[1].log_text()
                await redis_server.start()
                await asyncio.sleep(2.5)  # the probe notices within a second or two, then resyncs
                r = await c.post(routers[1].url + "/v1/messages", json=BODY)
                assert r.status_code == 200
            assert "Redis is back" in routers[0].log_text() + routers[1].log_text()
            client = redis_async.Redis.from_url(redis_server.url)
            assert await client.hexists("test:tokens", "claude-max")  # the local copy went back to Redis
            await client.aclose()


async def test_a_stalled_lock_holder_cannot_overwrite_a_newer_token(tmp_path: Path, redis_server: RedisServer) -> None:
    link_a, link_b = RedisLink(redis_server.url, "fence:"), RedisLink(redis_server.url, "fence:")
    a = RedisTokenStore(link_a, FileStore(tmp_path / "a" / "t.json"), lock_ttl_s=0.3)
    b = RedisTokenStore(link_b, FileStore(tmp_path / "b" / "t.json"), lock_ttl_s=5)
    rec = TokenRecord("p", Secret("old-access"), Secret("old-refresh"), datetime.now(UTC) + timedelta(hours=1))
    newer = TokenRecord("p", Secret("new-access"), Secret("new-refresh"), datetime.now(UTC) + timedelta(hours=2))
    try:
        a._renew = _no_renew  # type: ignore[method-assign]  # a process paused (GC, swap): no renewals
        async with a.locked():
            await asyncio.sleep(0.5)  # a's lock expires; b takes it and writes a newer token
            async with b.locked():
                await b.put(newer)
            try:
                await a.put(rec)
            except StaleLockHolder:
                pass
            else:  # pragma: no cover - the failure this test exists for
                raise AssertionError("a stale holder overwrote the shared token")
        got = await b.get("p")
        assert got is not None and got.access_token.reveal() == "new-access"
    finally:
        await link_a.close()
        await link_b.close()


async def _no_renew(token: str) -> None:
    await asyncio.sleep(3600)
