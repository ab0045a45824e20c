"""What routing works out once per configuration (rule steps, model names, resolved candidates) and once per
tools list (the size bound's re-measure): never answered from another configuration or other bytes, never a
shared list a caller could spoil, and bounded whatever names clients send."""

from __future__ import annotations

import orjson

from claude_code_mux.routing import plan as plan_module
from claude_code_mux.routing import probe as probe_module
from claude_code_mux.routing.derived import Bounded, PerConfig
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.routing.plan import resolve_model
from claude_code_mux.routing.probe import Probe
from claude_code_mux.routing.rules import decide
from claude_code_mux.routing.types import Candidate
from tests.routing.conftest import MAIN_TURN2, fixture, make_cfg


def test_resolved_candidates_are_a_new_list_each_time() -> None:
    cfg = make_cfg()
    first = resolve_model("main", cfg)
    first.reverse()
    first.append(Candidate("x", "y"))
    assert [c.provider for c in resolve_model("main", cfg)] == ["anthropic", "or"]


def test_each_configuration_resolves_its_own_names() -> None:
    without = make_cfg()
    entry = '\n[[models]]\nname = "newname"\n[[models.mappings]]\nprovider = "or"\nactual_model = "v/n"\n'
    with_entry = make_cfg(extra=entry)
    assert resolve_model("newname", without) == []
    assert resolve_model("newname", with_entry) == [Candidate("or", "v/n", 1)]
    assert resolve_model("newname", without) == []


def test_client_model_names_cannot_grow_the_cache() -> None:
    cfg = make_cfg()
    for i in range(2000):
        assert resolve_model(f"claude-{i}", cfg) == [Candidate("anthropic", f"claude-{i}", 1)]
    assert len(plan_module._resolved(cfg)) <= 512
    long = "claude-" + "x" * 100_000
    assert resolve_model(long, cfg) == [Candidate("anthropic", long, 1)]
    assert long not in plan_module._resolved(cfg)


def test_decide_follows_the_configuration_it_is_given() -> None:
    body = fixture(MAIN_TURN2)
    body["model"] = "claude-3-5-haiku-20241022"
    plain, with_bg = make_cfg(), make_cfg('background = "bg"')
    assert decide(body, {}, plain).rule == "default"
    assert decide(body, {}, with_bg).rule == "background"
    assert decide(body, {}, plain).rule == "default"
    off = make_cfg('background = "bg"\ndisabled = ["background"]')
    d = decide(body, {}, off)
    assert d.rule == "default" and "background: disabled (router.disabled)" in d.trace


def test_per_config_values_are_bounded_and_keyed_by_the_object() -> None:
    built: list[int] = []

    def build(cfg: object) -> int:
        built.append(id(cfg))
        return len(built)

    cache = PerConfig(build, size=2)  # type: ignore[arg-type]
    a, b, c = make_cfg(), make_cfg("think = 'deep'"), make_cfg("image = 'vision'")
    assert cache(a) == 1 and cache(a) == 1
    assert cache(b) == 2 and cache(c) == 3
    assert len(cache._entries) <= 2
    bounded: Bounded[int, int] = Bounded(3)
    for i in range(10):
        bounded.put(i, i)
    assert len(bounded) <= 3 and bounded[9] == 9


def test_the_tools_bound_is_measured_for_each_tools_list() -> None:
    """Two tools lists of the same length, one whose numbers grow when re-serialised: each gets its own growth."""
    body = fixture(MAIN_TURN2)
    body["tools"] = [{"name": "t", "input_schema": {f"n{i}": 1e15 for i in range(20)}}]
    grown = orjson.dumps(body).replace(b"1000000000000000.0", b"1e15")
    plain = grown.replace(b"1e15", b"1234")
    assert len(plain) == len(grown)
    for raw in (plain, grown, plain, grown):
        bound = Probe.parse(raw).token_bound()
        assert bound is not None and bound >= estimate_tokens(orjson.loads(raw))
    assert Probe.parse(grown).token_bound() != Probe.parse(plain).token_bound()
    assert len(probe_module._tools_seen) <= probe_module._TOOLS_CACHED


def test_tool_inputs_are_bounded_together() -> None:
    """Inputs whose numbers grow and inputs that shrink on re-serialisation: the bound covers their total."""
    body = fixture(MAIN_TURN2)
    uses = [
        {"type": "tool_use", "id": f"t{i}", "name": "n", "input": {"v": 1e15 if i % 2 else 1.0, "s": "a  b"}}
        for i in range(6)
    ]
    body["messages"].append({"role": "assistant", "content": uses})
    raw = orjson.dumps(body).replace(b"1000000000000000.0", b"1e15").replace(b"1.0", b"1.000000")
    bound = Probe.parse(raw).token_bound()
    assert bound is not None and bound >= estimate_tokens(orjson.loads(raw))
    odd = raw.replace(b'"v":1e15', b'"v":123456789012345678901234', 1)  # too big for orjson's integers
    bound = Probe.parse(odd).token_bound()
    assert bound is not None and bound >= estimate_tokens(orjson.loads(odd))


def test_web_search_is_answered_for_each_tools_list() -> None:
    body = fixture(MAIN_TURN2)
    body["tools"] = [{"name": "t", "type": "custom", "input_schema": {}}]
    plain = orjson.dumps(body)
    search = plain.replace(b'"type":"custom"', b'"type":"web_search"')
    near = search.replace(b"web_search", b"web_searcX")  # the same length as ``search``, not spelled
    for raw, spelled in ((plain, False), (search, True), (near, False), (search, True), (plain, False)):
        assert Probe.parse(raw).may_have_web_search() is spelled
