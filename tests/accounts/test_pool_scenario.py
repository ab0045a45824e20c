"""Two subscription accounts and an API key, through the real router: quotas steer, sessions stick, nothing fails.

The mock Anthropic API knows each account's quota (tests/mocks/quota.py) and reports it in the unified
rate-limit headers, as the real API does; the router reads them off every answer.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import anthropic
import httpx
import pytest

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import FileStore, TokenRecord
from tests.harness import run_router
from tests.mocks.anthropic import MockAnthropic

MODEL = "claude-sonnet-4-5"


def config(url: str, key_url: str) -> str:
    return f"""
[router]
default = "sonnet"
auto_map = true

[subscription]
soft_limit = 0.5
hard_limit = 0.9

[[providers]]
name = "max"
provider_type = "anthropic"
base_url = "{url}"
auth_type = "oauth"
oauth_accounts = ["max-work", "max-home"]

[[providers]]
name = "key"
provider_type = "anthropic"
base_url = "{key_url}"
api_key = "sk-paid"

[[models]]
name = "sonnet"
[[models.mappings]]
provider = "max"
actual_model = "{MODEL}"
priority = 1
[[models.mappings]]
provider = "key"
actual_model = "{MODEL}"
priority = 2
"""


async def seed_logins(home: Path) -> None:
    store = FileStore(home / "oauth_tokens.json")
    for acc in ("max-work", "max-home"):
        await store.put(
            TokenRecord(acc, Secret(f"tok-{acc}"), Secret(f"refresh-{acc}"), time.time() + 3600)  # type: ignore[arg-type]
        )


async def test_two_accounts_soft_hard_exhausted_and_reset(tmp_path: Path) -> None:
    async with MockAnthropic(name="sub") as sub, MockAnthropic(name="paid") as paid:
        work = sub.quotas.add("tok-max-work", per_request=0.01)
        home_acc = sub.quotas.add("tok-max-home", per_request=0.01)
        await seed_logins(tmp_path)
        async with run_router(config(sub.url, paid.url), tmp_path) as router:
            client = anthropic.AsyncAnthropic(api_key="x", base_url=router.url, max_retries=0)
            phases: dict[str, collections.Counter[str]] = {}
            stickies: list[str] = []
            failures = 0

            async def turn(session: int, phase: str) -> httpx.Headers:
                nonlocal failures
                raw = await client.messages.with_raw_response.create(
                    model="claude-sonnet-4-5-20250929",
                    max_tokens=16,
                    messages=[{"role": "user", "content": f"hello from session {session}"}],
                    extra_headers={"x-claude-code-session-id": f"session-{session}"},
                )
                if raw.http_response.status_code != 200:
                    failures += 1
                h = raw.http_response.headers
                served = h.get("x-ccm-account") or h["x-ccm-provider"]
                phases.setdefault(phase, collections.Counter())[served] += 1
                stickies.append(h.get("x-ccm-sticky", ""))
                return h

            # Phase 1: sessions 0-3 start on max-work (priority), pinned.
            for s in range(4):
                h = await turn(s, "1-fresh")
                assert h["x-ccm-account"] == "max-work" and h["x-ccm-sticky"] == "new"
            work.util["5h"] = 0.55  # as if the account had been busy elsewhere too
            # Phase 2: max-work crosses the soft limit (0.5): new sessions 4-7 go to max-home, 0-3 stay.
            h = await turn(0, "2-soft")
            assert h["x-ccm-account"] == "max-work" and h["x-ccm-sticky"] == "hit"
            for s in range(4, 8):
                h = await turn(s, "2-soft")
                assert h["x-ccm-account"] == "max-home" and h["x-ccm-sticky"] == "new", dict(h)
            for s in range(1, 4):
                h = await turn(s, "2-soft")
                assert h["x-ccm-account"] == "max-work" and h["x-ccm-sticky"] == "hit"
            # Phase 3: max-work over the hard limit: its pinned sessions move to max-home and say so.
            await httpx.AsyncClient().post(
                sub.url + "/_mock/quota", json={"account": "tok-max-work", "window": "5h", "utilization": 0.95}
            )
            h = await turn(0, "3-hard")  # the answer's headers reveal 0.95+: the router learns it here
            moved = []
            for s in range(4):
                h = await turn(s, "3-hard")
                moved.append(h["x-ccm-sticky"])
                assert h["x-ccm-account"] == "max-home"
            assert "moved:quota" in moved
            # Phase 4: both exhausted: the API key serves; nothing fails.
            home_acc.util["5h"] = 0.95
            await turn(5, "4-exhausted")  # learns max-home is over its hard limit
            for s in range(8):
                h = await turn(s, "4-exhausted")
                assert h["x-ccm-provider"] == "key" and "x-ccm-account" not in h
            # Phase 5: the 5h windows reset (both clocks move on 5 hours): the subscription serves again.
            for tok in ("tok-max-work", "tok-max-home"):
                await httpx.AsyncClient().post(sub.url + "/_mock/quota/reset", json={"account": tok})
            accounts = router.server.holder.current.accounts
            assert accounts is not None
            accounts.clock = lambda: time.time() + 5 * 3600 + 60
            # Five hours on, the old pins have expired (sessions served by the API key are not pinned to it), so
            # every session starts again on the first subscription account.
            for s in range(8):
                h = await turn(s, "5-reset")
                assert h["x-ccm-account"] == "max-work" and h["x-ccm-sticky"] in ("new", "hit")
            assert failures == 0
            assert all(st in ("new", "hit", "moved:quota", "") for st in stickies)
            log = router.log_text()
            assert "max-work: 5h at" in log and "new sessions go elsewhere" in log
            assert "moved from max-work to max-home (quota)" in log
            print({k: dict(v) for k, v in phases.items()})


async def test_per_family_opus_rejected_sonnet_still_on_subscription(tmp_path: Path) -> None:
    async with MockAnthropic(name="sub") as sub, MockAnthropic(name="paid") as paid:
        sub.quotas.add("tok-max-work").util["7d-opus"] = 1.0
        sub.quotas.add("tok-max-home").util["7d-opus"] = 1.0
        await seed_logins(tmp_path)
        text = config(sub.url, paid.url).replace(
            'actual_model = "claude-sonnet-4-5"', 'actual_model = "claude-opus-4-1"'
        )
        text += f"""
