"""Every ```toml block of README.md validates: the headline config on its own, fragments on a minimal base."""

from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from claude_code_mux.config.load import parse_config, validate_raw

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"^([ \t]*)```toml[ \t]*\n(.*?)^\1```[ \t]*$", re.M | re.S)
_ENV_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def toml_blocks() -> list[tuple[int, str]]:
    """(line in README.md, dedented text) of each ```toml block, list-indented ones included."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, textwrap.dedent(m.group(2))) for m in _BLOCK.finditer(text)]


def env_for(block: str) -> dict[str, str]:
    """A value for every ``$VAR`` the block references (the README cannot know the reader's keys)."""
    return {name: "readme-placeholder" for name in _ENV_REF.findall(block)}


# A fragment is checked inside this base: a router default and a provider serving any model name, so a
# fragment's router targets and mappings only need what the fragment itself adds.
BASE: dict[str, Any] = {
    "router": {"default": "base-model"},
    "providers": [{"name": "base", "provider_type": "anthropic", "api_key": "k", "models": ["*"]}],
}


def merged(fragment: dict[str, Any]) -> dict[str, Any]:
    out = {**BASE, **fragment}
    out["router"] = {**BASE["router"], **fragment.get("router", {})}
    out["providers"] = [*fragment.get("providers", []), *BASE["providers"]]
    return out


def test_the_readme_has_toml_blocks() -> None:
    assert len(toml_blocks()) >= 4


def test_the_headline_config_validates_on_its_own() -> None:
    line, block = toml_blocks()[0]
    cfg = parse_config(block, path=f"README.md:{line}", env=env_for(block))
    for key in ("default", "background", "think"):
        target = getattr(cfg.router, key)
        assert target is None or cfg.model(target) is not None, f"router.{key} = {target!r} has no [[models]] entry"


@pytest.mark.parametrize(("line", "block"), toml_blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_every_block_validates(line: int, block: str) -> None:
    raw = tomllib.loads(block)
    validate_raw(merged(raw), text="", path=f"README.md:{line}", env=env_for(block))
