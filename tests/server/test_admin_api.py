"""The admin JSON API against the real server: reads, writes to the file (comments kept) applied at once,
validation errors that name the field, protection (admin key, CSRF, Host), masked secrets, the flow log and
its live feed, the test console, the original's /api/config/json, and a schemathesis run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.harness import RouterHandle, run_router
from tests.mocks.anthropic import Fault, MockAnthropic

SECRET = "sk-literal-secret-" + "a1b2c3d4e5"
ENV_SECRET = "sk-from-env-" + "f6g7h8i9"
ADMIN_SECRET = "admin-key-" + "j0k1l2m3"
ENV_NAME = "CCM_TEST_ADMIN_ENV_KEY"


def config_text(url: str, server: str = "") -> str:
    return f"""# admin API test config
[server]
host = "127.0.0.1"  # loopback only
{server}
[router]
default = "main"  # the default route
auto_map = true

# the upstream mock, literal key
[[providers]]
name = "up"
provider_type = "anthropic"
base_url = "{url}"
api_key = "{SECRET}"

# the same mock, key from the environment
[[providers]]
name = "envp"
provider_type = "anthropic"
base_url = "{url}"
api_key = "${ENV_NAME}"

# models
[[models]]
name = "main"
[[models.mappings]]
provider = "up"  # first choice
actual_model = "upstream-main"
priority = 1
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_NAME, ENV_SECRET)
    monkeypatch.setenv("CCM_TEST_ADMIN_SECRET", ADMIN_SECRET)


@contextlib.asynccontextmanager
async def stack(
    tmp_path: Path, server: str = ""
) -> AsyncIterator[tuple[MockAnthropic, RouterHandle, httpx.AsyncClient]]:
    async with (
        MockAnthropic(name="up") as mock,
        run_router(config_text(mock.url, server), tmp_path) as router,
        httpx.AsyncClient(base_url=router.url, timeout=30) as http,
    ):
        yield mock, router, http


def err(r: httpx.Response) -> str:
    body = r.json()
    assert body["type"] == "error", body
    return str(body["error"]["message"])


def no_secrets(text: str) -> None:
    for s in (SECRET, ENV_SECRET, ADMIN_SECRET):
        assert s not in text


async def test_status_config_and_masked_secrets(tmp_path: Path) -> None:
    async with stack(tmp_path) as (mock, router, http):
        async with anthropic.AsyncAnthropic(base_url=router.url, api_key="client") as client:
            await client.messages.create(
                model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "Reply: x"}]
            )
        st = (await http.get("/api/status")).json()
        assert st["config_path"] == str(router.config_path)
        assert st["uptime_s"] >= 0 and st["version"]
        assert st["routing"][0] == {
            "route": "default",
            "model": "main",
            "targets": [{"priority": 1, "provider": "up", "model": "upstream-main", "cooldown_s": 0.0}],
        }
        provs = {p["name"]: p for p in st["providers"]}
        assert provs["up"]["dialect"] == "anthropic" and provs["up"]["base_url"] == mock.url
        assert provs["up"]["enabled"] and provs["up"]["healthy"] and provs["up"]["auth_type"] == "apikey"
        assert not st["tokens"] and st["tokens_error"] is None
        cfg = (await http.get("/api/config")).json()
        keys = {p["name"]: p["api_key"] for p in cfg["config"]["providers"]}
        assert keys == {"up": "********", "envp": f"${ENV_NAME}"}
        assert cfg["file_error"] is None
        compat = (await http.get("/api/config/json")).json()
        assert {p["name"]: p["api_key"] for p in compat["providers"]} == keys
        assert compat["router"]["auto_map_regex"] == "^claude-"
        for path in ("/api/status", "/api/config", "/api/config/json", "/api/requests", "/api/presets"):
            r = await http.get(path)
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
            no_secrets(r.text)
        presets = (await http.get("/api/presets")).json()["presets"]
        assert {"name": "openrouter", "dialect": "openai"}.items() <= next(
            p for p in presets if p["name"] == "openrouter"
        ).items()


