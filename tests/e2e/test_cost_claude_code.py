"""The router's recorded cost of a Claude Code run against Claude Code's own ``total_cost_usd``.

The real CLI talks through the real router to the mock Anthropic API, which reports a fixed usage with cache
reads and 5-minute and 1-hour cache writes on every reply. Claude Code prices that usage with its built-in
table; the router prices the same usage with the shipped ``prices.toml`` into ``usage.db``. They must agree
within 5 % (issue 17).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.claude_cli import run_claude
from tests.harness import anthropic_provider, run_router
from tests.mocks.anthropic import MockAnthropic

pytestmark = pytest.mark.e2e

USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 20_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000},
    "output_tokens": 150,
}


@pytest.mark.parametrize("model", [None, "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"])
async def test_router_cost_matches_claude_codes_own(tmp_path: Path, model: str | None) -> None:
    async with MockAnthropic(name="up", usage=USAGE) as mock:
        cfg = (
            '[router]\ndefault = "claude-sonnet-4-5"\nauto_map = false\n'
            + anthropic_provider("anthropic", mock.url, auth="passthrough")
            + 'models = ["claude-*"]\n'
        )
        async with run_router(cfg, tmp_path) as router:
            res = await run_claude(router.url, "Reply with exactly: COST-OK", model=model)
            assert res.ok, res.stdout + res.stderr
            await asyncio.sleep(1.3)  # usage rows are flushed in batches
        n_up = len(mock.messages_requests())
    theirs = float(res.result["total_cost_usd"])
    rows = sqlite3.connect(tmp_path / "usage.db").execute("SELECT model, cost_usd FROM usage").fetchall()
    assert len(rows) == n_up and n_up >= 1
    assert all(cost is not None for _, cost in rows), rows
    ours = sum(cost for _, cost in rows)
    print(f"claude code: ${theirs:.6f}  router: ${ours:.6f}  models: {sorted({m for m, _ in rows})}")
    assert theirs > 0
    if model is not None:
        assert {m for m, _ in rows} == {model}
    assert ours == pytest.approx(theirs, rel=0.05)
