"""The Probe: routing from a light decode must decide exactly what routing from the parsed body decides."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.routing.hygiene import clean_foreign_thinking
from claude_code_mux.routing.inspect import find_image, scan_tags
from claude_code_mux.routing.probe import Probe
from claude_code_mux.routing.rules import TAG_NAME, decide
from claude_code_mux.routing.types import RouteDecision
from claude_code_mux.server.api.body import check_messages_body
from tests.routing.conftest import ALL_TARGETS, MAIN_TURN1, MAIN_TURN2, TITLE, fixture, make_cfg
from tests.routing.test_rules_property import ROUTERS, RULES, bodies

TAG = "<CCM-SUBAGENT-MODEL>m</CCM-SUBAGENT-MODEL>"
CONFIGS = ["", ALL_TARGETS, ALL_TARGETS + "long_context_threshold = 400", *ROUTERS]


def _outcome(body: dict[str, Any] | Probe, headers: dict[str, str], router: str, rules: str = "") -> Any:
    try:
        d: RouteDecision = decide(body, headers, make_cfg(router, rules))
    except InvalidRequest as exc:
        return ("error", exc.message)
    # The trace may word the long-context check differently (a size bound instead of the estimate).
    return (d.rule, d.reason, d.model, d.provider, d.edited_body)


@pytest.mark.parametrize("name", [MAIN_TURN1, MAIN_TURN2, TITLE])
@pytest.mark.parametrize("router", CONFIGS)
def test_recorded_claude_code_bodies_route_the_same(name: str, router: str) -> None:
    body = fixture(name)
    raw = orjson.dumps(body)
    assert _outcome(Probe.parse(raw), {}, router, RULES) == _outcome(body, {}, router, RULES)


def test_a_plain_passthrough_request_is_never_parsed_whole() -> None:
    raw = orjson.dumps(fixture(MAIN_TURN2))
    probe = Probe.parse(raw)
    check_messages_body(probe)
    decide(probe, {}, make_cfg())
    assert not probe.may_have_foreign_thinking()
    assert not probe.parsed


@pytest.mark.parametrize(
    ("router", "needs"),
    [
        (ALL_TARGETS + "long_context_threshold = 400", "the estimate"),
        ("", "a subagent tag"),
    ],
)
def test_rules_that_need_the_body_parse_it(router: str, needs: str) -> None:
    body = fixture(MAIN_TURN2)
    if needs == "a subagent tag":
        body["system"][1]["text"] += "<CCM-SUBAGENT-MODEL>fast</CCM-SUBAGENT-MODEL>"
    probe = Probe.parse(orjson.dumps(body))
    decide(probe, {}, make_cfg(router, RULES, '\n[[models]]\nname = "fast"\n'))
    assert probe.parsed, needs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(), router=st.sampled_from(CONFIGS), spaced=st.booleans())
def test_any_body_routes_the_same_from_its_bytes(body: dict[str, Any], router: str, spaced: bool) -> None:
    raw = json.dumps(body, indent=1).encode() if spaced else orjson.dumps(body)
    want = _outcome(copy.deepcopy(body), {}, router, RULES)
    assert _outcome(Probe.parse(raw), {}, router, RULES) == want
    bound = Probe.parse(raw).token_bound()
    if bound is not None:
        assert bound >= estimate_tokens(body)


@settings(max_examples=100, deadline=None)
@given(
    sig=st.one_of(
        st.none(), st.sampled_from(["", " ", "ccm:x", "gAAAAAxyz", "EqQBCkgIAxAB", "sig"]), st.integers(-5, 5)
    ),
    data=st.one_of(st.none(), st.sampled_from(["", "abc"])),
    kind=st.sampled_from(["thinking", "redacted_thinking", "text"]),
    role=st.sampled_from(["assistant", "user"]),
)
def test_foreign_thinking_is_seen_without_a_parse(sig: Any, data: Any, kind: str, role: str) -> None:
    block: dict[str, Any] = {"type": kind, "thinking": "hm", "text": "t"}
    if sig is not None:
        block["signature"] = sig
    if data is not None:
        block["data"] = data
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}, {"role": role, "content": [block]}]}
    probe = Probe.parse(orjson.dumps(body))
    dropped = clean_foreign_thinking(body, target_dialect_is_anthropic=True, same_provider_as_history=False)
    assert probe.may_have_foreign_thinking() == (dropped is not None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"messages": []}', "model: field required"),
        (b'{"model": 3, "messages": []}', "model: must be a non-empty string"),
        (b'{"model": "m"}', "messages: field required"),
        (b'{"model": "m", "messages": {"role": "user"}}', "messages: must be an array, not dict"),
        (b'{"model": "m", "messages": ["hi"]}', "messages.0: must be an object with role and content"),
        (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', None),
        (b'{"model": "m", "messages": [], "stream": "yes"}', "stream: must be true or false"),
        (b'{"model": "m", "messages": [], "max_tokens": true}', "max_tokens: must be an integer"),
    ],
)
def test_bad_bodies_get_the_same_errors(raw: bytes, message: str | None) -> None:
    probe = Probe.parse(raw)
    if message is None:
        assert check_messages_body(probe) == "m"
        return
    with pytest.raises(InvalidRequest) as exc:
        check_messages_body(probe)
    assert exc.value.message.startswith(message)


@pytest.mark.parametrize(("raw", "why"), [(b"{", "not valid JSON"), (b"[1]", "must be a JSON object, not list")])
def test_unreadable_bodies_are_400(raw: bytes, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        Probe.parse(raw)


def test_bodies_the_light_decode_cannot_take_are_400s() -> None:
    deep = b'{"model":"m","messages":[],"x":' + b"[" * 2000 + b"]" * 2000 + b"}"
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        Probe.parse(deep)  # orjson's depth limit: a 400, not a RecursionError
    bad_utf8 = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"x":"caf\xe9"}'
    probe = Probe.parse(bad_utf8)  # skipped by the light decode ...
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        probe.full()  # ... and a 400 when something needs the whole body
    with pytest.raises(InvalidRequest, match="not valid JSON"):  # a field it reads: a 400 at once
        Probe.parse(bad_utf8.replace(b'"x"', b'"system"'))


def test_the_size_bound_holds_when_numbers_grow_on_reserialisation() -> None:
    body = fixture(MAIN_TURN2)
    body["tools"][0]["input_schema"]["properties"]["n"] = {"type": "number", "maximum": 1e15}
    body["messages"][2]["content"][2]["input"]["n"] = 1e15
    raw = orjson.dumps(body).replace(b"1000000000000000.0", b"1e15")
    assert raw.count(b"1e15") == 2
    bound = Probe.parse(raw).token_bound()
    assert bound is not None and bound >= estimate_tokens(orjson.loads(raw))


# Numbers whose compact JSON is longer than how the client wrote them (1e15 -> 1000000000000000.0).
_GROWING = st.sampled_from([1e15, 1e9, 1.5e12, -2e10, 7, 0.5])
_SCHEMA = st.dictionaries(st.sampled_from(["maximum", "minimum", "default"]), _GROWING, max_size=3)
_NESTED = st.lists(
    st.one_of(
        st.just({"type": "text", "text": "x"}),
        st.just({"type": "image", "source": {"type": "url", "url": "u"}}),
        st.just({"type": "document", "source": {"type": "text", "data": "d"}}),
        _SCHEMA.map(lambda d: {"type": "tool_use", "id": "t", "name": "n", "input": d}),
        _SCHEMA.map(lambda d: {"type": "search_result", "meta": d}),
    ),
    max_size=3,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=bodies(),
    schema=_SCHEMA,
    inp=_SCHEMA,
    nested=_NESTED,
    as_text=st.booleans(),
    at_most=st.one_of(st.none(), st.integers(0, 30_000)),
)
def test_what_the_probe_proves_absent_is_absent(
    body: dict[str, Any], schema: dict[str, Any], inp: dict[str, Any], nested: list[Any], as_text: bool, at_most: Any
) -> None:
    body["tools"][0]["input_schema"]["properties"]["n"] = {"type": "number", **schema}
    body["messages"].append(
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": inp}]}
    )
    result: Any = "plain text result" if as_text else nested
    body["messages"].append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": result}]}
    )
    raw = orjson.dumps(body)
    for long, short in ((b"1000000000000000.0", b"1e15"), (b"1000000000.0", b"1e9"), (b"1500000000000.0", b"1.5E12")):
        raw = raw.replace(long, short)
    probe = Probe.parse(raw)
    parsed = orjson.loads(raw)
    if not probe.may_have_tag(TAG_NAME):
        assert scan_tags(parsed) is None
    if not probe.may_have_image():
        assert find_image(parsed["messages"]) is None
    if not probe.may_have_web_search():
        assert not any(str(t.get("type", "")).startswith("web_search") for t in parsed["tools"])
    bound = probe.token_bound(at_most)
    if bound is not None:
        assert bound >= estimate_tokens(parsed)
        assert at_most is None or bound <= at_most
    assert not probe.parsed  # none of these questions parses the body whole


def test_the_probe_reads_only_the_fields_it_needs() -> None:
    """A tool result's text is stepped over: spelling a tag, an image or web_search inside it proves nothing."""
    body = fixture(MAIN_TURN2)
    body["messages"][-1]["content"][0]["content"] = '<CCM-SUBAGENT-MODEL>x {"type":"image"} "web_search"'
    probe = Probe.parse(orjson.dumps(body))
    assert not probe.may_have_tag(TAG_NAME)
    assert not probe.may_have_image()
    assert not probe.may_have_web_search()
    assert probe.token_bound() is not None


@pytest.mark.parametrize(
    ("system", "messages", "found"),
    [
        ("x <CCM-SUBAGENT-MODEL>m</CCM-SUBAGENT-MODEL>", [{"role": "user", "content": "q"}], True),
        ([{"type": "text", "text": "a"}], [{"role": "user", "content": TAG}], True),
        (None, [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": TAG}]}], True),
        (
            [{"type": "text", "text": "CCM-SUBAGENT"}, {"type": "text", "text": "-MODEL"}],
            [{"role": "user", "content": "q"}],
            False,  # split over two blocks: the search over the joined texts must not see it either
        ),
        (
            None,
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": TAG}],
            False,  # only the first user message is looked at
        ),
    ],
)
def test_the_tag_is_looked_for_in_system_and_the_first_user_message(system: Any, messages: Any, found: bool) -> None:
    body: dict[str, Any] = {"model": "m", "messages": messages}
    if system is not None:
        body["system"] = system
    probe = Probe.parse(orjson.dumps(body))
    assert probe.may_have_tag(TAG_NAME) is found
    assert (scan_tags(body) is not None) is found