async def test_crud_writes_file_keeps_comments_and_applies(tmp_path: Path) -> None:
    async with stack(tmp_path) as (mock, router, http):
        r = await http.post(
            "/api/providers",
            json={
                "name": "extra",
                "provider_type": "anthropic",
                "base_url": mock.url,
                "api_key": f"${ENV_NAME}",
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["reloaded"] is True
        r = await http.post(
            "/api/models",
            json={"name": "second", "mappings": [{"provider": "extra", "actual_model": "up-2"}]},
        )
        assert r.status_code == 201, r.text
        r = await http.put("/api/config/router", json={"default": "second", "think": "main"})
        assert r.status_code == 200, r.text
        text = router.config_path.read_text()
        for comment in (
            "# admin API test config",
            "# loopback only",
            "# the default route",
            "# models",
            "# the same mock, key from the environment",
            "# first choice",
        ):
            assert comment in text
        assert 'default = "second"  # the default route' in text
        # Applied without a restart: claude-* maps to router.default = second -> extra / up-2.
        async with anthropic.AsyncAnthropic(base_url=router.url, api_key="c") as client:
            await client.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        sent = mock.messages_requests()[-1].json
        assert sent is not None and sent["model"] == "up-2"
        # Keep-if-masked: the literal key stays in the file, and the change is applied.
        r = await http.put("/api/providers/up", json={"api_key": "********", "enabled": True, "models": ["m-*"]})
        assert r.status_code == 200, r.text
        assert f'api_key = "{SECRET}"' in router.config_path.read_text()
        no_secrets(r.text)
        # Mapping edits keep the mapping's comment; priorities are kept as sent.
        r = await http.put(
            "/api/models/main",
            json={
                "mappings": [
                    {"provider": "up", "actual_model": "upstream-main-2", "priority": 1},
                    {"provider": "extra", "actual_model": "fallback", "priority": 2},
                ]
            },
        )
        assert r.status_code == 200, r.text
        text = router.config_path.read_text()
        assert 'provider = "up"  # first choice' in text and 'actual_model = "fallback"' in text
        # Rename a provider: the mappings follow.
        r = await http.put("/api/providers/extra", json={"name": "renamed"})
        assert r.status_code == 200, r.text
        models = {m["name"]: m for m in r.json()["config"]["models"]}
        assert [mp["provider"] for mp in models["second"]["mappings"]] == ["renamed"]
        # In use -> 409; unknown -> 404; then delete in order.
        r = await http.delete("/api/providers/renamed", headers={"content-type": "application/json"})
        assert r.status_code == 409 and "second" in err(r)
        r = await http.delete("/api/models/nope", headers={"content-type": "application/json"})
        assert r.status_code == 404
        r = await http.put("/api/config/router", json={"default": "main"})
        assert r.status_code == 200
        r = await http.put("/api/models/main", json={"mappings": [{"provider": "up", "actual_model": "u"}]})
        assert r.status_code == 200
        r = await http.delete("/api/models/second", headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        r = await http.delete("/api/providers/renamed", headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        assert [p["name"] for p in r.json()["config"]["providers"]] == ["up", "envp"]
        assert "# models" in router.config_path.read_text()
        # Server settings.
        r = await http.put("/api/config/server", json={"log_level": "debug"})
        assert r.status_code == 200 and r.json()["config"]["server"]["log_level"] == "debug"


async def test_validation_errors_name_the_field_and_leave_the_file(tmp_path: Path) -> None:
    async with stack(tmp_path) as (_, router, http):
        before = router.config_path.read_text()
        cases: list[tuple[str, str, dict[str, Any], str]] = [
            ("POST", "/api/providers", {"name": "x", "base_url": "ftp://nope"}, "base_url"),
            ("POST", "/api/providers", {"name": "x", "colour": "red"}, "colour: unknown field"),
            ("POST", "/api/providers", {"provider_type": "openai"}, "name: field required"),
            ("POST", "/api/providers", {"name": "up"}, "name: a provider named 'up' already exists"),
            ("POST", "/api/providers", {"name": "x", "provider_type": "nonesuch"}, "provider_type"),
            (
                "POST",
                "/api/providers",
                {"name": "x", "api_key": "$CCM_SURELY_UNSET_VAR"},
                "CCM_SURELY_UNSET_VAR",
            ),
            ("POST", "/api/providers", {"name": "x", "api_key": "********"}, "api_key"),
            ("POST", "/api/providers", {"name": "x", "headers": {"X-A": "a\r\nInjected: 1"}}, "headers: the value"),
            ("POST", "/api/providers", {"name": "a/b"}, "name: String should match pattern"),
            ("PUT", "/api/config/router", {"default": "nonexistent"}, "router.default"),
            ("PUT", "/api/config/router", {"default": None}, "default"),
            ("PUT", "/api/config/router", {"auto_map_regex": "("}, "auto_map_regex"),
            (
                "POST",
                "/api/models",
                {"name": "m", "mappings": [{"provider": "ghost", "actual_model": "x"}]},
                "ghost",
            ),
            (
                "POST",
                "/api/models",
                {"name": "m", "mappings": [{"provider": "up"}]},
                "mappings[0].actual_model",
            ),
            ("PUT", "/api/config/server", {"port": 70000}, "port"),
        ]
        for method, path, body, needle in cases:
            r = await http.request(method, path, json=body)
            assert r.status_code in (400, 409), (path, body, r.text)
            assert needle in err(r), (needle, err(r))
        r = await http.post("/api/providers", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and "body" in err(r)
        r = await http.get("/api/requests", params={"limit": "0"})
        assert r.status_code == 400 and "limit" in err(r)
        assert router.config_path.read_text() == before


async def test_csrf_content_type_and_host(tmp_path: Path) -> None:
    async with stack(tmp_path) as (_, router, http):
        body = {"think": "main"}
        r = await http.put("/api/config/router", json=body, headers={"origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-origin" in err(r)
        r = await http.put("/api/config/router", json=body, headers={"referer": "http://evil.example/x"})
        assert r.status_code == 403
        r = await http.put("/api/config/router", json=body, headers={"origin": "null"})
        assert r.status_code == 403
        r = await http.put(
            "/api/config/router",
            content=b"think=main",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 415 and "application/json" in err(r)
        r = await http.post("/api/reload", content=b"{}", headers={"content-type": "text/plain"})
        assert r.status_code == 415
        r = await http.delete("/api/models/main", headers={"content-type": "text/plain"})
        assert r.status_code == 415
        # A body-less write with no content type still needs the same origin (a page can POST it without preflight).
        r = await http.post("/api/reload", headers={"origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-origin" in err(r)
        # DNS rebinding: a foreign Host without an admin key.
        r = await http.get("/api/config", headers={"host": "evil.example"})
        assert r.status_code == 403 and "loopback Host" in err(r)
        assert "think" not in router.config_path.read_text()
        # Same origin is fine.
        r = await http.put("/api/config/router", json=body, headers={"origin": router.url, "referer": router.url + "/"})
        assert r.status_code == 200, r.text
        # The UI is served without any of this (it holds no data).
        assert (await http.get("/", headers={"host": "evil.example"})).status_code == 200
        assert (await http.head("/")).status_code == 200


async def test_bodyless_writes_are_not_refused_with_415(tmp_path: Path) -> None:
    """Issue 14 item 19: DELETE and POST on endpoints that take no body, sent without one (as curl and the UI do),
    are served, not refused for a missing Content-Type."""
    async with stack(tmp_path) as (_, _router, http):
        r = await http.delete("/api/providers/envp")
        assert "content-type" not in r.request.headers and r.status_code == 200, r.text
        assert [p["name"] for p in r.json()["config"]["providers"]] == ["up"]
        r = await http.post("/api/reload")
        assert "content-type" not in r.request.headers and r.status_code == 200, r.text
        assert r.json()["reloaded"] is True
        r = await http.request("DELETE", "/api/oauth/tokens/nobody", headers={"content-length": "0"})
        assert r.status_code == 404 and "nobody" in err(r)
        r = await http.post("/auth/logout")  # body-less: the default provider id
        assert r.status_code == 200 and r.json() == {"success": False, "provider_id": "claude-max"}


async def test_admin_and_oauth_bodies_are_bounded_while_read(tmp_path: Path) -> None:
    """Admin bodies stop at 1 MiB and OAuth bodies at 16 KiB, announced or chunked, with a 413 envelope."""
    async with stack(tmp_path) as (_, router, http):
        big = orjson.dumps({"auto_map_regex": "x" * (1024 * 1024 + 10)})
        r = await http.put("/api/config/router", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"oauth_type": "max", "pad": "'
            for _ in range(40):
                yield b"y" * 1024
            yield b'"}'

        r = await http.post("/api/oauth/authorize", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in r.request.headers and r.status_code == 413, r.text
        assert "state" not in router.config_path.read_text()


async def test_admin_key_required_beyond_loopback(tmp_path: Path) -> None:
    mock = MockAnthropic(name="up")
    await mock.start()
    try:
        text = config_text(mock.url).replace('host = "127.0.0.1"', 'host = "0.0.0.0"')
        async with run_router(text, tmp_path / "a") as router, httpx.AsyncClient(base_url=router.url) as http:
            r = await http.get("/api/status")
            assert r.status_code == 403 and "admin_key" in err(r)
            r = await http.get("/api/config", headers={"x-admin-key": "anything"})
            assert r.status_code == 403
            assert (await http.get("/")).status_code == 200
        text = config_text(mock.url, 'admin_key = "$CCM_TEST_ADMIN_SECRET"\n').replace(
            'host = "127.0.0.1"', 'host = "0.0.0.0"'
        )
        async with run_router(text, tmp_path / "b") as router, httpx.AsyncClient(base_url=router.url) as http:
            for headers in ({}, {"x-admin-key": "wrong"}, {"authorization": "Bearer wrong"}):
                r = await http.get("/api/config", headers=headers)
                assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
                no_secrets(r.text)
            for headers in ({"x-admin-key": ADMIN_SECRET}, {"authorization": f"Bearer {ADMIN_SECRET}"}):
                r = await http.get("/api/config", headers=headers)
                assert r.status_code == 200
                assert r.json()["config"]["server"]["admin_key"] == "$CCM_TEST_ADMIN_SECRET"
                no_secrets(r.text)
            r = await http.put("/api/config/router", json={"think": "main"}, headers={"x-admin-key": ADMIN_SECRET})
            assert r.status_code == 200
    finally:
        await mock.stop()


async def _read_events(resp: httpx.Response, queue: asyncio.Queue[dict[str, Any]]) -> None:
    event = ""
    async for line in resp.aiter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "request":
            await queue.put(orjson.loads(line[5:]))


async def test_requests_log_and_live_feed(tmp_path: Path) -> None:
    async with stack(tmp_path) as (_, router, http):
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with http.stream("GET", "/api/requests/stream") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            reader = asyncio.create_task(_read_events(resp, queue))
            async with (
                anthropic.AsyncAnthropic(base_url=router.url, api_key="c") as client,
                client.messages.stream(
                    model="claude-sonnet-4-5",
                    max_tokens=10,
                    metadata={"user_id": "user_abc_account__session_sess-42"},
                    messages=[{"role": "user", "content": "Reply with exactly: live"}],
                ) as s,
            ):
                await s.get_final_message()
            rec = await asyncio.wait_for(queue.get(), 5)
            reader.cancel()
            hub = router.server.holder.observers if router.server.holder else None
            assert hub is not None and hub.subscriber_count == 1
        # The client went away: its subscription is gone too (no queue left filling up).
        for _ in range(50):
            if hub.subscriber_count == 0:
                break
            await asyncio.sleep(0.05)
        assert hub.subscriber_count == 0
        assert rec["provider"] == "up" and rec["model"] == "upstream-main" and rec["status"] == 200
        assert rec["stream"] is True and rec["attempts"][0]["provider"] == "up"
        r = (await http.get("/api/requests", params={"session": "sess-42"})).json()
        assert [x["request_id"] for x in r["requests"]] == [rec["request_id"]]
        assert (await http.get("/api/requests", params={"session": "other"})).json()["requests"] == []
        assert len((await http.get("/api/requests", params={"limit": "1"})).json()["requests"]) == 1


async def test_console_json_and_stream(tmp_path: Path) -> None:
    async with stack(tmp_path) as (_, _router, http):
        r = await http.post("/api/test", json={"model": "main", "message": "Reply with exactly: pong", "stream": False})
        d = r.json()
        assert r.status_code == 200 and d["ok"] and d["text"] == "pong"
        assert d["provider"] == "up" and d["headers"]["x-ccm-model"] == "upstream-main"
        [attempt] = d["record"]["attempts"]
        assert attempt.items() >= {"provider": "up", "model": "upstream-main", "status": 200, "error": None}.items()
        assert d["latency_ms"] > 0
        r = await http.post(
            "/api/test", json={"model": "main", "provider": "up"}, headers={"accept": "text/event-stream"}
        )
        events = [line[6:].strip() for line in r.text.splitlines() if line.startswith("event:")]
        assert events[0] == "meta" and "text" in events and events[-1] == "done"
        done = orjson.loads(r.text.rsplit("data: ", 1)[1])
        assert done["provider"] == "up" and done["text"] == "pong" and done["ok"]
        for provider, needle in (("ghost", "not a configured provider"), ("envp", "has no mapping")):
            r = await http.post("/api/test", json={"model": "main", "provider": provider})
            d = r.json()
            assert r.status_code == 200 and not d["ok"] and d["status"] == 400 and needle in d["error"]
        no_secrets(r.text)


async def test_console_failure_shows_every_attempt_and_its_cause(tmp_path: Path) -> None:
    """Issue 14 item 17: a failed test request comes back with its record (the attempts, each with its own
    error), and the error names the first candidate's real cause, not only the last candidate's."""
    async with stack(tmp_path) as (mock, _router, http):
        pair = {
            "name": "pair",
            "mappings": [
                {"provider": "up", "actual_model": "first-model", "priority": 1},
                {"provider": "envp", "actual_model": "second-model", "priority": 2},
            ],
        }
        assert (await http.post("/api/models", json=pair)).status_code == 201
        mock.add_fault(Fault(kind="status", status=529, message="first candidate overloaded", times=1))
        mock.add_fault(Fault(kind="status", status=400, message="second candidate rejects", times=1))
        for accept in ("application/json", "text/event-stream"):
            r = await http.post("/api/test", json={"model": "pair", "stream": False}, headers={"accept": accept})
            d = orjson.loads(r.text.rsplit("data: ", 1)[1]) if accept == "text/event-stream" else r.json()
            assert r.status_code == 200 and not d["ok"] and d["status"] == 400
            assert d["record"] is not None, d
            attempts = sorted((a["provider"], a["model"], a["status"]) for a in d["record"]["attempts"])
            # (the second round starts with envp: up is cooling down after its 529)
            assert [(p, m) for p, m, _ in attempts] == [("envp", "second-model"), ("up", "first-model")]
            assert sorted(st for _, _, st in attempts) == [400, 529]
            assert all(a["error"] for a in d["record"]["attempts"])
            assert "up/first-model" in d["error"] and "envp/second-model" in d["error"], d["error"]
            no_secrets(r.text)
            mock.add_fault(Fault(kind="status", status=529, message="first candidate overloaded", times=1))
            mock.add_fault(Fault(kind="status", status=400, message="second candidate rejects", times=1))


async def test_console_client_key_reaches_a_passthrough_provider(tmp_path: Path) -> None:
    """Issue 14 item 17: the console's client key is sent as the client's own key, so a passthrough provider
    can be tested; it is never echoed back."""
    client_key = "sk-client-own-" + "q1w2e3r4t5"
    async with stack(tmp_path) as (mock, _router, http):
        prov = {"name": "pt", "provider_type": "anthropic", "base_url": mock.url, "auth_type": "passthrough"}
        assert (await http.post("/api/providers", json=prov)).status_code == 201
        model = {"name": "ptm", "mappings": [{"provider": "pt", "actual_model": "pt-model", "priority": 1}]}
        assert (await http.post("/api/models", json=model)).status_code == 201
        r = await http.post("/api/test", json={"model": "ptm", "stream": False})
        assert not r.json()["ok"] and "passthrough" in r.json()["error"]
        r = await http.post("/api/test", json={"model": "ptm", "stream": False, "client_key": client_key})
        d = r.json()
        assert d["ok"] and d["provider"] == "pt", d
        sent = dict((k.lower(), v) for k, v in mock.messages_requests()[-1].headers)
        assert sent["x-api-key"] == client_key
        assert client_key not in r.text


async def test_reload_endpoint_reports_invalid_file(tmp_path: Path) -> None:
    async with stack(tmp_path) as (_, router, http):
        good = router.config_path.read_text()
        router.config_path.write_text(good.replace('default = "main"', 'default = "missing-model"'))
        r = await http.post("/api/reload", json={})
        assert r.status_code == 400 and "router.default" in err(r) and ":" in err(r)
        cfg = (await http.get("/api/config")).json()
        assert cfg["config"]["router"]["default"] == "main" and "router.default" in cfg["file_error"]
        router.config_path.write_text(good.replace("auto_map = true", "auto_map = false"))
        r = await http.post("/api/reload", json={})
        assert r.status_code == 200 and r.json()["reloaded"] and r.json()["config"]["router"]["auto_map"] is False


async def test_compat_config_json(tmp_path: Path) -> None:
    async with stack(tmp_path) as (mock, router, http):
        data = (await http.get("/api/config/json")).json()
        data["providers"].append(
            {
                "name": "more",
                "provider_type": "anthropic",
                "base_url": mock.url,
                "api_key": "sk-new-key-value",
                "models": [],
            }
        )
        data["models"].append({"name": "m2", "mappings": [{"provider": "more", "actual_model": "x", "priority": 1}]})
        data["router"]["think"] = "m2"
        data["router"]["background"] = None  # null is ignored, as in the original
        r = await http.post("/api/config/json", json=data)
        assert r.status_code == 200 and r.json()["status"] == "success", r.text
        text = router.config_path.read_text()
        assert f'api_key = "{SECRET}"' in text and 'api_key = "sk-new-key-value"' in text
        assert 'think = "m2"' in text and "# the upstream mock, literal key" in text
        got = (await http.get("/api/config/json")).json()
        assert [p["name"] for p in got["providers"]] == ["up", "envp", "more"]
        assert got["providers"][2]["api_key"] == "********"
        # Lists replace wholesale.
        got["providers"] = [p for p in got["providers"] if p["name"] != "envp"]
        r = await http.post("/api/config/json", json=got)
        assert r.status_code == 200, r.text
        assert [p["name"] for p in (await http.get("/api/config/json")).json()["providers"]] == ["up", "more"]


async def test_schemathesis_finds_no_server_errors(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        if os.environ.get("CCM_REQUIRE_E2E") == "1":
            pytest.fail("schemathesis is not installed")
        pytest.skip("schemathesis is not installed")
    async with stack(tmp_path / "home") as (_, router, _http):
        common = [
            "--checks",
            "not_a_server_error",
            "--exclude-path",
            "/api/requests/stream",  # endless by design
            "--exclude-path",
            "/api/oauth/exchange",  # a code-shaped value would reach the real OAuth token endpoint
            "-H",
            "Content-Type: application/json",
            "--request-timeout",
            "20",
            "--no-shrink",
            "--workers",
            "1",
        ]
        runs = [  # boundary/negative values of every field, and a few random valid-ish bodies
            ["--phases", "coverage", "--mode", "negative", "--seed", "1"],
            ["--phases", "fuzzing", "--max-examples", "6", "--seed", "2"],
        ]

        async def run(i: int, extra: list[str]) -> tuple[int | None, str]:
            work = tmp_path / f"st{i}"
            work.mkdir()
            proc = await asyncio.create_subprocess_exec(
                st,
                "run",
                router.url + "/api/openapi.json",
                *common,
                *extra,
                cwd=work,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "NO_COLOR": "1"},
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            return proc.returncode, out.decode(errors="replace")

        results = await asyncio.gather(*(run(i, extra) for i, extra in enumerate(runs)))
        for code, text in results:
            assert code == 0, text[-6000:]
            assert "passed" in text
            no_secrets(text)
        assert "internal error" not in router.log_text()
