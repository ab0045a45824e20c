"""plan(): priorities, file order on ties, X-Provider, "provider,model", 404s and cooldown ordering."""

from __future__ import annotations

import pytest

from claude_code_mux.errors import InvalidRequest, NotFound
from claude_code_mux.routing.health import Health
from claude_code_mux.routing.plan import plan, resolve_model
from claude_code_mux.routing.rules import decide
from claude_code_mux.routing.types import Candidate, RouteDecision
from tests.routing.conftest import MAIN_TURN1, fixture, make_cfg

MULTI = """
[[providers]]
name = "p1"
provider_type = "openrouter"
api_key = "k"

[[providers]]
name = "p2"
provider_type = "openrouter"
api_key = "k"

[[providers]]
name = "p3"
provider_type = "openrouter"
api_key = "k"

[[models]]
name = "multi"
[[models.mappings]]
provider = "p3"
actual_model = "m-p3"
priority = 2
[[models.mappings]]
provider = "p2"
actual_model = "m-p2"
priority = 1
[[models.mappings]]
provider = "p1"
actual_model = "m-p1"
priority = 2
[[models.mappings]]
provider = "off"
actual_model = "m-off"
priority = 0
"""


def _d(model: str, provider: str | None = None) -> RouteDecision:
    return RouteDecision("default", "", model, provider=provider)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_priorities_then_file_order_and_disabled_providers_skipped() -> None:
    cfg = make_cfg(extra=MULTI)
    assert plan(_d("multi"), cfg) == [
        Candidate("p2", "m-p2", 1),
        Candidate("p3", "m-p3", 2),  # tie at priority 2: file order
        Candidate("p1", "m-p1", 2),
    ]


def test_models_name_is_case_insensitive_and_provider_patterns_resolve() -> None:
    cfg = make_cfg(extra=MULTI)
    assert [c.provider for c in resolve_model("MULTI", cfg)] == ["p2", "p3", "p1"]
    assert resolve_model("claude-opus-4-8", cfg) == [Candidate("anthropic", "claude-opus-4-8", 1)]
    assert resolve_model("vendor/x", cfg) == [Candidate("or", "vendor/x", 1)]


def test_x_provider_restricts_to_that_provider() -> None:
    cfg = make_cfg(extra=MULTI)
    assert plan(_d("multi", "p1"), cfg) == [Candidate("p1", "m-p1", 2)]


@pytest.mark.parametrize(("provider", "match"), [("nope", "not a configured provider"), ("off", "disabled")])
def test_x_provider_unknown_or_disabled_is_400(provider: str, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match) as err:
        plan(_d("multi", provider), make_cfg(extra=MULTI))
    assert err.value.status == 400


def test_x_provider_header_through_decide() -> None:
    cfg = make_cfg("auto_map = true", extra=MULTI)
    d = decide(fixture(MAIN_TURN1), {"x-provider": "or"}, cfg)
    assert plan(d, cfg) == [Candidate("or", "anthropic/claude-sonnet-4.5", 2)]
    d = decide(fixture(MAIN_TURN1), {"x-provider": "ghost"}, cfg)
    with pytest.raises(InvalidRequest, match="ghost"):
        plan(d, cfg)


def test_provider_comma_model() -> None:
    cfg = make_cfg(extra=MULTI)
    assert plan(_d("p3, some/model"), cfg) == [Candidate("p3", "some/model", 1)]
    with pytest.raises(InvalidRequest, match="unknown provider"):
        plan(_d("ghost,some/model"), cfg)


def test_unknown_model_is_404_naming_model_and_fix() -> None:
    with pytest.raises(NotFound) as err:
        plan(_d("gpt-unknown"), make_cfg())
    assert err.value.status == 404 and err.value.error_type == "not_found_error"
    assert "'gpt-unknown'" in err.value.message and "fix:" in err.value.message


def test_model_whose_providers_are_all_disabled_is_404() -> None:
    extra = '\n[[models]]\nname = "dead"\n[[models.mappings]]\nprovider = "off"\nactual_model = "x"\n'
    with pytest.raises(NotFound):
        plan(_d("dead"), make_cfg(extra=extra))


def test_cooling_targets_go_last_and_come_back() -> None:
    clock = FakeClock()
    health = Health(clock=clock, base_cooldown_s=5.0)
    cfg = make_cfg(extra=MULTI)
    health.record_failure("p2", "m-p2")
    assert [c.provider for c in plan(_d("multi"), cfg, health)] == ["p3", "p1", "p2"]
    health.record_failure("p3", None)  # a provider-wide cooldown
    assert [c.provider for c in plan(_d("multi"), cfg, health)] == ["p1", "p2", "p3"]
    clock.now += 5.1
    assert [c.provider for c in plan(_d("multi"), cfg, health)] == ["p2", "p3", "p1"]


def test_all_cooling_keeps_the_configured_order() -> None:
    clock = FakeClock()
    health = Health(clock=clock)
    cfg = make_cfg(extra=MULTI)
    for p in ("p1", "p2", "p3"):
        health.record_failure(p, None)
    assert [c.provider for c in plan(_d("multi"), cfg, health)] == ["p2", "p3", "p1"]