[[models]]
name = "claude-sonnet-4-5"
[[models.mappings]]
provider = "max"
actual_model = "{MODEL}"
"""
        text = text.replace("auto_map = true", "auto_map = false")
        async with run_router(text, tmp_path) as router, httpx.AsyncClient(base_url=router.url) as c:
            body = {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
            # Opus: both accounts answer 429 rejected (7d-opus) -> the API key serves, no failure.
            r = await c.post("/v1/messages", json={**body, "model": "sonnet"})
            assert r.status_code == 200 and r.headers["x-ccm-provider"] == "key"
            r = await c.post("/v1/messages", json={**body, "model": "sonnet"})
            assert r.status_code == 200 and r.headers["x-ccm-provider"] == "key"
            assert r.headers["x-ccm-attempts"] == "1"  # known rejected: not tried again before its reset
            # Sonnet still goes to the subscription.
            r = await c.post("/v1/messages", json={**body, "model": "claude-sonnet-4-5"})
            assert r.status_code == 200 and r.headers["x-ccm-account"] == "max-work"


async def test_key_pool_skips_a_revoked_key(tmp_path: Path) -> None:
    async with MockAnthropic(name="keys", require_key="sk-good") as up:
        text = f"""
[router]
default = "m"

[[providers]]
name = "pool"
provider_type = "anthropic"
base_url = "{up.url}"
api_keys = ["sk-revoked", "sk-good"]
strategy = "round_robin"

[[models]]
name = "m"
[[models.mappings]]
provider = "pool"
actual_model = "{MODEL}"
"""
        async with run_router(text, tmp_path) as router, httpx.AsyncClient(base_url=router.url) as c:
            body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
            for _ in range(6):
                r = await c.post("/v1/messages", json=body)
                assert r.status_code == 200 and r.headers["x-ccm-account"] == "key2"
            # The revoked key was tried once, then cooled down: later requests go straight to key2.
            tried = [rq.header("x-api-key") for rq in up.messages_requests()]
            assert tried.count("sk-revoked") == 1


@pytest.mark.e2e
async def test_claude_code_through_a_pool_with_one_exhausted_account(tmp_path: Path) -> None:
    from tests.e2e.claude_cli import run_claude

    async with MockAnthropic(name="sub") as sub, MockAnthropic(name="paid") as paid:
        sub.quotas.add("tok-max-work").util["5h"] = 1.0  # exhausted: answers 429 rejected
        sub.quotas.add("tok-max-home")
        await seed_logins(tmp_path)
        async with run_router(config(sub.url, paid.url), tmp_path) as router:
            res = await run_claude(
                router.url,
                "Run the shell command `echo pool-$((20+22))` and tell me its output",
                extra_args=("--allowedTools", "Bash"),
            )
            assert res.ok, res.stdout + res.stderr
            assert "pool-42" in res.text and res.result.get("num_turns", 0) >= 2
        served = [r.header("authorization") for r in sub.messages_requests() if r.status == 200]
        assert served and all(a == "Bearer tok-max-home" for a in served)
        assert not paid.messages_requests()  # the second subscription account served; no paid fallback
