"""The admin key and usage API against the real server: create (key shown once), list, rotate, revoke — each
taking effect on /v1/* at once — and the usage summary and per-day series read from usage.db."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from claude_code_mux.observe.usage_db import connect
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic

ADMIN = "admin-key-" + "q1w2e3"


def config_for(url: str, server: str = "") -> str:
    return (
        f"[server]\n{server}\n"
        + '[router]\ndefault = "main"\n'
        + anthropic_provider("up", url)
        + model_block("main", [("up", "claude-sonnet-4-5")])
    )


def seed_usage(home: Path, now: float) -> None:
    """Three days of rows: two models, two routes, cache reads, one unpriced row."""
    conn = connect(home / "usage.db")
    day = 86400.0
    rows = [
        # ts, route, provider, model, input, output, cache_read, cache_write, cost, key, project
        (now - 2 * day, "default", "up", "claude-sonnet-4-5", 1000, 100, 9000, 0, 0.02, "alice", "repo"),
        (now - 2 * day, "think:plan", "up", "claude-opus-4-1", 2000, 200, 0, 1000, 0.10, "bob", "repo"),
        (now - day, "default", "up", "claude-sonnet-4-5", 500, 50, 500, 0, 0.01, "alice", "other"),
        (now, "background:haiku", "up", "mystery-model", 300, 30, 0, 0, None, None, None),
    ]
    with conn:
        conn.executemany(
            "INSERT INTO usage (ts, route, provider, model, input_tokens, output_tokens, cache_read_tokens, "
            "cache_write_tokens, cost_usd, key_name, project, status, latency_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 200, 10)",
            rows,
        )
    conn.close()


async def test_keys_api_create_list_rotate_revoke(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as c:
            r = await c.post("/api/keys", json={"name": "alice", "models": ["main"], "rps": 5, "budget": "5/day"})
            assert r.status_code == 201, r.text
            created = r.json()
            key = created["key"]
            assert key.startswith("ccm-") and created["state"] == "active"
            assert created["budget_usd"] == 5 and created["budget_period"] == "day"
            listing = (await c.get("/api/keys")).json()["keys"]
            assert [k["name"] for k in listing] == ["alice"] and "key" not in listing[0]
            assert key not in (await c.get("/api/keys")).text
            # The key works at once.
            msg = {"model": "main", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
            assert (await c.post("/v1/messages", json=msg, headers={"x-api-key": key})).status_code == 200
            # Duplicate name, bad budget, unknown field: 400 with the reason.
            r = await c.post("/api/keys", json={"name": "alice"})
            assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
            r = await c.post("/api/keys", json={"name": "x", "budget": "lots"})
            assert r.status_code == 400 and "budget" in r.json()["error"]["message"]
            r = await c.post("/api/keys", json={"name": "x", "colour": "red"})
            assert r.status_code == 400 and "colour" in r.json()["error"]["message"]
            # Rotate: the old key is refused, the new one works.
            r = await c.post("/api/keys/alice/rotate")
            assert r.status_code == 200, r.text
            new = r.json()["key"]
            assert new != key
            assert (await c.post("/v1/messages", json=msg, headers={"x-api-key": key})).status_code == 401
            assert (await c.post("/v1/messages", json=msg, headers={"x-api-key": new})).status_code == 200
            # Revoke.
            r = await c.delete("/api/keys/alice")
            assert r.status_code == 200 and r.json()["state"] == "revoked"
            r = await c.post("/v1/messages", json=msg, headers={"x-api-key": new})
            assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
            assert (await c.delete("/api/keys/nobody")).status_code == 400
            # A cross-origin write is refused (CSRF).
            r = await c.post("/api/keys", json={"name": "evil"}, headers={"origin": "http://evil.example"})
            assert r.status_code == 403
        assert new not in router.log_text() and key not in router.log_text()


async def test_keys_api_needs_the_admin_key(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="up") as mock,
        run_router(config_for(mock.url, f'admin_key = "{ADMIN}"'), tmp_path) as router,
    ):
        async with httpx.AsyncClient(base_url=router.url) as c:
            assert (await c.get("/api/keys")).status_code == 403
            assert (await c.post("/api/keys", json={"name": "a"})).status_code == 403
            assert (await c.get("/api/usage")).status_code == 403
            assert (await c.get("/api/keys", headers={"x-admin-key": ADMIN})).status_code == 200


async def test_usage_summary_and_daily_series(tmp_path: Path) -> None:
    now = time.time()
    seed_usage(tmp_path, now)
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        async with httpx.AsyncClient(base_url=router.url) as c:
            r = await c.get("/api/usage", params={"by": "key", "since": "7d"})
            assert r.status_code == 200, r.text
            rows = {x["group"]: x for x in r.json()["rows"]}
            assert round(rows["alice"]["cost_usd"], 6) == 0.03 and rows["alice"]["requests"] == 2
            assert round(rows["bob"]["cost_usd"], 6) == 0.10
            r = await c.get("/api/usage", params={"by": "model", "since": "36h"})
            assert {x["group"] for x in r.json()["rows"]} == {"claude-sonnet-4-5", "mystery-model"}
            assert (await c.get("/api/usage", params={"by": "colour"})).status_code == 400
            assert (await c.get("/api/usage", params={"since": "yesterday"})).status_code == 400

            d = (await c.get("/api/usage/daily", params={"since": "30d"})).json()
            assert len(d["days"]) == 3
            assert d["spend_by_model"]["claude-opus-4-1"] == [0.1, 0.0, 0.0]
            assert d["spend_by_model"]["claude-sonnet-4-5"] == [0.02, 0.01, 0.0]
            assert d["tokens_by_route"]["think"] == [3200, 0, 0]
            assert d["tokens_by_route"]["background"] == [0, 0, 330]
            # Day 1: 9000 read of 9000 + 1000 + 2000 + 1000 written.
            assert d["cache_hit_ratio"][0] == 9000 / 13000
            assert d["cache_hit_ratio"][1] == 0.5
            assert d["unpriced"] == 1


async def test_usage_without_a_store(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        (tmp_path / "usage.db").unlink(missing_ok=True)
        async with httpx.AsyncClient(base_url=router.url) as c:
            r = await c.get("/api/usage/daily")
            assert r.status_code == 200 and r.json()["days"] == []
            assert (await c.get("/api/usage")).json()["rows"] == []


def test_daily_series_groups_the_tail_as_other(tmp_path: Path) -> None:
    from claude_code_mux.observe.usage_db import daily

    conn = connect(tmp_path / "u.db")
    with conn:
        conn.executemany(
            "INSERT INTO usage (ts, route, model, input_tokens, output_tokens, cache_read_tokens, "
            "cache_write_tokens, cost_usd) VALUES (?, 'default', ?, 10, 0, 0, 0, ?)",
            [(1000.0, f"m{i}", float(i)) for i in range(5)],
        )
    out = daily(conn, 0, top=2)
    assert set(out["spend_by_model"]) == {"m4", "m3", "other"}
    assert out["spend_by_model"]["other"] == [0 + 1 + 2]
    conn.close()
