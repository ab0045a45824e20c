"""Keys and budgets through the real router: virtual keys, model allow-lists, per-key rps, budgets that block
or downgrade before any upstream call, spend that survives a restart, and credentials that never leak upstream."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from claude_code_mux.access.keystore import FILENAME, KeyStore
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic

# Sonnet 4.5: $3 / M input, $15 / M output. 10 000 in + 500 out = $0.0375 a request.
USAGE = {"input_tokens": 10_000, "output_tokens": 500}


def config_for(url: str, *, extra: str = "", auth: str = "apikey") -> str:
    return (
        '[router]\ndefault = "main"\n'
        + anthropic_provider("up", url, auth=auth)
        + model_block("main", [("up", "claude-sonnet-4-5")])
        + model_block("fast", [("up", "claude-haiku-4-5")])
        + extra
    )


def body(model: str = "main", max_tokens: int = 1000) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": "Reply with: OK"}]}


def make_key(home: Path, name: str, **kw: Any) -> str:
    home.mkdir(parents=True, exist_ok=True)
    key, _ = KeyStore(home / FILENAME).create(name, **kw)
    return key


async def post(router_url: str, key: str | None, payload: dict[str, Any], **headers: str) -> httpx.Response:
    hdrs = dict(headers)
    if key is not None:
        hdrs["x-api-key"] = key
    async with httpx.AsyncClient(base_url=router_url, timeout=30) as c:
        return await c.post("/v1/messages", json=payload, headers=hdrs)


def error_of(r: httpx.Response) -> dict[str, Any]:
    data = r.json()
    assert data["type"] == "error", data
    err: dict[str, Any] = data["error"]
    return err


async def test_virtual_key_revoked_and_expired_get_401(tmp_path: Path) -> None:
    good = make_key(tmp_path, "alice")
    gone = make_key(tmp_path, "bob")
    KeyStore(tmp_path / FILENAME).revoke("bob")
    past = KeyStore(tmp_path / FILENAME, clock=lambda: time.time() - 7200)
    old, _ = past.create("carol", expires_in=3600)  # expired an hour ago
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        assert (await post(router.url, good, body())).status_code == 200
        r = await post(router.url, gone, body())
        assert r.status_code == 401 and error_of(r)["type"] == "authentication_error"
        assert "'bob' was revoked" in error_of(r)["message"]
        r = await post(router.url, old, body())
        assert r.status_code == 401 and "'carol' expired" in error_of(r)["message"]
        r = await post(router.url, "ccm-" + "x" * 40, body())
        assert r.status_code == 401 and "unknown claude-code-mux key" in error_of(r)["message"]
        assert len(mock.messages_requests()) == 1  # only alice's request went upstream
        # A key revoked while the router runs is refused within the key ring's watch interval.
        KeyStore(tmp_path / FILENAME).revoke("alice")
        for _ in range(50):
            r = await post(router.url, good, body())
            if r.status_code == 401:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 401
        # The secret never reaches the log.
        assert good not in router.log_text() and gone not in router.log_text()


async def test_router_key_and_virtual_keys_together(tmp_path: Path) -> None:
    key = make_key(tmp_path, "alice")
    extra = '[server]\napi_key = "router-secret"\n'
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url) + extra, tmp_path) as router:
        assert (await post(router.url, "router-secret", body())).status_code == 200
        assert (await post(router.url, key, body())).status_code == 200
        r = await post(router.url, None, body())
        assert r.status_code == 401
        r = await post(router.url, "wrong", body())
        assert r.status_code == 401
        # The other /v1/* routes (Starlette side) take the virtual key too.
        async with httpx.AsyncClient(base_url=router.url) as c:
            assert (await c.get("/v1/models", headers={"x-api-key": key})).status_code == 200
            assert (await c.get("/v1/models")).status_code == 401


async def test_model_allow_list_403_names_allowed(tmp_path: Path) -> None:
    key = make_key(tmp_path, "intern", models=("fast", "haiku"))
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        r = await post(router.url, key, body("main"))
        assert r.status_code == 403 and error_of(r)["type"] == "permission_error"
        msg = error_of(r)["message"]
        assert "'main'" in msg and "allowed: fast, haiku" in msg
        async with httpx.AsyncClient(base_url=router.url) as c:
            ct = await c.post("/v1/messages/count_tokens", json=body("main"), headers={"x-api-key": key})
            assert ct.status_code == 403
            oa = await c.post(
                "/v1/chat/completions",
                json={"model": "main", "messages": [{"role": "user", "content": "hi"}]},
                headers={"authorization": f"Bearer {key}"},
            )
            assert oa.status_code == 403 and "allowed: fast, haiku" in oa.json()["error"]["message"]
        assert mock.messages_requests() == []
        r = await post(router.url, key, body("fast"))
        assert r.status_code == 200
        r = await post(router.url, key, body("claude-haiku-4-5"))  # a plain name matches a whole word
        assert r.status_code in (200, 400, 404)  # allowed by the key; routing decides the rest
        assert r.status_code != 403


async def test_per_key_rps_holds(tmp_path: Path) -> None:
    slow = make_key(tmp_path, "slow", rps=1)
    free = make_key(tmp_path, "free")
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        codes = [(await post(router.url, slow, body())).status_code for _ in range(4)]
        assert codes[0] == 200 and codes.count(429) >= 2, codes
        r = await post(router.url, slow, body())
        assert r.status_code == 429 and "'slow'" in error_of(r)["message"] and r.headers["retry-after"]
        # Another key is not limited by it.
        assert [(await post(router.url, free, body())).status_code for _ in range(4)] == [200] * 4
        served = len(mock.messages_requests())
        assert served == codes.count(200) + 4
        # The other /v1/* routes count against the key's rps too.
        await asyncio.sleep(1.1)
        async with httpx.AsyncClient(base_url=router.url) as c:
            got = [(await c.get("/v1/models", headers={"x-api-key": slow})).status_code for _ in range(3)]
        assert got[0] == 200 and 429 in got, got


BLOCK = '[[budgets]]\nscope = "project:myrepo"\nlimit_usd = 0.05\nperiod = "day"\naction = "block"\n'


async def test_project_budget_blocks_before_upstream_and_survives_restart(tmp_path: Path) -> None:
    key = make_key(tmp_path, "alice")
    proj = {"x-ccm-project": "myrepo"}
    async with MockAnthropic(name="up", usage=USAGE) as mock:
        async with run_router(config_for(mock.url, extra=BLOCK), tmp_path) as router:
            r = await post(router.url, key, body(), **proj)
            assert r.status_code == 200, r.text  # $0.0375 spent
            # Another project is not affected.
            assert (await post(router.url, key, body(), **{"x-ccm-project": "other"})).status_code == 200
            r = await post(router.url, key, body(), **proj)  # $0.0375 + ~$0.015 estimate > $0.05
            assert r.status_code == 429, r.text
            err = error_of(r)
            assert err["type"] == "rate_limit_error"
            msg = err["message"]
            assert "project:myrepo" in msg and "$0.05 per day" in msg and "$0.0375 spent" in msg
            assert "resets" in msg
            assert r.headers["x-should-retry"] == "false" and int(r.headers["retry-after"]) > 0
            assert len(mock.messages_requests()) == 2  # the blocked request never went upstream
            # The virtual key and the project header never reach the upstream.
            for req in mock.messages_requests():
                sent = {k.lower(): v for k, v in req.headers}
                assert "x-ccm-project" not in sent
                assert key not in str(sent)
                assert sent["x-api-key"] == "sk-up-test"
        # A new router on the same home (SQLite usage.db) still knows the spend.
        mock.clear()
        async with run_router(config_for(mock.url, extra=BLOCK), tmp_path) as router:
            r = await post(router.url, key, body(), **proj)
            assert r.status_code == 429 and "$0.0375 spent" in error_of(r)["message"]
            assert mock.messages_requests() == []
        # The usage rows carry the key and the project.

        with sqlite3.connect(tmp_path / "usage.db") as conn:
            rows = conn.execute("SELECT key_name, project, cost_usd FROM usage WHERE status = 200").fetchall()
        got = sorted((k, p, round(c, 6)) for k, p, c in rows)
        assert got == [("alice", "myrepo", 0.0375), ("alice", "other", 0.0375)]


DOWNGRADE = (
    '[[budgets]]\nscope = "project:myrepo"\nlimit_usd = 0.05\nperiod = "day"\naction = "downgrade"\n'
    'downgrade_to = "fast"\n'
)


async def test_project_budget_downgrades_to_cheaper_model(tmp_path: Path) -> None:
    proj = {"x-ccm-project": "myrepo"}
    async with (
        MockAnthropic(name="up", usage=USAGE) as mock,
        run_router(config_for(mock.url, extra=DOWNGRADE), tmp_path) as router,
    ):
        r = await post(router.url, None, body(), **proj)
        assert r.status_code == 200 and r.headers["x-ccm-model"] == "claude-sonnet-4-5"
        assert not r.headers["x-ccm-route"].startswith("budget")
        for _ in range(2):
            r = await post(router.url, None, body(), **proj)
            assert r.status_code == 200, r.text
            assert r.headers["x-ccm-route"] == "budget:downgrade"
            assert r.headers["x-ccm-model"] == "claude-haiku-4-5"
        assert [(q.json or {})["model"] for q in mock.messages_requests()] == [
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "claude-haiku-4-5",
        ]
        # Streaming requests are downgraded the same way and settle from the stream's usage.
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as c:
            async with c.stream("POST", "/v1/messages", json={**body(), "stream": True}, headers=proj) as s:
                assert s.status_code == 200 and s.headers["x-ccm-route"] == "budget:downgrade"
                assert b"message_stop" in await s.aread()


async def test_passthrough_provider_never_gets_a_virtual_key(tmp_path: Path) -> None:
    key = make_key(tmp_path, "alice")
    async with (
        MockAnthropic(name="up") as mock,
        run_router(config_for(mock.url, auth="passthrough"), tmp_path) as router,
    ):
        # Only the virtual key: the passthrough provider has no credential of the client's to use.
        r = await post(router.url, key, body())
        assert r.status_code == 401 and "passthrough" in error_of(r)["message"]
        assert mock.messages_requests() == []
        # The virtual key as x-api-key, the user's own Anthropic token as Authorization: only the latter goes up.
        r = await post(router.url, key, body(), authorization="Bearer sk-ant-own")
        assert r.status_code == 200, r.text
        sent = {k.lower(): v for k, v in mock.messages_requests()[0].headers}
        assert sent.get("authorization") == "Bearer sk-ant-own"
        assert "x-api-key" not in sent and key not in str(sent)


async def test_budget_added_by_a_reload_applies_at_once(tmp_path: Path) -> None:
    proj = {"x-ccm-project": "myrepo"}
    async with MockAnthropic(name="up", usage=USAGE) as mock, run_router(config_for(mock.url), tmp_path) as router:
        for _ in range(2):  # $0.075 spent with no budget
            assert (await post(router.url, None, body(), **proj)).status_code == 200
        await asyncio.sleep(1.3)  # unbudgeted spend is known from usage.db, whose rows are written in batches
        router.config_path.write_text(config_for(mock.url, extra=BLOCK))
        assert await router.server.reload("test")
        r = await post(router.url, None, body(), **proj)
        assert r.status_code == 429 and "is used up" in error_of(r)["message"], r.text
        assert len(mock.messages_requests()) == 2
        # And removed again: served.
        router.config_path.write_text(config_for(mock.url))
        assert await router.server.reload("test")
        assert (await post(router.url, None, body(), **proj)).status_code == 200


async def test_chat_completions_budget_block_and_downgrade(tmp_path: Path) -> None:
    """The OpenAI-format endpoint is budgeted the same way; refusals come in OpenAI's error shape."""
    proj = {"x-ccm-project": "myrepo"}
    oa = {"model": "main", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
    async with MockAnthropic(name="up", usage=USAGE) as mock:
        async with run_router(config_for(mock.url, extra=BLOCK), tmp_path / "a") as router:
            async with httpx.AsyncClient(base_url=router.url, timeout=30) as c:
                assert (await c.post("/v1/chat/completions", json=oa, headers=proj)).status_code == 200
                r = await c.post("/v1/chat/completions", json=oa, headers=proj)
                assert r.status_code == 429, r.text
                assert "project:myrepo" in r.json()["error"]["message"]
            assert len(mock.messages_requests()) == 1
        mock.clear()
        async with run_router(config_for(mock.url, extra=DOWNGRADE), tmp_path / "b") as router:
            async with httpx.AsyncClient(base_url=router.url, timeout=30) as c:
                routes = []
                for _ in range(3):
                    r = await c.post("/v1/chat/completions", json=oa, headers=proj)
                    assert r.status_code == 200, r.text
                    routes.append(r.headers["x-ccm-route"])
            assert routes[1:] == ["budget:downgrade"] * 2
            assert [(q.json or {})["model"] for q in mock.messages_requests()][1:] == ["claude-haiku-4-5"] * 2


async def test_open_router_checks_keys_only_once_it_has_some(tmp_path: Path) -> None:
    """No server.api_key and an empty keys.db: the gate checks nothing (any key is the client's own business, as
    before keys existed). Once a key exists, a ``ccm-`` key that is not one of them is refused."""
    async with MockAnthropic(name="up") as mock, run_router(config_for(mock.url), tmp_path) as router:
        stray = "ccm-" + "y" * 40
        assert (await post(router.url, stray, body())).status_code == 200
        assert (await post(router.url, None, body())).status_code == 200
        async with httpx.AsyncClient(base_url=router.url) as c:
            r = await c.post("/api/keys", json={"name": "alice"})
            assert r.status_code == 201
            key = r.json()["key"]
        assert (await post(router.url, key, body())).status_code == 200
        r = await post(router.url, stray, body())
        assert r.status_code == 401 and "unknown claude-code-mux key" in error_of(r)["message"]
        assert (await post(router.url, None, body())).status_code == 200  # still an open router
