"""Auto-map through the real router: an exact ``[[models]]`` name wins, even when it starts with ``claude-``."""

from __future__ import annotations

import re
from pathlib import Path

import anthropic

from claude_code_mux.config.default import DEFAULT_CONFIG_TOML
from claude_code_mux.config.schema import RouterConfig
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic


async def test_configured_claude_name_is_not_auto_mapped(tmp_path: Path) -> None:
    # auto_map is left at its default (on), as in a config written by hand or by `ccm models discover`.
    config = (
        '[router]\ndefault = "main"\n'
        + anthropic_provider("up", "{url}")
        + model_block("main", [("up", "upstream-main")])
        + model_block("claude-code-glm-4.6", [("up", "glm-4.6")])
    )
    async with MockAnthropic(name="up") as mock:
        async with run_router(config.replace("{url}", mock.url), tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="client-key")
            for model in ("claude-code-glm-4.6", "claude-sonnet-4-5"):
                await client.messages.create(
                    model=model, max_tokens=20, messages=[{"role": "user", "content": "Reply with exactly: OK"}]
                )
        assert [r.json["model"] for r in mock.messages_requests()] == ["glm-4.6", "upstream-main"]


def test_init_template_states_the_schema_default_of_auto_map() -> None:
    line = next(x for x in DEFAULT_CONFIG_TOML.splitlines() if x.startswith("auto_map ="))
    m = re.search(r"default:? (true|false)", line)
    assert m is not None, line
    assert m.group(1) == str(RouterConfig.model_fields["auto_map"].default).lower()
