"""Client keys, rate limits and concurrency caps: refusals are clear 401/429s, and recover."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic

REQ = {"model": "main", "max_tokens": 10, "messages": [{"role": "user", "content": "Reply with exactly: S"}]}


def cfg(url: str, server: str = "", auth: str = "apikey") -> str:
    return (
        "[server]\n"
        + server
        + '[router]\ndefault = "main"\nauto_map = true\n'
        + anthropic_provider("up", url, auth=auth)
        + model_block("main", [("up", "m")])
    )


async def test_router_api_key_enforced(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        async with run_router(cfg(mock.url, 'api_key = "router-secret-key"\n'), tmp_path) as router:
            async with httpx.AsyncClient() as http:
                for headers in ({}, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}):
                    r = await http.post(router.url + "/v1/messages", json=REQ, headers=headers)
                    assert r.status_code == 401
                    assert r.json()["error"]["type"] == "authentication_error"
                    assert "server.api_key" in r.json()["error"]["message"]
                    assert "router-secret-key" not in r.text
            # Both ways Claude Code sends a key work.
            for client in (
                anthropic.AsyncAnthropic(base_url=router.url, api_key="router-secret-key"),
                anthropic.AsyncAnthropic(base_url=router.url, auth_token="router-secret-key", api_key=None),
            ):
                msg = await client.messages.create(**REQ)  # type: ignore[arg-type]
                assert msg.content[0].text == "S"  # type: ignore[union-attr]
            assert mock.messages_requests(), "upstream never reached"
            hdrs = {k.lower(): v for k, v in mock.messages_requests()[-1].headers}
            assert hdrs["x-api-key"] == "sk-up-test"


async def test_passthrough_never_forwards_router_key(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="up") as mock,
        run_router(cfg(mock.url, 'api_key = "router-secret-key"\n', auth="passthrough"), tmp_path) as router,
    ):
        async with httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages",
                json=REQ,
                headers={"x-api-key": "router-secret-key", "authorization": "Bearer user-own-token"},
            )
        assert r.status_code == 200
        hdrs = {k.lower(): v for k, v in mock.messages_requests()[-1].headers}
        assert hdrs.get("authorization") == "Bearer user-own-token"
        assert "x-api-key" not in hdrs


async def test_rate_limit_triggers_and_recovers(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="up") as mock,
        run_router(cfg(mock.url, "rate_limit_rps = 2\nrate_limit_burst = 2\n"), tmp_path) as router,
        httpx.AsyncClient() as http,
        # Another client: another address (without server.api_key, clients are told apart by address).
        httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")) as other,
    ):
        codes = [
            (await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "a"})).status_code
            for _ in range(4)
        ]
        assert codes[:2] == [200, 200]
        assert 429 in codes[2:]
        r = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "a"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["type"] == "rate_limit_error"
        # A fresh x-api-key per request is not a fresh client (issue 14, item 5).
        for i in range(3):
            r = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": f"random-{i}"})
            assert r.status_code == 429
        # Another client is not affected.
        r2 = await other.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "b"})
        assert r2.status_code == 200
        await asyncio.sleep(1.1)
        r3 = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "a"})
        assert r3.status_code == 200
        # Refusals reach the observers as records, keyed on who the client is.
        refused = [rec for rec in router.server.holder.observers.recent if rec.status == 429]  # type: ignore[union-attr]
        assert refused and all(rec.client == "addr:127.0.0.1" for rec in refused)
        assert refused[0].error_type == "rate_limit_error" and refused[0].endpoint == "messages"


async def test_limits_key_on_the_router_key_not_on_a_header_the_client_varies(tmp_path: Path) -> None:
    server = 'api_key = "router-secret-key"\nrate_limit_rps = 1\nrate_limit_burst = 1\n'
    async with (
        MockAnthropic(name="up") as mock,
        run_router(cfg(mock.url, server), tmp_path) as router,
        httpx.AsyncClient() as http,
    ):
        auth = {"authorization": "Bearer router-secret-key"}
        r = await http.post(router.url + "/v1/messages", json=REQ, headers={**auth, "x-api-key": "random-1"})
        assert r.status_code == 200
        # A valid Bearer plus a random x-api-key per request used to get a fresh bucket each time.
        r = await http.post(router.url + "/v1/messages", json=REQ, headers={**auth, "x-api-key": "random-2"})
        assert r.status_code == 429
        assert router.server.holder is not None
        assert list(router.server.holder.limiter.buckets) == ["key:router"]


def test_idle_buckets_are_evicted() -> None:
    from claude_code_mux.server.api.limits import Limiter

    now = [0.0]
    limiter = Limiter(clock=lambda: now[0])
    for i in range(1000):
        assert limiter.take(f"addr:10.0.{i // 256}.{i % 256}", rate=10.0, burst=5) == 0.0
    assert len(limiter.buckets) == 1000
    now[0] = 31.0  # past the sweep interval; every bucket has refilled (5 tokens at 10/s: 0.5 s)
    limiter.take("addr:10.9.9.9", rate=10.0, burst=5)
    assert list(limiter.buckets) == ["addr:10.9.9.9"]


async def test_concurrent_stream_cap(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        mock.add_fault(Fault(kind="stall_mid", seconds=1.5))
        async with run_router(cfg(mock.url, "max_streams_per_client = 1\n"), tmp_path) as router:
            async with httpx.AsyncClient(timeout=20) as http:
                first = asyncio.create_task(
                    http.post(router.url + "/v1/messages", json={**REQ, "stream": True}, headers={"x-api-key": "a"})
                )
                await asyncio.sleep(0.4)
                r = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "a"})
                assert r.status_code == 429
                assert "max_streams_per_client" in r.json()["error"]["message"]
                assert (await first).status_code == 200
                r = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "a"})
                assert r.status_code == 200


@pytest.mark.parametrize("secret_field", ["api_key"])
async def test_secrets_not_in_logs(tmp_path: Path, secret_field: str) -> None:
    async with MockAnthropic(name="up") as mock:
        mock.add_fault(Fault(kind="status", status=500, message="upstream echoed sk-up-test back"))
        async with run_router(cfg(mock.url), tmp_path) as router, httpx.AsyncClient() as http:
            r = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "client-secret-xyz"})
            assert r.status_code == 500
            router.server.logger.info("headers x-api-key: client-secret-xyz authorization: Bearer tok-abcdef123")
            log = router.log_text()
        assert "sk-up-test" not in log and "client-secret-xyz" not in log and "tok-abcdef123" not in log
