"""Hypothesis properties of the Responses dialect's translation.

1. Re-chunking invariance: any byte chunking (and any cut of the deltas) gives the same Anthropic stream.
2. Every output obeys the Anthropic event grammar (tests/translate/grammar.py).
3. Folding the translated stream equals translating the non-streamed response.
4. Tool call ids and names survive the answer and come back as ``function_call`` / ``function_call_output``.
5. A multi-turn tool conversation keeps every call and every result, in a request the strict mock accepts.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_code_mux.translate.anthropic_fold import fold_anthropic_events
from claude_code_mux.translate.responses_request import to_responses_request
from claude_code_mux.translate.responses_response import from_responses_response
from claude_code_mux.translate.responses_stream import ResponsesStreamTranslator
from tests.mocks.responses import validate_responses_request
from tests.translate.grammar import check_sse
from tests.translate.responses_events import build, sse, usage

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True)
IDS = st.from_regex(r"call_[A-Za-z0-9]{1,12}", fullmatch=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
ARGS = st.dictionaries(st.text(max_size=6), JSON, max_size=3).map(lambda d: orjson.dumps(d).decode() if d else "")


def translate(pieces: list[bytes]) -> tuple[bytes, ResponsesStreamTranslator]:
    tr = ResponsesStreamTranslator(model="claude-x", message_id="msg_prop")
    return b"".join(tr.feed(p) for p in pieces) + tr.close(), tr


@st.composite
def answers(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any], list[tuple[str, str, str]], list[bytes]]:
    items: list[tuple[Any, ...]] = []
    if draw(st.booleans()):
        items.append(("reasoning", draw(st.lists(TEXT, min_size=1, max_size=3))))
    if draw(st.booleans()):
        items.append(("text", draw(TEXT)))
    n = draw(st.integers(0, 3))
    ids = draw(st.lists(IDS, min_size=n, max_size=n, unique=True))
    calls = [(i, draw(NAMES), draw(ARGS)) for i in ids]
    items += [("call", *c) for c in calls]
    if not items:
        items.append(("text", "x"))
    use = draw(st.none() | st.builds(usage, st.integers(0, 5000), st.integers(0, 500), st.integers(0, 100)))
    status = draw(st.sampled_from(["completed", "completed", "incomplete"]))

    def cut(s: str) -> list[str]:
        if not s:
            return []
        points = sorted(draw(st.sets(st.integers(1, max(1, len(s) - 1)), max_size=4)) if len(s) > 1 else set())
        bounds = [0, *points, len(s)]
        return [s[a:b] for a, b in itertools.pairwise(bounds) if s[a:b]]

    events, final = build(
        items, cut=cut, use=use, status=status, incomplete="max_output_tokens" if status == "incomplete" else None
    )
    data = sse(events, crlf=draw(st.booleans()))
    points = sorted(draw(st.sets(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *points, len(data)]
    return events, final, calls, [data[a:b] for a, b in itertools.pairwise(bounds)]


@SETTINGS
@given(answers())
def test_rechunking_grammar_and_fold_equal_non_streamed(case: Any) -> None:
    _events, final, calls, pieces = case
    whole, tr = translate([b"".join(pieces)])
    split, _ = translate(pieces)
    assert split == whole  # 1
    check_sse(whole, tool_json=False)  # 2
    assert tr.error is None
    folded = fold_anthropic_events(whole)
    direct = from_responses_response(final, model="claude-x")
    for key in ("content", "stop_reason", "usage"):  # 3
        assert folded[key] == direct[key], key
    uses = [(b["id"], b["name"]) for b in folded["content"] if b["type"] == "tool_use"]
    assert uses == [(i, n) for i, n, _ in calls]  # 4


@SETTINGS
@given(answers(), st.lists(TEXT, min_size=3, max_size=3), st.booleans())
def test_tool_ids_round_trip_into_the_next_request(case: Any, results: list[str], error: bool) -> None:
    _, _final, calls, pieces = case
    msg = fold_anthropic_events(translate(pieces)[0])
    uses = [b for b in msg["content"] if b["type"] == "tool_use"]
    follow = {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": msg["content"] or [{"type": "text", "text": "..."}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": u["id"], "content": results[k % 3], "is_error": error}
                    for k, u in enumerate(uses)
                ]
                or "ok",
            },
        ],
        "tools": [{"name": n, "input_schema": {"type": "object"}} for _, n, _ in calls],
    }
    out = to_responses_request(follow, model="m")
    assert validate_responses_request(dict(out)) is None
    fc = [i for i in out["input"] if i["type"] == "function_call"]
    fo = [i for i in out["input"] if i["type"] == "function_call_output"]
    assert [(i["call_id"], i["name"]) for i in fc] == [(u["id"], u["name"]) for u in uses]
    assert [i["call_id"] for i in fo] == [u["id"] for u in uses]
    for k, item in enumerate(fo):
        assert item["output"] == ("[tool error] " if error else "") + results[k % 3]
        args = fc[k]["arguments"]
        assert orjson.loads(args) == uses[k]["input"] or uses[k]["input"] == {"_raw": args}


@st.composite
def conversations(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": draw(TEXT) or "start"}]
    expected: list[tuple[str, str]] = []
    n = 0
    for _ in range(draw(st.integers(1, 5))):
        k = draw(st.integers(1, 3))
        ids = [f"toolu_{n + j}" for j in range(k)]
        n += k
        blocks: list[dict[str, Any]] = []
        if draw(st.booleans()):
            blocks.append({"type": "thinking", "thinking": draw(TEXT), "signature": ""})
        if draw(st.booleans()):
            blocks.append({"type": "text", "text": draw(TEXT)})
        blocks += [{"type": "tool_use", "id": i, "name": "Bash", "input": {"command": draw(TEXT)}} for i in ids]
        messages.append({"role": "assistant", "content": blocks})
        outs = [(i, draw(TEXT)) for i in ids]
        expected += outs
        order = draw(st.permutations(outs))
        results: list[dict[str, Any]] = [{"type": "tool_result", "tool_use_id": i, "content": c} for i, c in order]
        if draw(st.booleans()):
            results.append({"type": "text", "text": draw(TEXT) or "more"})
        messages.append({"role": "user", "content": results})
    body = {"model": "c", "max_tokens": 50, "messages": messages, "tools": [{"name": "Bash", "input_schema": {}}]}
    return body, expected


@SETTINGS
@given(conversations())
def test_multi_turn_tool_conversation_keeps_every_call_and_result(conv: Any) -> None:
    body, expected = conv
    out = to_responses_request(body, model="m")
    assert validate_responses_request(dict(out)) is None
    calls = [i["call_id"] for i in out["input"] if i["type"] == "function_call"]
    outputs = [(i["call_id"], i["output"]) for i in out["input"] if i["type"] == "function_call_output"]
    assert calls == [i for i, _ in expected]
    assert sorted(outputs) == sorted(expected)
    assert [c for c, _ in outputs] == calls  # each result right after its turn's calls, in call order
