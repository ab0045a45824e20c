"""Shared helpers for routing tests: recorded Claude Code bodies and a config builder."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import orjson

from claude_code_mux.config.load import parse_config
from claude_code_mux.config.schema import Config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MAIN_TURN1 = "cc-2.1.197_main_turn1"
MAIN_TURN2 = "cc-2.1.197_main_turn2_tool_result"
TITLE = "cc-2.1.197_background_title"

PROVIDERS = """
[[providers]]
name = "anthropic"
provider_type = "anthropic"
auth_type = "passthrough"
models = ["claude-*"]

[[providers]]
name = "or"
provider_type = "openrouter"
api_key = "sk-test"
models = ["vendor/*"]

[[providers]]
name = "off"
provider_type = "openrouter"
api_key = "sk-test"
enabled = false

[[models]]
name = "main"
[[models.mappings]]
provider = "anthropic"
actual_model = "claude-sonnet-4-5"
priority = 1
[[models.mappings]]
provider = "or"
actual_model = "anthropic/claude-sonnet-4.5"
priority = 2
"""

# Route targets, each a [[models]] entry served by "or".
TARGETS = ("long", "fast", "deep", "vision", "search", "bg", "Sub-Agent", "coder")


@functools.cache
def _raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded request body."""
    body: dict[str, Any] = orjson.loads(_raw(name))["body"]
    return body


def fixture_headers(name: str) -> dict[str, str]:
    return {k.lower(): v for k, v in orjson.loads(_raw(name))["headers"]}


@functools.cache
def make_cfg(router: str = "", rules: str = "", extra: str = "") -> Config:
    """A Config: ``[router] default = "main"`` + ``router`` lines, ``[[router.rules]]`` and more TOML."""
    models = "".join(
        f'\n[[models]]\nname = "{t}"\n[[models.mappings]]\nprovider = "or"\nactual_model = "vendor/{t.lower()}"\n'
        for t in TARGETS
    )
    text = f'[router]\ndefault = "main"\n{router}\n{rules}\n{PROVIDERS}{models}{extra}'
    return parse_config(text)


ALL_TARGETS = """
background = "bg"
think = "deep"
websearch = "search"
image = "vision"
long_context = "long"
auto_map = true
"""


def with_system_text(body: dict[str, Any], index: int, text: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["system"][index]["text"] = text
    return out
