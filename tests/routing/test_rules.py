"""Routing rules: one table per rule, rule order, and Claude Code's recorded request shapes."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.routing.plan import plan
from claude_code_mux.routing.rules import decide, expand_captures, header_safe
from claude_code_mux.routing.types import Candidate
from tests.routing.conftest import ALL_TARGETS, MAIN_TURN1, MAIN_TURN2, TITLE, fixture, make_cfg

TAG = "<CCM-SUBAGENT-MODEL>{}</CCM-SUBAGENT-MODEL>"
PNG_1x1 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (1).to_bytes(4, "big") * 2).decode()
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1x1}}
WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


def _route(body: dict[str, Any], router: str = ALL_TARGETS, rules: str = "", headers: dict[str, str] | None = None):
    snapshot = copy.deepcopy(body)
    d = decide(body, headers or {}, make_cfg(router, rules))
    assert body == snapshot, "decide() mutated its input"
    assert d.label.isascii() and "\n" not in d.label
    return d


# ------------------------------------------------------------------------------ Claude Code shapes


def test_fixture_shapes_are_what_the_tests_assume() -> None:
    b = fixture(MAIN_TURN1)
    assert b["thinking"] == {"type": "adaptive"}
    assert b["output_config"]["effort"] == "high"
    assert len(b["tools"]) == 24 and len(b["system"]) == 3
    assert [m["role"] for m in b["messages"]] == ["user", "system"]
    assert [m["role"] for m in fixture(MAIN_TURN2)["messages"]] == ["user", "system", "assistant", "user"]


@pytest.mark.parametrize("name", [MAIN_TURN1, MAIN_TURN2])
def test_main_requests_take_the_default_route_with_every_target_set(name: str) -> None:
    # Adaptive thinking + effort "high" on every main request must not mean "think".
    d = _route(fixture(name))
    assert (d.rule, d.reason, d.model, d.edited_body, d.provider) == (
        "default",
        "auto_map",
        "main",
        None,
        None,
    )
    assert len(d.trace) == 9
    assert d.trace[-1].startswith("default: FIRED")


def test_background_title_request_with_haiku_env_model() -> None:
    body = fixture(TITLE)  # model "haiku-x" from ANTHROPIC_DEFAULT_HAIKU_MODEL
    assert _route(body).label == "default:as_requested"
    d = _route(body, ALL_TARGETS + 'background_regex = "^haiku-"')
    assert (d.rule, d.model, d.label) == ("background", "bg", "background:haiku-x")


# ------------------------------------------------------------------------------ explicit


def test_provider_comma_model_fires_explicit_and_plans_that_provider() -> None:
    body = fixture(MAIN_TURN1) | {"model": "or,vendor/some-model"}
    d = _route(body)
    assert (d.rule, d.model, d.provider) == ("explicit", "or,vendor/some-model", None)
    assert plan(d, make_cfg(ALL_TARGETS)) == [Candidate("or", "vendor/some-model", 1)]
    # A matching X-Provider header is fine.
    d = _route(body, headers={"x-provider": "or"})
    assert plan(d, make_cfg(ALL_TARGETS)) == [Candidate("or", "vendor/some-model", 1)]


def test_x_provider_header_restricts_whichever_rule_fires() -> None:
    d = _route(fixture(MAIN_TURN1), headers={"x-provider": "or"})
    assert (d.rule, d.model, d.provider) == ("default", "main", "or")
    assert plan(d, make_cfg(ALL_TARGETS)) == [Candidate("or", "anthropic/claude-sonnet-4.5", 2)]
    assert "X-Provider 'or' restricts" in d.trace[0]


def test_x_provider_conflicting_with_comma_model_is_400() -> None:
    body = fixture(MAIN_TURN1) | {"model": "or,vendor/x"}
    with pytest.raises(InvalidRequest, match="conflicts"):
        _route(body, headers={"x-provider": "anthropic"})


def test_explicit_disabled_ignores_the_header() -> None:
    d = _route(fixture(MAIN_TURN1), ALL_TARGETS + 'disabled = ["explicit"]', headers={"x-provider": "or"})
    assert d.provider is None
    assert d.trace[0] == "explicit: disabled (router.disabled)"


# ------------------------------------------------------------------------------ subagent tag


def _tag_in(where: str, name: str = "Sub-Agent") -> dict[str, Any]:
    body = fixture(MAIN_TURN1)
    tag = TAG.format(name)
    if where == "system[0]":
        body["system"][0]["text"] = tag + body["system"][0]["text"]
    elif where == "system[2]":
        body["system"][2]["text"] += "\n" + tag
    elif where == "system-string":
        body["system"] = "You are a subagent.\n" + tag
    elif where == "first-user-string":
        body["messages"][0]["content"] = "do the thing " + tag
    elif where == "first-user-block":
        body["messages"][0]["content"][1]["text"] = tag + " " + body["messages"][0]["content"][1]["text"]
    else:
        raise AssertionError(where)
    return body


@pytest.mark.parametrize(
    ("where", "located"),
    [
        ("system[0]", "system[0]"),
        ("system[2]", "system[2]"),
        ("system-string", "system"),
        ("first-user-string", "messages[0]"),
        ("first-user-block", "messages[0].content[1]"),
    ],
)
def test_subagent_tag_anywhere_routes_and_is_removed(where: str, located: str) -> None:
    body = _tag_in(where)
    d = _route(body)
    assert (d.rule, d.model, d.reason) == ("subagent", "Sub-Agent", "Sub-Agent")
    assert located in d.trace[1]
    assert d.edited_body is not None
    assert "CCM-SUBAGENT-MODEL" not in str(d.edited_body)
    assert "CCM-SUBAGENT-MODEL" in str(body)  # the input keeps it
    # Only the edited part is new; the rest is shared, unchanged.
    assert d.edited_body["tools"] is body["tools"]
    assert d.edited_body["metadata"] is body["metadata"]
    if where.startswith("system"):
        assert d.edited_body["messages"] is body["messages"]
    else:
        assert d.edited_body["system"] is body["system"]
        assert d.edited_body["messages"][1] is body["messages"][1]


def test_subagent_tag_only_block_is_dropped_and_text_kept_exact() -> None:
    body = fixture(MAIN_TURN1)
    body["system"].insert(1, {"type": "text", "text": TAG.format("fast")})
    d = _route(body)
    assert d.edited_body is not None
    assert d.edited_body["system"] == fixture(MAIN_TURN1)["system"]
    assert d.edited_body["system"][0] is body["system"][0]


@pytest.mark.parametrize(
    ("name", "resolves"),
    [
        ("fast", True),  # [[models]] name
        ("FAST", True),  # [[models]] names match case-insensitively
        ("claude-haiku-4-5", True),  # provider `models` pattern claude-*
        ("vendor/anything", True),  # provider `models` pattern vendor/*
        ("or,any-model", True),  # provider,model with a known provider
        ("nope", False),
        ("nobody,x", False),
    ],
)
def test_subagent_tag_name_resolution(name: str, resolves: bool) -> None:
    body = _tag_in("system[2]", name)
    if resolves:
        assert _route(body).model == name
    else:
        with pytest.raises(InvalidRequest) as err:
            _route(body)
        assert err.value.status == 400
        assert f"<CCM-SUBAGENT-MODEL>{name}</CCM-SUBAGENT-MODEL>" in err.value.message


def test_empty_subagent_tag_is_400() -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        _route(_tag_in("system[2]", " "))


def test_subagent_tag_in_later_or_system_role_messages_is_ignored() -> None:
    body = fixture(MAIN_TURN2)
    body["messages"][1]["content"] += TAG.format("fast")  # role:"system" message lists agents
    body["messages"][3]["content"].append({"type": "text", "text": TAG.format("fast")})
    d = _route(body)
    assert (d.rule, d.edited_body) == ("default", None)


def test_subagent_tag_removed_even_when_an_earlier_rule_fires() -> None:
    body = _tag_in("system[2]", "nope")  # unknown, but never evaluated: websearch fires first
    body["tools"].append(WEB_SEARCH_TOOL)
    d = _route(body, ALL_TARGETS + 'order = ["websearch", "subagent", "default"]')
    assert d.rule == "websearch"
    assert d.edited_body is not None and "CCM-SUBAGENT" not in d.edited_body["system"][2]["text"]
    assert any(line.startswith("edit: removed") for line in d.trace)


def test_subagent_disabled_leaves_the_tag() -> None:
    d = _route(_tag_in("system[2]"), ALL_TARGETS + 'disabled = ["subagent"]')
    assert (d.rule, d.edited_body) == ("default", None)


# ------------------------------------------------------------------------------ websearch, image


def test_websearch_tool_type_prefix() -> None:
    body = fixture(MAIN_TURN1)
    assert _route(body).rule == "default"  # Claude Code's own WebSearch tool has no type
    body["tools"].append(WEB_SEARCH_TOOL)
    d = _route(body)
    assert (d.rule, d.model, d.label) == ("websearch", "search", "websearch:web_search_20250305")
    assert _route(body, ALL_TARGETS.replace('websearch = "search"', "")).rule == "default"


@pytest.mark.parametrize(
    ("place", "reason"),
    [("user", "messages[0]"), ("tool_result", "messages[3].tool_result"), ("none", None)],
)
def test_image_anywhere(place: str, reason: str | None) -> None:
    body = fixture(MAIN_TURN2)
    if place == "user":
        body["messages"][0]["content"].append(IMAGE)
    elif place == "tool_result":
        body["messages"][3]["content"][0]["content"] = [{"type": "text", "text": "shot"}, IMAGE]
    d = _route(body)
    if reason is None:
        assert d.rule == "default"
    else:
        assert (d.rule, d.model, d.reason) == ("image", "vision", reason)


def test_image_rule_skipped_without_target() -> None:
    body = fixture(MAIN_TURN1)
    body["messages"][0]["content"].append(IMAGE)
    d = _route(body, ALL_TARGETS.replace('image = "vision"', ""))
    assert d.rule == "default"
    assert "image: skipped (router.image unset)" in d.trace


# ------------------------------------------------------------------------------ long context


@pytest.mark.parametrize("delta", [-1000, -1, 0, 1, 1000])
def test_long_context_threshold(delta: int) -> None:
    body = fixture(MAIN_TURN1)
    n = estimate_tokens(body)
    threshold = n + delta
    d = _route(body, ALL_TARGETS + f"long_context_threshold = {threshold}")
    if n > threshold:
        assert (d.rule, d.model, d.reason) == ("long_context", "long", f"{n}>{threshold}")
    else:
        assert d.rule == "default"
        assert f"long_context: estimate {n} <= {threshold} tokens" in d.trace


def test_default_threshold_is_60000() -> None:
    body = fixture(MAIN_TURN1)
    assert _route(body).rule == "default"
    body["messages"][0]["content"][1]["text"] = "x" * 250_000
    d = _route(body)
    assert d.rule == "long_context" and d.reason.endswith(">60000")


# ------------------------------------------------------------------------------ think


@pytest.mark.parametrize(
    ("thinking", "effort", "router", "expect"),
    [
        ({"type": "adaptive"}, "high", "", None),
        ({"type": "enabled", "budget_tokens": 31999}, None, "", "enabled,budget=31999"),
        ({"type": "enabled", "budget_tokens": 31999}, None, "think_min_budget = 32000", None),
        (
            {"type": "enabled", "budget_tokens": 32000},
            None,
            "think_min_budget = 32000",
            "enabled,budget=32000",
        ),
        ({"type": "enabled"}, None, "think_min_budget = 1", None),
        ({"type": "disabled"}, None, "", None),
        ({"type": "adaptive"}, "high", 'think_types = ["enabled", "adaptive"]', "adaptive"),
        ({"type": "adaptive"}, "high", 'think_efforts = ["high", "max"]', "effort=high"),
        ({"type": "adaptive"}, "medium", 'think_efforts = ["high", "max"]', None),
        (None, None, "", None),
    ],
)
def test_think_trigger(thinking: Any, effort: str | None, router: str, expect: str | None) -> None:
    body = fixture(MAIN_TURN1)
    body.pop("thinking")
    body.pop("output_config")
    if thinking is not None:
        body["thinking"] = thinking
    if effort is not None:
        body["output_config"] = {"effort": effort}
    d = _route(body, ALL_TARGETS + router)
    if expect is None:
        assert d.rule == "default", d.trace
    else:
        assert (d.rule, d.model, d.reason) == ("think", "deep", expect)


# ------------------------------------------------------------------------------ background, default


@pytest.mark.parametrize(
    ("model", "router", "expect"),
    [
        ("claude-haiku-4-5-20251001", "", ("background", "bg")),
        ("claude-3-5-HAIKU-latest", "", ("background", "bg")),
        ("claude-opus-4-8", "", ("default", "main")),
        ("haiku-x", "", ("default", "haiku-x")),
        ("haiku-x", 'background_regex = "^haiku-"', ("background", "bg")),
        # auto_map maps the model, but background looks at the original name
        ("claude-haiku-4-5", 'auto_map_regex = "^claude-"', ("background", "bg")),
    ],
)
def test_background_uses_the_original_model(model: str, router: str, expect: tuple[str, str]) -> None:
    body = fixture(TITLE) | {"model": model}
    d = _route(body, ALL_TARGETS + router)
    assert (d.rule, d.model) == expect


@pytest.mark.parametrize(
    ("model", "router", "expect"),
    [
        ("claude-opus-4-8", "auto_map = true", ("auto_map", "main")),
        ("claude-opus-4-8", "auto_map = false", ("as_requested", "claude-opus-4-8")),
        ("gpt-x", "auto_map = true", ("as_requested", "gpt-x")),
        ("gpt-x", 'auto_map = true\nauto_map_regex = "^(claude|gpt)-"', ("auto_map", "main")),
        ("claude-opus-4-8", 'auto_map = true\nauto_map_regex = ""', ("as_requested", "claude-opus-4-8")),
    ],
)
def test_default_auto_map(model: str, router: str, expect: tuple[str, str]) -> None:
    d = _route(fixture(MAIN_TURN1) | {"model": model}, router)
    assert (d.rule, d.reason, d.model) == ("default", *expect)


@pytest.mark.parametrize(
    ("model", "expect"),
    [
        ("claude-code-glm-4.6", ("as_requested", "claude-code-glm-4.6")),  # what `models discover --prefix` adds
        ("Claude-Code-GLM-4.6", ("as_requested", "Claude-Code-GLM-4.6")),  # resolved case-insensitively too
        ("claude-opus-4-8", ("auto_map", "main")),  # no entry of that name: auto-map still applies
    ],
)
def test_exact_models_name_wins_over_auto_map(model: str, expect: tuple[str, str]) -> None:
    extra = '[[models]]\nname = "claude-code-glm-4.6"\n[[models.mappings]]\nprovider = "or"\nactual_model = "z/glm"\n'
    cfg = make_cfg("auto_map = true", "", extra)
    d = decide(fixture(MAIN_TURN1) | {"model": model}, {}, cfg)
    assert (d.rule, d.reason, d.model) == ("default", *expect)
    if expect[0] == "as_requested":
        assert plan(d, cfg) == [Candidate("or", "z/glm", 1)]


def test_default_disabled_routes_the_model_as_requested() -> None:
    d = _route(fixture(MAIN_TURN1), ALL_TARGETS + 'disabled = ["default"]')
    assert (d.rule, d.reason, d.model) == ("default", "as_requested", "claude-opus-4-8")


# ------------------------------------------------------------------------------ prompt rules

RULES = """
[[router.rules]]
name = "fast"
pattern = '^/fast\\b'
model = "fast"
strip_match = true

