"""The real Claude Code CLI through the router to the mock Anthropic API."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.e2e.claude_cli import run_claude
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic

pytestmark = pytest.mark.e2e


def zero_config_like(url: str) -> str:
    # The embedded default, pointed at the mock: passthrough of the client's own key, claude-* models.
    return (
        '[router]\ndefault = "claude-sonnet-4-5"\nauto_map = false\n'
        + anthropic_provider("anthropic", url, auth="passthrough")
        + 'models = ["claude-*"]\n'
    )


async def test_plain_prompt_and_bash_round_trip(tmp_path: Path) -> None:
    nonce = random.randint(10_000, 99_999)
    async with MockAnthropic(name="up", require_key="sk-test-key") as mock:
        async with run_router(zero_config_like(mock.url), tmp_path) as router:
            plain = await run_claude(router.url, f"Reply with exactly: PONG-{nonce}")
            assert plain.ok, plain.stdout + plain.stderr
            assert f"PONG-{nonce}" in plain.text

            a, b = random.randint(1, 50), random.randint(1, 50)
            tool = await run_claude(
                router.url,
                f"Run the shell command `echo e2e-$(({a}+{b}))` and tell me its output",
                extra_args=("--allowedTools", "Bash"),
            )
            assert tool.ok, tool.stdout + tool.stderr
            assert f"e2e-{a + b}" in tool.text
            assert tool.result.get("num_turns", 0) >= 2
        # Claude Code's own key went upstream (passthrough), with ?beta=true and its betas.
        reqs = mock.messages_requests()
        assert reqs and all(r.query == "beta=true" for r in reqs)
        hdrs = {k.lower(): v for k, v in reqs[0].headers}
        assert hdrs["x-api-key"] == "sk-test-key"
        assert "claude-code" in hdrs.get("anthropic-beta", "") or hdrs.get("x-app") == "cli"


async def test_claude_code_survives_a_failover(tmp_path: Path) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind="status", status=529, times=100))
        cfg = (
            '[router]\ndefault = "main"\nauto_map = true\n'
            + anthropic_provider("one", one.url)
            + anthropic_provider("two", two.url)
            + model_block("main", [("one", "m1"), ("two", "m2")])
        )
        async with run_router(cfg, tmp_path) as router:
            res = await run_claude(router.url, "Reply with exactly: FAILOVER-OK")
            assert res.ok, res.stdout + res.stderr
            assert "FAILOVER-OK" in res.text
        assert two.messages_requests(), "second provider never served"
        assert all(r.json["model"] == "m2" for r in two.messages_requests())
