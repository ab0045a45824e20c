"""GeminiStreamTranslator: golden transcripts (tests/golden/gemini_stream) and hypothesis properties.

Each ``NAME.sse`` is raw upstream bytes; ``NAME.jsonl`` the expected Anthropic events, then a ``{"state"}`` line.
Every transcript is fed whole, byte by byte, line by line and in fixed-size pieces: the output must be the same.
Regenerate after an intended change with ``UPDATE_GOLDEN=1`` and review the diff.

Properties: any chunking gives the same output; every output obeys the Anthropic grammar; folding the stream
equals translating the non-streamed answer (the same parts in one response); the anthropic SDK accumulates it.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_code_mux.translate.anthropic_fold import fold_anthropic_events
from claude_code_mux.translate.gemini_response import GeminiAnswerError, from_gemini_response, unwrap
from claude_code_mux.translate.gemini_stream import GeminiStreamTranslator
from claude_code_mux.wire.sse import SSEDecoder
from tests.translate.grammar import check_sse, parse_events
from tests.translate.test_sdk import sdk_final_message

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "gemini_stream"
CASES = sorted(p.stem for p in GOLDEN.glob("*.sse"))
MODEL = "claude-sonnet-test"
MSG_ID = "msg_golden"


def translate(pieces: list[bytes]) -> tuple[bytes, GeminiStreamTranslator]:
    tr = GeminiStreamTranslator(model=MODEL, message_id=MSG_ID)
    return b"".join(tr.feed(p) for p in pieces) + tr.close(), tr


def chunkings(data: bytes) -> dict[str, list[bytes]]:
    ways = {"whole": [data], "bytes": [data[i : i + 1] for i in range(len(data))], "lines": data.splitlines(True)}
    for size in (2, 7, 64):
        ways[f"size{size}"] = [data[i : i + size] for i in range(0, len(data), size)]
    return ways


def transcript(out: bytes, tr: GeminiStreamTranslator) -> list[dict[str, Any]]:
    state = {"error": list(tr.error) if tr.error else None, "usage": tr.usage, "started": tr.started}
    return [*({"event": e, "data": d} for e, d in parse_events(out)), {"state": {**state, "finished": tr.finished}}]


def merged_response(data: bytes) -> dict[str, Any]:
    """The non-streamed answer equivalent to a stream: every part in order, the last finish and usage."""
    dec = SSEDecoder()
    parts: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    finish = None
    for ev in dec.feed(data) + dec.close():
        obj = unwrap(orjson.loads(ev.data))
        for c in obj.get("candidates", [])[:1]:
            parts += c.get("content", {}).get("parts", [])
            finish = c.get("finishReason", finish)
        out.update({k: v for k, v in obj.items() if k != "candidates"})
    if parts or finish:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
        if finish:
            cand["finishReason"] = finish
        out["candidates"] = [cand]
    return out


def test_golden_cases_exist() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("name", CASES)
def test_golden_transcript(name: str) -> None:
    data = (GOLDEN / f"{name}.sse").read_bytes()
    outs = {how: translate(pieces) for how, pieces in chunkings(data).items()}
    whole, tr = outs["whole"]
    for how, (out, _) in outs.items():
        assert out == whole, f"chunking {how!r} changed the output"
    expected_path = GOLDEN / f"{name}.jsonl"
    got = transcript(whole, tr)
    if os.environ.get("UPDATE_GOLDEN") or not expected_path.exists():
        expected_path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in got))
    expected = [orjson.loads(line) for line in expected_path.read_bytes().splitlines()]
    assert got == expected
    if tr.error is not None and not tr.started:
        assert whole == b""
        return
    check_sse(whole)
    if tr.error is not None:
        with pytest.raises(anthropic.APIStatusError):
            sdk_final_message(whole)
        return
    msg = sdk_final_message(whole)
    folded = fold_anthropic_events(whole)
    assert msg.model_dump(exclude_none=True, include={"content", "stop_reason"}) == {
        "content": folded["content"],
        "stop_reason": folded["stop_reason"],
    }
    # stream == non-stream
    non_stream = from_gemini_response(merged_response(data), model=MODEL, message_id=MSG_ID)
    assert folded["content"] == non_stream["content"]
    assert folded["stop_reason"] == non_stream["stop_reason"]
    assert folded["usage"]["output_tokens"] == non_stream["usage"]["output_tokens"]


def test_malformed_function_call_is_an_error_both_ways() -> None:
    data = (GOLDEN / "malformed_function_call.sse").read_bytes()
    out, tr = translate([data])
    assert out == b"" and tr.error is not None and tr.error[0] == "api_error"
    with pytest.raises(GeminiAnswerError):
        from_gemini_response(merged_response(data), model=MODEL)


# ---- properties ---------------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=16)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
PART = st.one_of(
    TEXT.map(lambda t: {"text": t}),
    TEXT.map(lambda t: {"text": t, "thought": True}),
    st.tuples(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True), st.dictionaries(TEXT, JSON, max_size=3)
    ).map(lambda na: {"functionCall": {"name": na[0], "args": na[1]}}),
)
FINISH = st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER", None])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    parts = draw(st.lists(PART, max_size=8))
    groups: list[list[dict[str, Any]]] = []
    for p in parts:
        if groups and draw(st.booleans()):
            groups[-1].append(p)
        else:
            groups.append([p])
    wrapped = draw(st.booleans())
    finish = draw(FINISH)
    usage = {"promptTokenCount": draw(st.integers(0, 500)), "cachedContentTokenCount": draw(st.integers(0, 600))}
    events = []
    for i, g in enumerate(groups or [[]]):
        cand: dict[str, Any] = {"content": {"role": "model", "parts": g}} if g else {}
        last = i == max(len(groups), 1) - 1
        if last and finish:
            cand["finishReason"] = finish
        obj: dict[str, Any] = {"candidates": [cand]}
        if last:
            obj["usageMetadata"] = {**usage, "candidatesTokenCount": 5, "thoughtsTokenCount": draw(st.integers(0, 9))}
        events.append({"response": obj} if wrapped else obj)
    sep = draw(st.sampled_from([b"\n\n", b"\r\n\r\n"]))
    data = b"".join(b"data: " + orjson.dumps(e) + sep for e in events)
    points = sorted(draw(st.sets(st.integers(0, len(data)), max_size=12)))
    return data, [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_any_stream_rechunks_obeys_the_grammar_and_equals_the_non_streamed_answer(
    case: tuple[bytes, list[bytes]],
) -> None:
    data, pieces = case
    whole, _ = translate([data])
    assert translate(pieces)[0] == whole
    check_sse(whole)
    folded = fold_anthropic_events(whole)
    non_stream = from_gemini_response(merged_response(data), model=MODEL, message_id=MSG_ID)
    assert folded["content"] == non_stream["content"]
    assert folded["stop_reason"] == non_stream["stop_reason"]
    assert {k: folded["usage"][k] for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")} == {
        k: non_stream["usage"][k] for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")
    }
    ids = [b["id"] for b in folded["content"] if b["type"] == "tool_use"]
    assert len(ids) == len(set(ids))
