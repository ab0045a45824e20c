"""The shipped price table, id normalisation, the cost arithmetic, config overrides and ``ccm prices``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from claude_code_mux.config.presets import PRESETS
from claude_code_mux.config.schema import PriceConfig
from claude_code_mux.pricing import Price, Tier, book, cost_of, estimate, normal_forms, record_cost, shipped

LOCAL = {"ollama", "ollama-anthropic", "lmstudio", "vllm", "openai-compatible"}


def test_every_preset_has_its_models_priced() -> None:
    table = shipped()
    assert set(table.presets) == set(PRESETS), "prices.toml [presets] must list every preset of config/presets.py"
    pb = book()
    for preset, models in table.presets.items():
        if preset in LOCAL:
            assert models == (), f"{preset} is local: list no models"
            continue
        assert models, f"preset {preset} lists no default models"
        for m in models:
            price = pb.lookup(m, preset)
            assert price is not None, f"{preset}: {m} has no price"
            assert price.base.input > 0 and price.base.output > 0, f"{preset}: {m} priced at 0"


def test_checked_date_is_recorded() -> None:
    assert shipped().checked == "2026-12-03"


@pytest.mark.parametrize(
    ("model", "expect"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
        ("claude-haiku-4-5@20251001", "claude-haiku-4-5"),
        ("Claude-Haiku-4-5", "claude-haiku-4-5"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("accounts/fireworks/models/glm-4p6", "glm-4p6"),
        ("codestral-latest", "codestral-latest"),
    ],
)
def test_normal_forms_reach_the_canonical_id(model: str, expect: str) -> None:
    assert expect in list(normal_forms(model))


@pytest.mark.parametrize(
    ("model", "provider", "input_price"),
    [
        ("claude-sonnet-4-5-20250929", None, 3.0),
        ("claude-opus-4-8", None, 5.0),
        ("claude-opus-4-1-20250805", None, 15.0),
        ("claude-opus-4-20250514", None, 15.0),
        ("claude-sonnet-4-20250514", None, 3.0),
        ("claude-3-5-haiku-20241022", None, 0.8),
        ("openai/gpt-oss-120b", "groq", 0.15),  # Groq's own price
        ("gpt-oss-120b", "cerebras", 0.35),  # Cerebras' own price
        ("z-ai/glm-4.6", "openrouter", 0.6),
        ("deepseek-reasoner", "deepseek", 0.28),
    ],
)
def test_lookup(model: str, provider: str | None, input_price: float) -> None:
    price = book().lookup(model, provider)
    assert price is not None and price.base.input == input_price


def test_unknown_model_has_no_price_not_zero() -> None:
    pb = book()
    assert pb.lookup("my-local-finetune") is None
    assert record_cost(pb, {"input_tokens": 1000, "output_tokens": 10}, "my-local-finetune") is None
    # The client's name is not priced from the shipped table: a Sonnet request routed to an unknown model
    # must not cost Sonnet's price.
    assert record_cost(pb, {"input_tokens": 1000}, "my-local-finetune", "claude-sonnet-4-5") is None


def test_config_overrides_win_and_may_price_a_models_name() -> None:
    pb = book({"claude-sonnet-4-5": PriceConfig(input=1.0, output=2.0), "fast": PriceConfig(input=0.5, output=0.5)})
    p = pb.lookup("claude-sonnet-4-5-20250929")
    assert p is not None and p.source == "config" and p.base.input == 1.0
    # a [[models]] name priced in the config prices whatever it routes to when that has no price
    assert record_cost(pb, {"input_tokens": 2_000_000}, "some-upstream-id", "fast") == pytest.approx(1.0)


# Expected figures computed by hand with Claude Code's formula (tokens / 1e6 * price per Mtok).
@pytest.mark.parametrize(
    ("model", "usage", "usd"),
    [
        ("claude-sonnet-4-5", {"input_tokens": 1000, "output_tokens": 500}, 0.003 + 0.0075),
        (
            "claude-sonnet-4-5",
            {"input_tokens": 10, "cache_read_input_tokens": 20_000, "cache_creation_input_tokens": 4000},
            10 * 3e-6 + 20_000 * 0.3e-6 + 4000 * 3.75e-6,
        ),
        (  # 1000 of the 4000 written tokens have a 1-hour TTL
            "claude-haiku-4-5",
            {"input_tokens": 0, "cache_creation_input_tokens": 4000, "cache_creation_1h_input_tokens": 1000},
            3000 * 1.25e-6 + 1000 * 2e-6,
        ),
        (  # long context: the whole prompt (input + cache) is over 200k -> the higher tier for everything
            "claude-sonnet-4-5",
            {"input_tokens": 150_000, "cache_read_input_tokens": 60_000, "output_tokens": 1000},
            150_000 * 6e-6 + 60_000 * 0.6e-6 + 1000 * 22.5e-6,
        ),
        (
            "gpt-5",
            {"input_tokens": 1000, "cache_read_input_tokens": 1000, "output_tokens": 100},
            1.25e-3 + 0.125e-3 + 1e-3,
        ),
    ],
)
def test_cost_of(model: str, usage: dict[str, int], usd: float) -> None:
    price = book().lookup(model)
    assert price is not None
    assert cost_of(price, usage) == pytest.approx(usd, rel=1e-9)


def test_cost_ignores_garbage_counts() -> None:
    price = Price(Tier(1.0, 1.0))
    assert cost_of(price, {"input_tokens": -5, "output_tokens": True, "cache_read_input_tokens": "9"}) == 0.0


def test_estimate_bounds_output_by_max_tokens() -> None:
    price = Price(Tier(3.0, 15.0))
    assert estimate(price, 1000, 10) == pytest.approx((1000 * 3 + 10 * 15) / 1e6)
    assert estimate(price, 1000, 64_000) == pytest.approx((1000 * 3 + 1024 * 15) / 1e6)


def _ccm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ccm_prices_lists_the_table_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[router]\ndefault = "x"\n[[models]]\nname = "x"\n[prices."my-model"]\ninput = 7.0\noutput = 9.0\n'
    )
    out = _ccm(tmp_path, "prices", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["checked"] == "2026-12-03"
    rows = {r["model"]: r for r in data["prices"]}
    assert rows["my-model"]["source"] == "config" and rows["my-model"]["input"] == 7.0
    assert rows["claude-sonnet-4-5"]["long_context"]["threshold"] == 200_000
    text = _ccm(tmp_path, "prices")
    assert text.returncode == 0
    assert "checked 2026-12-03" in text.stdout
    line = next(ln for ln in text.stdout.splitlines() if ln.startswith("claude-opus-4-5 "))
    assert "= claude-opus-4-8" in line and " 5 " in line
    miss = _ccm(tmp_path, "prices", "claude-sonnet-4-5-20250929", "no-such-model")
    assert miss.returncode == 1
    assert "no-such-model: no price" in miss.stdout and "claude-sonnet-4-5-20250929: 3 in / 15 out" in miss.stdout


def test_statusline_session_cost_falls_back_to_the_shipped_prices() -> None:
    from claude_code_mux.cli.statusline import session_cost

    totals = {
        "by_model": {
            "claude-sonnet-4-5-20250929": {
                "input_tokens": 1000,
                "output_tokens": 100,
                "cache_read_input_tokens": 10_000,
            },
            "my-local-model": {"input_tokens": 5000, "output_tokens": 500},
        }
    }
    assert session_cost({"totals": totals}, {}) == pytest.approx((1000 * 3 + 100 * 15 + 10_000 * 0.3) / 1e6)
    # a config price still wins
    cfg = {"claude-sonnet-4-5-20250929": {"input": 1.0}}
    assert session_cost({"totals": totals}, cfg) == pytest.approx(1000 / 1e6)
    assert session_cost({"totals": {"by_model": {"my-local-model": {"input_tokens": 1}}}}, {}) is None


def test_the_price_table_loads_without_pydantic() -> None:
    code = "import sys, claude_code_mux.pricing.table as t; t.shipped(); print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
