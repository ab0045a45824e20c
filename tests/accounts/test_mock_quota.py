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
