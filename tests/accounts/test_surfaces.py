"""Seeing the accounts, through the real server: usage polling fills the book of idle accounts, and
``GET /api/accounts``, ``/metrics``, ``ccm accounts`` and ``/health`` show it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from claude_code_mux.cli.main import main
from claude_code_mux.cli.statusline import format_line
from claude_code_mux.observe.last_request import LastRequestWriter, read_last
from tests.accounts.test_pool_scenario import config, seed_logins
from tests.harness import run_router
from tests.mocks.anthropic import MockAnthropic


async def wait_for(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = await predicate()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_polling_api_metrics_cli_and_health(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with MockAnthropic(name="sub") as sub, MockAnthropic(name="paid") as paid:
        work = sub.quotas.add("tok-max-work")
        sub.quotas.add("tok-max-home")
        work.util["5h"] = 0.42
        work.util["7d"] = 0.93  # over the soft limit (0.5), under the hard one (0.95 here)
        await seed_logins(tmp_path)
        text = config(sub.url, paid.url).replace("hard_limit = 0.9\n", "hard_limit = 0.95\npoll_usage_s = 0.3\n")
        async with run_router(text, tmp_path) as router, httpx.AsyncClient(base_url=router.url) as c:

            async def polled() -> dict[str, dict[str, object]] | None:
                rows = (await c.get("/api/accounts")).json()["accounts"]
                by = {r["account"]: r for r in rows}
                return by if "5h" in by["max-work"]["windows"] and by["max-home"]["windows"] else None

            # No request was sent: the readings come from GET /api/oauth/usage with each account's bearer.
            by = await wait_for(polled)
            usage_calls = [r for r in sub.requests if r.path.endswith("/api/oauth/usage")]
            assert {r.header("authorization") for r in usage_calls} >= {"Bearer tok-max-work", "Bearer tok-max-home"}
            assert all(r.header("anthropic-beta") == "oauth-2025-04-20" for r in usage_calls)
            assert all((r.header("user-agent") or "").startswith("claude-code-mux/") for r in usage_calls)
            assert not sub.messages_requests()
            w = by["max-work"]["windows"]
            assert w["5h"]["utilization"] == pytest.approx(0.42)
            assert w["7d"]["utilization"] == pytest.approx(0.93)
            assert w["5h"]["reset"] > time.time()
            assert by["max-work"]["state"] == "soft" and by["max-home"]["state"] == "ok"
            assert (await c.get("/api/accounts")).json()["poll_usage_s"] == pytest.approx(0.3)

            # /metrics: gauges computed at scrape time.
            m = (await c.get("/metrics")).text
            assert re.search(r'ccm_quota_utilization\{account="max-work",window="5h"\} 0\.42', m), m
            assert re.search(r'ccm_quota_utilization\{account="max-work",window="7d"\} 0\.93', m)
            assert 'ccm_account_state{account="max-work"} 1.0' in m
            assert 'ccm_account_state{account="max-home"} 0.0' in m

            # ccm accounts: the table and --json, from the running router (blocking I/O: off the server's loop).
            rc = await asyncio.to_thread(main, ["accounts", "--url", router.url, "--home", str(tmp_path)])
            out = capsys.readouterr().out
            assert rc == 0
            line = next(x for x in out.splitlines() if "max-work" in x)
            assert "42 %" in line and "93 %" in line and "soft until" in line, out
            rc = await asyncio.to_thread(main, ["accounts", "--json", "--url", router.url, "--home", str(tmp_path)])
            rows = json.loads(capsys.readouterr().out)
            assert rc == 0 and [r["account"] for r in rows] == ["max-work", "max-home"]

            # The statusline: the serving account and its 5h %, read from the last-request file (no server import).
            r = await c.post(
                "/v1/messages",
                json={
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "hi"}],
                    "metadata": {"user_id": json.dumps({"session_id": "sess-statusline"})},
                },
                headers={"x-claude-code-session-id": "sess-statusline"},
            )
            assert r.status_code == 200 and r.headers["x-ccm-account"] == "max-home"  # max-work is over soft
            assert router.server.holder is not None
            for o in router.server.holder.observers.observers:
                if isinstance(o, LastRequestWriter):
                    await o.flush()  # written now rather than within the writer's 0.5 s
            last = read_last(tmp_path, "sess-statusline")
            assert last is not None and last["account"] == "max-home"
            assert last["quota_5h"] == pytest.approx(0.01)  # the mock charges 1 % per request
            assert "[max-home 5h 1 %]" in format_line(last, {})

            # /health: one process, SQLite usage: ok, with the detail a load balancer can read.
            h = (await c.get("/health")).json()
            assert h["status"] == "ok" and h["state"] == {"backend": "memory", "ok": True}
            assert h["usage"]["backend"] == "sqlite" and h["usage"]["ok"] is True


async def test_admin_key_guards_accounts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with MockAnthropic(name="sub") as sub, MockAnthropic(name="paid") as paid:
        await seed_logins(tmp_path)
        text = '[server]\nadmin_key = "adm-secret-1"\n' + config(sub.url, paid.url)
        async with run_router(text, tmp_path) as router, httpx.AsyncClient(base_url=router.url) as c:
            assert (await c.get("/api/accounts")).status_code in (401, 403)
            r = await c.get("/api/accounts", headers={"x-admin-key": "adm-secret-1"})
            assert r.status_code == 200 and len(r.json()["accounts"]) == 2
            # ccm accounts presents the configured admin key (read from the same config file).
            args = ["accounts", "--url", router.url, "--config", str(router.config_path), "--json"]
            rc = await asyncio.to_thread(main, args)
            assert rc == 0, capsys.readouterr().err
            assert len(json.loads(capsys.readouterr().out)) == 2
            rc = await asyncio.to_thread(main, ["accounts", "--url", router.url, "--home", str(tmp_path / "x")])
            assert rc == 1 and "admin" in capsys.readouterr().err.lower()


def test_accounts_without_a_router(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accounts", "--home", str(tmp_path)]) == 3
    assert "not running" in capsys.readouterr().err


async def test_health_is_degraded_while_the_usage_database_is_down(tmp_path: Path) -> None:
    """A usage database nobody answers on: /health says so (200, "degraded"), and requests still flow."""
    from tests.state.redis_server import free_port

    async with MockAnthropic(name="paid") as paid:
        text = (
            f'[usage]\ndatabase = "postgresql://ccm:pw-not-shown@127.0.0.1:{free_port()}/usage"\n'
            + '[router]\ndefault = "m"\n'
            + f'[[providers]]\nname = "k"\nprovider_type = "anthropic"\nbase_url = "{paid.url}"\napi_key = "sk-x"\n'
            + '[[models]]\nname = "m"\n[[models.mappings]]\nprovider = "k"\nactual_model = "claude-sonnet-4-5"\n'
        )
        async with run_router(text, tmp_path) as router, httpx.AsyncClient(base_url=router.url) as c:
            body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
            assert (await c.post("/v1/messages", json=body)).status_code == 200

            async def degraded() -> dict[str, object] | None:
                r = await c.get("/health")
                assert r.status_code == 200
                h: dict[str, object] = r.json()
                return h if h["status"] == "degraded" else None

            h = await wait_for(degraded)
            usage = h["usage"]
            assert isinstance(usage, dict) and usage["backend"] == "postgresql" and usage["ok"] is False
            assert h["state"] == {"backend": "memory", "ok": True}
            assert "pw-not-shown" not in json.dumps(h)
            assert (await c.post("/v1/messages", json=body)).status_code == 200