[[router.rules]]
pattern = '^@(\\w+)\\s'
model = "$1"
strip_match = true

[[router.rules]]
name = "named"
pattern = 'use model (?P<m>[\\w-]+)'
model = "${m}"

[[router.rules]]
name = "code"
pattern = '(?i)\\brefactor\\b'
model = "coder"
"""


def _prompt(text: str, turn: str = MAIN_TURN1) -> dict[str, Any]:
    body = fixture(turn)
    body["messages"][0]["content"][1]["text"] = text
    return body


@pytest.mark.parametrize(
    ("text", "model", "reason", "stripped"),
    [
        ("/fast run the tests", "fast", "fast", "run the tests"),
        ("@deep think about it", "deep", "rules[1]", "think about it"),
        ("please use model vendor/x-1 now", "vendor", "named", None),  # [\w-] stops at '/'
        ("please use model long-ctx", "long-ctx", "named", None),
        ("Refactor this module", "coder", "code", None),
        ("run the tests /fast", None, None, None),  # anchored
    ],
)
def test_prompt_rules_table(text: str, model: str | None, reason: str | None, stripped: str | None) -> None:
    body = _prompt(text)
    d = _route(body, rules=RULES)
    if model is None:
        assert d.rule == "default"
        return
    assert (d.rule, d.model, d.reason) == ("prompt_rules", model, reason)
    if stripped is None:
        assert d.edited_body is None
    else:
        assert d.edited_body is not None
        edited = d.edited_body["messages"][0]["content"]
        assert edited[1]["text"] == stripped
        assert edited[0] is body["messages"][0]["content"][0]  # the system-reminder block is untouched
        assert d.edited_body["messages"][1] is body["messages"][1]


def test_prompt_rules_skip_system_reminders_and_system_messages() -> None:
    body = _prompt("hello")
    body["messages"][0]["content"][0]["text"] = "<system-reminder>/fast refactor</system-reminder>\n"
    body["messages"][1]["content"] = "refactor everything"  # role:"system" follows the user message
    assert _route(body, rules=RULES).rule == "default"


def test_prompt_rule_matches_after_a_leading_reminder_in_the_same_block() -> None:
    body = fixture(MAIN_TURN1)
    body["messages"][0]["content"] = "<system-reminder>ctx</system-reminder>\n\n/fast go"
    d = _route(body, rules=RULES)
    assert d.model == "fast"
    assert d.edited_body is not None
    assert d.edited_body["messages"][0]["content"] == "<system-reminder>ctx</system-reminder>\n\ngo"


def test_prompt_rules_hold_for_the_whole_agentic_turn() -> None:
    # Turn 2's last user message is only a tool_result: the rule keeps matching the prompt of the turn.
    body = _prompt("/fast run it", MAIN_TURN2)
    d = _route(body, rules=RULES)
    assert (d.rule, d.model) == ("prompt_rules", "fast")
    assert d.edited_body is not None
    assert d.edited_body["messages"][0]["content"][1]["text"] == "run it"
    assert d.edited_body["messages"][3] is body["messages"][3]


def test_prompt_rule_newest_user_text_wins() -> None:
    body = _prompt("/fast old prompt", MAIN_TURN2)
    body["messages"].append({"role": "assistant", "content": "done"})
    body["messages"].append({"role": "user", "content": "now refactor it"})
    assert _route(body, rules=RULES).model == "coder"


def test_strip_never_empties_a_message() -> None:
    body = fixture(MAIN_TURN1)
    body["messages"][0]["content"] = "/fast"
    d = _route(body, rules=RULES)
    assert d.model == "fast" and d.edited_body is None
    assert any("kept the text" in line for line in d.trace)
    body = _prompt("/fast")  # a block list: the emptied block is dropped, the reminder block stays
    d = _route(body, rules=RULES)
    assert d.edited_body is not None
    assert d.edited_body["messages"][0]["content"] == [body["messages"][0]["content"][0]]


def test_strip_and_tag_removal_compose_in_one_message() -> None:
    body = fixture(MAIN_TURN1)
    body["messages"][0]["content"] = "/fast hi " + TAG.format("deep") + " there"
    d = _route(body, rules=RULES, router=ALL_TARGETS + 'order = ["prompt_rules", "subagent", "default"]')
    assert (d.rule, d.model) == ("prompt_rules", "fast")
    assert d.edited_body is not None
    assert d.edited_body["messages"][0]["content"] == "hi  there"


@pytest.mark.parametrize(
    ("template", "expect"),
    [
        ("$1", "a"),
        ("${1}x", "ax"),
        ("$1x", ""),  # like the Rust regex crate: "$1x" names a group "1x"
        ("p-${name}", "p-b"),
        ("$name", "b"),
        ("$9", ""),
        ("$$1", "$1"),
        ("plain", "plain"),
    ],
)
def test_expand_captures(template: str, expect: str) -> None:
    import re

    m = re.search(r"(a)(?P<name>b)", "ab")
    assert m is not None
    assert expand_captures(template, m) == expect


# ------------------------------------------------------------------------------ order


def _everything() -> dict[str, Any]:
    body = fixture(MAIN_TURN2) | {"model": "claude-haiku-4-5"}
    body["tools"].append(WEB_SEARCH_TOOL)
    body["messages"][0]["content"].append(IMAGE)
    body["thinking"] = {"type": "enabled", "budget_tokens": 2048}
    body["messages"][0]["content"][1]["text"] = "/fast go"
    return body


@pytest.mark.parametrize(
    ("router", "expect"),
    [
        ("", "websearch"),
        ('disabled = ["websearch"]', "image"),
        ('disabled = ["websearch", "image"]', "long_context"),
        ('disabled = ["websearch", "image", "long_context"]', "think"),
        ('disabled = ["websearch", "image", "long_context", "think"]', "background"),
        ('disabled = ["websearch", "image", "long_context", "think", "background"]', "prompt_rules"),
        (
            'disabled = ["websearch", "image", "long_context", "think", "background", "prompt_rules"]',
            "default",
        ),
        ('order = ["background", "think", "default"]', "background"),
        ('order = ["prompt_rules", "websearch"]', "prompt_rules"),
        ('order = ["think", "background"]\ndisabled = ["think"]', "background"),
    ],
)
def test_rule_order_and_disabled(router: str, expect: str) -> None:
    router = ALL_TARGETS + "long_context_threshold = 1000\n" + router
    d = _route(_everything(), router, rules=RULES)
    assert d.rule == expect
    # One trace line per configured rule, in order (then any edits).
    rule_lines = [ln.split(":")[0] for ln in d.trace if not ln.startswith(("edit:", "("))]
    assert rule_lines == list(make_cfg(router, RULES).router.order)


def test_full_trace_shows_every_rule_that_would_fire() -> None:
    cfg = make_cfg(ALL_TARGETS + "long_context_threshold = 1000", RULES)
    d = decide(_everything(), {}, cfg, full_trace=True)
    assert d.rule == "websearch"
    would = [ln.split(":")[0] for ln in d.trace if "would also fire" in ln]
    assert would == ["image", "long_context", "think", "background", "prompt_rules", "default"]
    fast = decide(_everything(), {}, cfg)
    assert sum("not evaluated" in ln for ln in fast.trace) == 6
    assert (fast.rule, fast.model, fast.edited_body) == (d.rule, d.model, d.edited_body)


def test_strip_only_applies_when_the_prompt_rule_wins() -> None:
    d = _route(_everything(), ALL_TARGETS, rules=RULES)
    assert d.rule == "websearch" and d.edited_body is None


def test_later_rule_errors_do_not_break_full_trace() -> None:
    body = _tag_in("system[2]", "nope")
    body["tools"].append(WEB_SEARCH_TOOL)
    cfg = make_cfg(ALL_TARGETS + 'order = ["websearch", "subagent", "default"]')
    d = decide(body, {}, cfg, full_trace=True)
    assert d.rule == "websearch"
    assert any(ln.startswith("subagent: would fail") for ln in d.trace)


# ------------------------------------------------------------------------------ header safety


def test_reasons_are_header_safe() -> None:
    d = _route(fixture(TITLE) | {"model": "claude-haiku\n\u00e9\u4e2d" + "x" * 300})
    assert d.rule == "background"
    assert d.reason.isascii() and "\n" not in d.reason and len(d.reason) <= 80
    assert header_safe("a\r\nb\u00e9") == "a??b?"
