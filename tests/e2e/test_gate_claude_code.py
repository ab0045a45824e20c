"""Keys and budgets with the real Claude Code CLI: it authenticates with a ``ccm-`` virtual key, sends the project
through ``ANTHROPIC_CUSTOM_HEADERS`` (as ``ccm code`` does), its usage rows carry the key and the project, and when
the project's budget is spent the request is refused before any upstream call with a message Claude Code shows.

The limit is $1, not the $0.05 of the server tests: Claude Code's first request alone (system prompt and tools,
priced as uncached input by the pre-flight estimate) is estimated at about $0.13, so a $0.05 budget refuses it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from claude_code_mux.access.keystore import FILENAME, KeyStore
from claude_code_mux.observe.usage_db import connect
from tests.e2e.claude_cli import run_claude
from tests.harness import anthropic_provider, run_router
from tests.mocks.anthropic import MockAnthropic

pytestmark = pytest.mark.e2e

BUDGET = '[[budgets]]\nscope = "project:myrepo"\nlimit_usd = 1\nperiod = "day"\naction = "block"\n'


def config_for(url: str) -> str:
    return (
        '[router]\ndefault = "claude-sonnet-4-5"\nauto_map = false\n'
        + anthropic_provider("anthropic", url)
        + 'models = ["claude-*"]\n'
        + BUDGET
    )


async def test_claude_code_with_a_virtual_key_and_a_spent_budget(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    key, _ = KeyStore(tmp_path / FILENAME).create("alice")
    env = {"ANTHROPIC_CUSTOM_HEADERS": "x-ccm-project: myrepo"}
    async with MockAnthropic(name="anthropic") as mock, run_router(config_for(mock.url), tmp_path) as router:
        res = await run_claude(router.url, "Reply with exactly: KEY-OK", api_key=key, extra_env=env)
        assert res.ok, res.stdout + res.stderr
        await asyncio.sleep(1.3)  # usage rows are flushed in batches
        served = len(mock.messages_requests())
        assert served >= 1
        for req in mock.messages_requests():
            sent = {k.lower(): v for k, v in req.headers}
            assert "x-ccm-project" not in sent and key not in str(sent)
        rows = sqlite3.connect(tmp_path / "usage.db").execute("SELECT key_name, project FROM usage").fetchall()
        assert set(rows) == {("alice", "myrepo")}

        # Someone else on the project spent the rest of today's budget.
        conn = connect(tmp_path / "usage.db")
        with conn:
            conn.execute(
                "INSERT INTO usage (ts, provider, model, status, cost_usd, project) VALUES (?, 'x', 'm', 200, 1.2, "
                "'myrepo')",
                (time.time(),),
            )
        conn.close()
    mock.clear()
    async with MockAnthropic(name="anthropic") as mock, run_router(config_for(mock.url), tmp_path) as router:
        res = await run_claude(router.url, "Reply with exactly: KEY-OK", api_key=key, extra_env=env)
        assert not res.ok
        shown = res.text + res.stdout
        assert "budget project:myrepo ($1 per day)" in shown, shown
        assert "is used up" in shown and "spent this day" in shown and "resets" in shown
        assert mock.messages_requests() == []
