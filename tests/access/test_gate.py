"""The server's entry point (AccessGate) driven through a whole request sequence with the real routing
functions, a real keys.db and a real usage.db: auth, allow-list, budget block before any upstream call,
downgrade to a re-planned cheaper model, settle from real usage, and a restarted gate that still blocks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from claude_code_mux.access.gate import AccessGate
from claude_code_mux.access.keystore import KeyStore
from claude_code_mux.config.load import parse_config
from claude_code_mux.config.schema import Config
from claude_code_mux.errors import AuthenticationFailed, HttpError, PermissionDenied, RateLimited
from claude_code_mux.observe.usage_db import COLUMNS, connect
from claude_code_mux.routing.plan import plan
from claude_code_mux.routing.rules import decide
from claude_code_mux.routing.types import RouteDecision

T0 = 1_796_300_000.0  # 2026-12-03 (UTC), a Thursday

CONFIG = """
[server]
api_key = "rk-shared"
[router]
default = "main"
auto_map = true
[[providers]]
name = "anthropic"
provider_type = "anthropic"
api_key = "k"
[[models]]
name = "main"
[[models.mappings]]
provider = "anthropic"
actual_model = "claude-sonnet-4-5-20250929"
[[models]]
name = "fast"
[[models.mappings]]
provider = "anthropic"
actual_model = "claude-haiku-4-5-20251001"
[[budgets]]
scope = "project:blocked-repo"
limit_usd = 0.05
period = "day"
[[budgets]]
scope = "project:cheap-repo"
limit_usd = 0.05
period = "day"
action = "downgrade"
downgrade_to = "fast"
"""


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


class Router:
    """What the server does around the gate, in the documented order; ``dispatched`` counts upstream calls."""

    def __init__(self, gate: AccessGate, cfg: Config) -> None:
        self.gate, self.cfg = gate, cfg
        self.dispatched: list[tuple[str, str]] = []
        self.rows: list[tuple[Any, ...]] = []

    async def request(self, headers: dict[str, str], body: dict[str, Any], usage: dict[str, int]) -> RouteDecision:
        identity = self.gate.authenticate(headers)
        self.gate.check_model(identity, body["model"])
        decision = decide(body, headers, self.cfg)
        cands = plan(decision, self.cfg)
        decision, cands, ticket = await self.gate.admit(
            identity,
            headers,
            None,
            decision,
            cands,
            input_tokens=2000,
            max_tokens=body["max_tokens"],
            replan=lambda d: plan(d, self.cfg),
        )
        top = cands[0]
        self.dispatched.append((top.provider, top.upstream_model))
        cost = await self.gate.settle(ticket, usage, top.provider, top.upstream_model, body["model"])
        extra = self.gate.record_extra(identity, headers)
        self.rows.append(
            (
                self.gate.engine.clock(),
                None,
                None,
                decision.label,
                top.provider,
                top.upstream_model,
                body["model"],
                200,
                usage.get("input_tokens", 0),
                usage.get("output_tokens", 0),
                0,
                0,
                1.0,
                1.0,
                cost,
                extra.get("key_name"),
                extra.get("project"),
            )
        )
        return decision


BODY = {"model": "claude-sonnet-4-5", "max_tokens": 32000, "messages": [{"role": "user", "content": "hi"}]}
USAGE = {"input_tokens": 5000, "output_tokens": 500}  # $0.0225 at Sonnet 4.5, $0.0075 at Haiku 4.5


async def test_request_sequence(tmp_path: Path) -> None:
    clock = Clock()
    cfg = parse_config(CONFIG)
    key, _ = KeyStore(tmp_path / "keys.db", clock=clock).create("alice", models=("sonnet",))
    gate = AccessGate(cfg, tmp_path, clock=clock)
    await gate.start(watch_interval_s=0.05)
    try:
        r = Router(gate, cfg)
        # auth: the shared key, a virtual key, nothing
        with pytest.raises(AuthenticationFailed):
            await r.request({}, BODY, USAGE)
        await r.request({"x-api-key": "rk-shared"}, BODY, USAGE)
        alice = {"authorization": f"Bearer {key}"}
        await r.request(alice, BODY, USAGE)
        with pytest.raises(PermissionDenied, match="allowed: sonnet"):
            await r.request(alice, {**BODY, "model": "claude-opus-4-8"}, USAGE)
        assert len(r.dispatched) == 2

        # block: the third request would cross $0.05 and makes no upstream call
        blocked = {"x-api-key": "rk-shared", "x-ccm-project": "blocked-repo"}
        await r.request(blocked, BODY, USAGE)
        await r.request(blocked, BODY, USAGE)
        n = len(r.dispatched)
        with pytest.raises(RateLimited) as exc:
            await r.request(blocked, BODY, USAGE)
        assert len(r.dispatched) == n
        assert "budget project:blocked-repo ($0.05 per day)" in exc.value.message
        assert "$0.0450 spent this day" in exc.value.message and "resets at 2026-12-04 00:00 UTC" in exc.value.message

        # downgrade: once the budget is reached the next requests go to the cheaper model
        cheap = {"x-api-key": "rk-shared", "x-ccm-project": "cheap-repo"}
        labels = [(await r.request(cheap, BODY, USAGE)).label for _ in range(4)]
        assert labels == ["default:auto_map", "default:auto_map", "budget:downgrade", "budget:downgrade"]
        assert r.dispatched[-2:] == [("anthropic", "claude-haiku-4-5-20251001")] * 2

        # a revoked key stops working without a restart
        KeyStore(tmp_path / "keys.db", clock=clock).revoke("alice")
        await asyncio.sleep(0.2)
        with pytest.raises(AuthenticationFailed, match="revoked"):
            await r.request(alice, BODY, USAGE)

        # the usage rows carry key and project (the shared key is "router-key")
        assert {(row[-2], row[-1]) for row in r.rows} == {
            ("router-key", None),
            ("alice", None),
            ("router-key", "blocked-repo"),
            ("router-key", "cheap-repo"),
        }
    finally:
        await gate.close()

    # a restart: the usage observer wrote the rows; a new gate reads the spend back and still blocks
    conn = connect(tmp_path / "usage.db")
    conn.executemany(f"INSERT INTO usage ({COLUMNS}) VALUES ({','.join('?' * 17)})", r.rows)
    conn.commit()
    conn.close()
    again = Router(AccessGate(cfg, tmp_path, clock=clock), cfg)
    with pytest.raises(RateLimited, match=r"\$0.0450 spent"):
        await again.request(blocked, BODY, USAGE)
    assert (await again.request(cheap, BODY, USAGE)).label == "budget:downgrade"
    # the next day resets both
    clock.t = T0 + 86400
    assert (await again.request(blocked, BODY, USAGE)).label == "default:auto_map"
    assert (await again.request(cheap, BODY, USAGE)).label == "default:auto_map"


async def test_reload_keeps_spend_and_applies_new_limits(tmp_path: Path) -> None:
    clock = Clock()
    cfg = parse_config(CONFIG)
    gate = AccessGate(cfg, tmp_path, clock=clock)
    r = Router(gate, cfg)
    headers = {"x-api-key": "rk-shared", "x-ccm-project": "blocked-repo"}
    await r.request(headers, BODY, USAGE)
    raised = parse_config(
        CONFIG.replace(
            'limit_usd = 0.05\nperiod = "day"\n[[budgets]]', 'limit_usd = 0.04\nperiod = "day"\n[[budgets]]', 1
        )
    )
    gate.update(raised)
    r.cfg = raised
    with pytest.raises(HttpError, match=r"\(\$0.04 per day\).*\$0.0225 spent"):
        await r.request(headers, BODY, USAGE)
