"""The real Claude Code CLI through the router to the Gemini mock, in each auth mode: a Bash round trip."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.e2e.claude_cli import run_claude
from tests.harness import run_router
from tests.mocks.gemini import MockGemini
from tests.providers.gemini_setup import MODES, router_config

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", MODES)
async def test_claude_code_bash_round_trip(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockGemini(name="g") as mock:
        cfg = await router_config(mode, mock, tmp_path / "home", monkeypatch)
        async with run_router(cfg, tmp_path / "home") as router:
            a, b = random.randint(1, 50), random.randint(1, 50)
            res = await run_claude(
                router.url,
                f"Run the shell command `echo gm-$(({a}+{b}))` and tell me its output",
                extra_args=("--allowedTools", "Bash"),
            )
            assert res.ok, res.stdout[-2000:] + res.stderr[-2000:]
            assert f"gm-{a + b}" in res.text
            assert res.result.get("num_turns", 0) >= 2
        gens = mock.generate_requests()
        assert gens and all(r.status == 200 for r in gens), [(r.path, r.status) for r in gens]
        # The second turn carried the Bash result back as a functionResponse paired with the call.
        answered = [
            p["functionResponse"]
            for r in gens
            for c in (r.json.get("request", r.json))["contents"]
            for p in c["parts"]
            if "functionResponse" in p
        ]
        assert any(f["name"] == "Bash" and f"gm-{a + b}" in str(f["response"]) for f in answered)
