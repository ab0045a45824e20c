"""The mock's per-account quotas behave like the real API's unified rate-limit headers."""

from __future__ import annotations

import httpx

from claude_code_mux.accounts.quota import parse_headers
from tests.mocks.anthropic import MockAnthropic

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


async def test_quota_headers_rejection_and_reset() -> None:
    async with MockAnthropic() as mock:
        mock.quotas.add("tok-a", per_request=0.25)
        async with httpx.AsyncClient(base_url=mock.url) as c:
            h = {"authorization": "Bearer tok-a"}
            r = await c.post("/v1/messages", json=BODY, headers=h)
            assert r.status_code == 200
            reading = parse_headers(r.headers, 0)
            assert reading is not None and reading.windows["5h"].utilization == 0.25
            assert reading.windows["7d-sonnet"].utilization == 0.25 and reading.status == "allowed"
            for _ in range(3):
                r = await c.post("/v1/messages", json=BODY, headers=h)
            assert r.status_code == 200 and r.headers["anthropic-ratelimit-unified-status"] == "rejected"
            r = await c.post("/v1/messages", json=BODY, headers=h)
            assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
            assert r.headers["anthropic-ratelimit-unified-representative-claim"] == "five_hour"
            # Opus has its own weekly window but shares the 5h one: rejected too.
            r = await c.post("/v1/messages", json={**BODY, "model": "claude-opus-4-1"}, headers=h)
            assert r.status_code == 429
            await c.post("/_mock/quota/reset", json={"account": "tok-a"})
            r = await c.post("/v1/messages", json=BODY, headers=h)
            assert r.status_code == 200
            # An unknown key has no plan: no unified headers.
            r = await c.post("/v1/messages", json=BODY, headers={"x-api-key": "sk-other"})
            assert r.status_code == 200 and "anthropic-ratelimit-unified-status" not in r.headers
            r = await c.post("/_mock/quota", json={"account": "tok-a", "window": "7d-opus", "utilization": 1.0})
            r = await c.post("/v1/messages", json={**BODY, "model": "claude-opus-4-1"}, headers=h)
            assert r.status_code == 429
            assert r.headers["anthropic-ratelimit-unified-representative-claim"] == "seven_day_opus"
            r = await c.post("/v1/messages", json=BODY, headers=h)
            assert r.status_code == 200


async def test_usage_poller_reads_idle_accounts_from_the_usage_endpoint() -> None:
    import time

    from claude_code_mux.accounts.book import AccountBook
    from claude_code_mux.accounts.poller import UsagePoller
    from claude_code_mux.accounts.pool import Pool
    from claude_code_mux.accounts.select import AccountRouter
    from claude_code_mux.accounts.sticky import StickyTable

    async with MockAnthropic() as mock:
        mock.quotas.add("tok-a").util.update({"5h": 0.95, "7d-opus": 1.0})
        router = AccountRouter(pools={"max": Pool(["a", "b"])}, book=AccountBook(), sticky=StickyTable())
        tokens = {"a": "tok-a", "b": "tok-unknown"}
        async with httpx.AsyncClient(base_url=mock.url) as c:

            async def fetch(provider: str, account: str) -> dict[str, object] | None:
                r = await c.get("/api/oauth/usage", headers={"authorization": f"Bearer {tokens[account]}"})
                return r.json() if r.status_code == 200 else None

            poller = UsagePoller(lambda: router, fetch, every_s=60)
            assert poller.idle_accounts(time.time()) == [("max", "a"), ("max", "b")]
            assert await poller.poll_once() == 1  # b's token has no usage scope: skipped, no error
        assert router.book.state("a", "claude-sonnet-4-5", time.time()).state == "soft"
        assert router.book.state("a", "claude-opus-4-1", time.time()).state == "hard"
        assert poller.idle_accounts(time.time()) == [("max", "b")]  # a has a fresh reading now
