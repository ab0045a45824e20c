"""Hypothesis properties of the OpenAI -> Anthropic stream translation.

1. Re-chunking invariance: any byte chunking of the input gives the same output.
2. Every output obeys the Anthropic event grammar (tests/translate/grammar.py), for well-formed and
   chaotic inputs (tool calls before text, text after tools, interleaved arguments, usage anywhere,
   missing finish_reason or [DONE], errors).
3. Folding the translated stream equals translating the non-streamed equivalent answer.
4. Every tool call id and name survives (also through the request translation and its quirks).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_code_mux.config.presets import PRESETS
from claude_code_mux.translate.anthropic_fold import fold_anthropic_events
from claude_code_mux.translate.openai_request import to_openai_request
from claude_code_mux.translate.openai_response import from_openai_response
from claude_code_mux.translate.openai_stream import OpenAIStreamTranslator
from claude_code_mux.translate.quirks import tool_name_map
from tests.mocks.openai import validate_chat_request
from tests.translate.grammar import check_sse
from tests.translate.openai_chunks import CHUNK_BASE, chunk, completion, frame, usage, usage_chunk

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


def translate(pieces: list[bytes]) -> tuple[bytes, OpenAIStreamTranslator]:
    tr = OpenAIStreamTranslator(model="claude-x", message_id="msg_prop")
    return b"".join(tr.feed(p) for p in pieces) + tr.close(), tr


def cut(draw: st.DrawFn, s: str) -> list[str]:
    """``s`` split at random points (non-empty pieces)."""
    if not s:
        return []
    points = sorted(draw(st.sets(st.integers(1, max(1, len(s) - 1)), max_size=4)) if len(s) > 1 else set())
    bounds = [0, *points, len(s)]
    return [s[a:b] for a, b in itertools.pairwise(bounds) if s[a:b]]


def rechunk(draw: st.DrawFn, data: bytes) -> list[bytes]:
    points = sorted(draw(st.sets(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@dataclass
class Case:
    stream: bytes
    response: dict[str, Any]
    tools: list[tuple[str, str, str]]
    pieces: list[bytes]


@st.composite
def well_formed(draw: st.DrawFn) -> Case:
    """A reasoning -> text -> tool calls answer, rendered as a stream and as a non-streamed response."""
    reasoning = draw(TEXT)
    text = draw(TEXT)
    n_tools = draw(st.integers(0, 3))
    ids = draw(st.lists(IDS, min_size=n_tools, max_size=n_tools, unique=True))
    tools = [(i, draw(NAMES), draw(ARGS)) for i in ids]
    finish = draw(st.sampled_from([None, "stop", "length", "tool_calls", "content_filter"]))
    use = draw(st.none() | st.builds(usage, st.integers(0, 5000), st.integers(0, 500), st.integers(0, 100)))
    objs: list[Any] = []
    if draw(st.booleans()):
        objs.append(chunk({"role": "assistant", "content": ""}))
    field = draw(st.sampled_from(["reasoning_content", "reasoning"]))
    objs += [chunk({field: p}) for p in cut(draw, reasoning)]
    objs += [chunk({"content": p}) for p in cut(draw, text)]
    # tool calls: heads in index order, argument pieces interleaved at random
    queues = [
        [{"index": k, "id": tid, "type": "function", "function": {"name": name, "arguments": ""}}]
        + [{"index": k, "function": {"arguments": p}} for p in cut(draw, args)]
        for k, (tid, name, args) in enumerate(tools)
    ]
    started = 0
    while any(queues):
        ready = [k for k, q in enumerate(queues) if q and (k < started or k == started)]
        k = draw(st.sampled_from(ready))
        if k == started:
            started += 1
        objs.append(chunk({"tool_calls": [queues[k].pop(0)]}))
    if finish is not None:
        objs.append(chunk({}, finish, **({"usage": use} if use and draw(st.booleans()) else {})))
    if not objs:  # a body with no data at all is an upstream failure, not an empty answer
        objs.append(chunk({"role": "assistant", "content": ""}))
    if use is not None and "usage" not in objs[-1]:
        objs.append({**CHUNK_BASE, "choices": [], "usage": use})
    data = b"".join(frame(o) for o in objs) + (b"data: [DONE]\n\n" if draw(st.booleans()) else b"")
    response = completion(text=text or None, reasoning=reasoning or None, tools=tools, finish=finish, usage_obj=use)
    if field == "reasoning":
        msg = response["choices"][0]["message"]
        if "reasoning_content" in msg:
            msg["reasoning"] = msg.pop("reasoning_content")
    return Case(data, response, tools, rechunk(draw, data))


@SETTINGS
@given(well_formed())
def test_rechunking_grammar_and_fold_equal_non_streamed(case: Case) -> None:
    whole, _ = translate([case.stream])
    pieces, _ = translate(case.pieces)
    assert pieces == whole  # 1
    check_sse(whole)  # 2
    folded = fold_anthropic_events(whole)
    expected = from_openai_response(case.response, model="claude-x")
    assert folded["content"] == expected["content"]  # 3
    assert folded["stop_reason"] == expected["stop_reason"]
    assert folded["usage"] == expected["usage"]
    assert [(b["id"], b["name"]) for b in folded["content"] if b["type"] == "tool_use"] == [
        (i, n) for i, n, _ in case.tools
    ]  # 4


@st.composite
def chaotic(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """Any sequence of plausible chunks, in any order."""
    events: list[bytes] = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.sampled_from(["text", "reasoning", "head", "args", "finish", "usage", "empty", "role", "junk"]))
        if kind == "text":
            events.append(frame(chunk({"content": draw(TEXT)})))
        elif kind == "reasoning":
            events.append(frame(chunk({"reasoning_content": draw(TEXT)})))
        elif kind == "head":
            idx = draw(st.integers(0, 3) | st.none())
            call = {
                "id": draw(IDS | st.none()),
                "type": "function",
                "function": {
                    "name": draw(NAMES | st.none()),
                    "arguments": draw(st.sampled_from(["", "{", '{"a":1}'])),
                },
            }
            if idx is not None:
                call["index"] = idx
            events.append(frame(chunk({"tool_calls": [call]})))
        elif kind == "args":
            frag = draw(st.sampled_from(['{"x":', "1}", '"s"', "}", " "]))
            events.append(
                frame(chunk({"tool_calls": [{"index": draw(st.integers(0, 3)), "function": {"arguments": frag}}]}))
            )
        elif kind == "finish":
            events.append(
                frame(chunk({}, draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter", "xyz"]))))
            )
        elif kind == "usage":
            events.append(
                frame(usage_chunk(draw(st.integers(0, 99)), draw(st.integers(0, 99)), draw(st.integers(0, 99))))
            )
        elif kind == "empty":
            events.append(frame({**CHUNK_BASE, "choices": []}))
        elif kind == "role":
            events.append(frame(chunk({"role": "assistant", "content": None})))
        else:
            events.append(draw(st.sampled_from([b": comment\n\n", b"event: ping\ndata: \n\n", b"data: 42\n\n"])))
    tail = draw(st.sampled_from([b"", b"data: [DONE]\n\n", frame({"error": {"message": "boom", "code": 500}})]))
    raw = b"".join([*events, tail])
    return raw, rechunk(draw, raw)


@SETTINGS
@given(chaotic())
def test_chaotic_streams_always_give_a_valid_anthropic_stream(case: tuple[bytes, list[bytes]]) -> None:
    raw, chunks = case
    whole, tr = translate([raw])
    pieces, _ = translate(chunks)
    assert pieces == whole
    if tr.error is not None and not tr.started:
        assert whole == b""
        return
    events_out = check_sse(whole, tool_json=False)
    ids = [
        d["content_block"]["id"]
        for e, d in events_out
        if e == "content_block_start" and d["content_block"]["type"] == "tool_use"
    ]
    assert len(ids) == len(set(ids))


# ---- tool ids and names through the request translation --------------------------------------

LONG_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,99}", fullmatch=True)
ANTHROPIC_IDS = st.from_regex(r"(toolu_|call_|functions\.)[A-Za-z0-9_:.-]{1,24}", fullmatch=True)


@st.composite
def tool_conversations(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    names = draw(st.lists(LONG_NAMES, min_size=1, max_size=4, unique=True))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    calls: list[tuple[str, str]] = []
    used: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        turn = []
        for _ in range(draw(st.integers(1, 3))):
            tid = draw(ANTHROPIC_IDS.filter(lambda i: i not in used))
            used.add(tid)
            name = draw(st.sampled_from(names))
            turn.append(
                {
                    "type": "tool_use",
                    "id": tid,
                    "name": name,
                    "input": draw(st.dictionaries(st.text(max_size=4), JSON, max_size=2)),
                }
            )
            calls.append((tid, name))
        results = [
            {
                "type": "tool_result",
                "tool_use_id": b["id"],
                "content": draw(TEXT),
                "is_error": draw(st.booleans()),
            }
            for b in turn
        ]
        if draw(st.booleans()):
            results.insert(0, {"type": "text", "text": "<system-reminder>x</system-reminder>"})
        messages += [{"role": "assistant", "content": turn}, {"role": "user", "content": results}]
    tools = [{"name": n, "input_schema": {"type": "object", "properties": {}}} for n in names]
    return {"model": "c", "max_tokens": 100, "messages": messages, "tools": tools}, calls


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tool_conversations(), st.sampled_from(["gemini-openai", "mistral", "openrouter", "deepseek"]))
def test_tool_ids_and_names_survive_the_round_trip(
    conv: tuple[dict[str, Any], list[tuple[str, str]]], preset: str
) -> None:
    body, calls = conv
    out = to_openai_request(body, model="m", preset=PRESETS[preset])
    if preset == "gemini-openai":  # tool_name_64: every request is valid even with long names
        assert validate_chat_request(out) is None, validate_chat_request(out)
    # each call is answered right after its assistant message, by the same (possibly mapped) id
    sent = [(c["id"], c["function"]["name"]) for m in out["messages"] for c in m.get("tool_calls", [])]
    answered = [m["tool_call_id"] for m in out["messages"] if m["role"] == "tool"]
    assert [i for i, _ in sent] == answered
    assert len(set(answered)) == len(calls)
    # the upstream calls the tools by the names it was given; the client gets its own names back
    names = tool_name_map(body)
    resp = completion(tools=[(i, n, "{}") for i, n in sent], finish="tool_calls")
    msg = from_openai_response(resp, model="c", tool_names=names)
    assert [b["name"] for b in msg["content"]] == [n for _, n in calls]
    stream = b"".join(
        frame(chunk({"tool_calls": [{"index": k, "id": i, "function": {"name": n, "arguments": "{}"}}]}))
        for k, (i, n) in enumerate(sent)
    )
    tr = OpenAIStreamTranslator(model="c", tool_names=names)
    folded = fold_anthropic_events(tr.feed(stream) + tr.close())
    assert [(b["id"], b["name"]) for b in folded["content"]] == [
        (i, n) for (i, _), (_, n) in zip(sent, calls, strict=True)
    ]
    if preset != "mistral":
        assert [i for i, _ in sent] == [i for i, _ in calls]


@st.composite
def text_among_tool_deltas(draw: st.DrawFn) -> tuple[bytes, str, list[tuple[str, str, str]]]:
    """Tool calls whose deltas (interleaved across calls) are sprinkled with text at random points."""
    n_tools = draw(st.integers(1, 3))
    ids = draw(st.lists(IDS, min_size=n_tools, max_size=n_tools, unique=True))
    tools = [(i, draw(NAMES), draw(ARGS)) for i in ids]
    queues = [
        [{"index": k, "id": tid, "type": "function", "function": {"name": name, "arguments": ""}}]
        + [{"index": k, "function": {"arguments": p}} for p in cut(draw, args)]
        for k, (tid, name, args) in enumerate(tools)
    ]
    objs: list[Any] = []
    text = ""
    started = 0
    while any(queues):
        if draw(st.booleans()):
            piece = draw(st.text(min_size=1, max_size=5))
            text += piece
            objs.append(chunk({"content": piece}))
        ready = [k for k, q in enumerate(queues) if q and k <= started]
        k = draw(st.sampled_from(ready))
        started += k == started
        objs.append(chunk({"tool_calls": [queues[k].pop(0)]}))
    objs.append(chunk({}, "tool_calls"))
    return b"".join(frame(o) for o in objs) + b"data: [DONE]\n\n", text, tools


@SETTINGS
@given(text_among_tool_deltas())
def test_text_between_tool_deltas_never_loses_arguments(
    case: tuple[bytes, str, list[tuple[str, str, str]]],
) -> None:
    data, text, tools = case
    out, _ = translate([data])
    check_sse(out)
    folded = fold_anthropic_events(out)
    calls = [(b["id"], b["name"], b["input"]) for b in folded["content"] if b["type"] == "tool_use"]
    assert calls == [(i, n, orjson.loads(a) if a else {}) for i, n, a in tools]
    assert "".join(b["text"] for b in folded["content"] if b["type"] == "text") == text


# Frames the translator takes straight from the bytes (``data: {...}`` + blank line) next to every shape the
# SSE decoder must handle instead; whole-stream feeds use the fast path, one-byte feeds never can.
_FRAMES = st.one_of(
    TEXT.map(lambda t: frame(chunk({"content": t}))),
    TEXT.map(lambda t: frame(chunk({"content": t, "role": "assistant"}))),
    TEXT.map(lambda t: frame(chunk({"reasoning_content": t}))),
    st.builds(
        lambda i, n, a: frame(chunk({"tool_calls": [{"index": 0, "id": i, "function": {"name": n, "arguments": a}}]})),
        IDS,
        NAMES,
        ARGS,
    ),
    st.just(b'data: {"choices":[{"index":0,"delta":{"content":"caf\xe9"}}]}\n\n'),  # invalid UTF-8
    st.just(b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}  \n\n'),  # trailing spaces
    st.just(b'data:{"choices":[{"index":0,"delta":{"content":"y"}}]}\n\n'),  # no space after the colon
    st.just(b'data: {"choices":[{"index":0,\ndata: "delta":{"content":"z"}}]}\n\n'),  # multi-line data
    st.just(b'data: {"choices":[{"index":0,"delta":{"content":"w"}}]}\r\n\r\n'),  # CRLF
    st.just(b": keep-alive\n\n"),
    st.just(b'event: error\ndata: {"error":{"message":"boom","type":"server_error"}}\n\n'),
    st.just(b'data: {"error":{"message":"late","type":"rate_limit_error"}}\n\n'),
    st.just(b"data: {not json}\n\n"),
    st.builds(lambda f: frame(chunk({}, f)), st.sampled_from(["stop", "length", "tool_calls"])),
    st.just(frame(usage_chunk(10, 2))),
    st.just(b"data: [DONE]\n\n"),
)


@SETTINGS
@given(frames=st.lists(_FRAMES, max_size=12))
def test_frames_taken_from_the_bytes_translate_as_the_decoder_would(frames: list[bytes]) -> None:
    stream = b"".join(frames)
    whole, tr_whole = translate([stream])
    per_frame, _ = translate(frames)
    byte_by_byte, tr_bytes = translate([stream[i : i + 1] for i in range(len(stream))])
    assert whole == per_frame == byte_by_byte
    assert tr_whole.error == tr_bytes.error and tr_whole.usage == tr_bytes.usage
