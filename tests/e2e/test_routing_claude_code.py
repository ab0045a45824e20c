"""The real Claude Code CLI: its model choices land on the providers the routing config names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.claude_cli import run_claude
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic

pytestmark = pytest.mark.e2e


async def test_model_choices_route_to_configured_providers(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="main") as main,
        MockAnthropic(name="fast") as fast,
        MockAnthropic(name="custom") as custom,
    ):
        cfg = (
            '[router]\ndefault = "main-model"\nbackground = "fast-model"\nauto_map = true\n'
            + anthropic_provider("main", main.url)
            + anthropic_provider("fast", fast.url)
            + anthropic_provider("custom", custom.url)
            + model_block("main-model", [("main", "up-main")])
            + model_block("fast-model", [("fast", "up-fast")])
            + model_block("my-custom", [("custom", "up-custom")])
        )
        async with run_router(cfg, tmp_path) as router:
            # --model haiku sends claude-haiku-4-5-…: background_regex → router.background.
            r = await run_claude(router.url, "Reply with exactly: H1", extra_args=("--model", "haiku"))
            assert r.ok and "H1" in r.text, r.stdout + r.stderr
            assert fast.messages_requests() and not main.messages_requests()
            assert all(q.json["model"] == "up-fast" for q in fast.messages_requests())
            # --model sonnet sends a claude-sonnet-* id: auto-map → router.default.
            r = await run_claude(router.url, "Reply with exactly: S1", extra_args=("--model", "sonnet"))
            assert r.ok and "S1" in r.text, r.stdout + r.stderr
            assert main.messages_requests()
            assert all(q.json["model"] == "up-main" for q in main.messages_requests())
            # ANTHROPIC_MODEL naming a [[models]] entry goes to its mapping.
            r = await run_claude(router.url, "Reply with exactly: C1", model="my-custom")
            assert r.ok and "C1" in r.text, r.stdout + r.stderr
            assert custom.messages_requests()
            assert all(q.json["model"] == "up-custom" for q in custom.messages_requests())
            # An unknown model is a clear 404 that Claude Code reports as a model problem.
            r = await run_claude(router.url, "Reply with exactly: X", model="no-such-model")
            assert not r.ok
            assert "no-such-model" in r.text or "model" in r.text.lower()
