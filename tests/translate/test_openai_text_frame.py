"""The plain text-frame shortcut (translate/openai_text_frame.py) changes no byte of the translation.

Every stream is translated twice, with the shortcut and with it switched off (every frame parsed whole), in
several chunkings: the output and the final state must be identical, byte for byte. The frames are built as
text, not through a JSON encoder, so they include what an encoder never writes: raw control characters and
invalid UTF-8 inside the text, lone-surrogate and unknown escapes, keys the translator reads in the prefix, a
CR in the line, duplicated ``choices``, a prefix that changes every frame.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_code_mux.translate.openai_stream import OpenAIStreamTranslator
from claude_code_mux.translate.openai_text_frame import TextFrames

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PREFIXES = [
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",',
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","service_tier":"default",'
    b'"system_fingerprint":"fp_1",',
    b"{",
    b'{ "id" : "x" , ',
    b'{"id":"chatcmpl-1","usage":null,',
    b'{"id":"chatcmpl-1","usage":{"prompt_tokens":5,"completion_tokens":2},',  # read: never the shortcut
    b'{"id":"chatcmpl-1","x_groq":{"usage":{"prompt_tokens":7}},',
    b'{"id":"chatcmpl-1","error":null,',
    b'{"id":"chatcmpl-1","choices":[],',  # a second choices
    b'{"id":"chatcmpl-1",\r',
    b'{"id":"chatcmpl-\\u00e9\\"choices\\":[",',
    b'{"id":"chatcmpl-1" ',  # not JSON with what follows
    b'{"id":"\xff",',
]
TEXTS = [
    b"Hello",
    b"",
    b" world, ",
    "caf\u00e9 \u2028 \U0001f600".encode(),
    b'a\\nb\\t\\"q\\" \\\\ \\/',
    b"\\u00e9\\ud83d\\ude00",
    b"\\ud800",  # a lone surrogate: refused
    b"\\x41",  # not a JSON escape
    b"tab\there",  # a raw control character: not JSON
    b"bad \xff\xfe utf-8",
    b"cut \xe2\x82",
    b"\x7f del",
]
TAILS = [
    b'"},"logprobs":null,"finish_reason":null}]}',
    b'"},"finish_reason":null}]}',
    b'"},"logprobs":null,"finish_reason":null}],"usage":null}',
    b'"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"aB3_-x"}',
    b'"},"logprobs":null,"finish_reason":null}],"obfuscation":"zz"}',
    b'"},"logprobs":null,"finish_reason":"stop"}]}',
    b'"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":3,"completion_tokens":1}}',
    b'"},"logprobs":null,"finish_reason":null}],"choices":[]}',
    b'"},"logprobs":null,"finish_reason":null}]',  # unterminated object
    b'"},"logprobs":null,"finish_reason":null}]} ',
    b'"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}',
    b'"},"finish_reason":null,"native_finish_reason":"stop"}]}',
    b'"},"logprobs":nul,"finish_reason":null}]}',  # not JSON
    b'"},"logprobs":null,"finish_reason":false}]}',
]
FIRSTS = [
    b'"choices":[{"index":0,"delta":{',
    b'"choices":[{"index":0,"delta":{"role":"assistant",',
    b'"choices":[{"index":0,"delta":{"role":"user",',
    b'"choices":[{"delta":{',
    b'"choices":[{"index":1,"delta":{',
    b'"choices":[{"index":0,"delta":{"reasoning":"r",',
]
OTHER = [
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}'
    b"\n\n",
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"refusal":"no"},"finish_reason":null}]}\n\n',
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"reasoning_content":"hm"},"finish_reason":null}]}\n\n',
    b'data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",'
    b'"function":{"name":"f","arguments":"{\\"a\\""}}]},"finish_reason":null}]}\n\n',
    b'data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},'
    b'"finish_reason":null}]}\n\n',
    b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}\n\n',
    b": keep-alive\n\n",
    b"data: [DONE]\n\n",
    b'data: {"error":{"message":"boom","type":"server_error"}}\n\n',
]


def _frame(prefix: bytes, text: bytes, tail: bytes, *, first: bytes = b'"choices":[{"index":0,"delta":{') -> bytes:
    return b"data: " + prefix + first + b'"content":"' + text + tail + b"\n\n"


def translate(pieces: list[bytes], *, shortcut: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, Any]:
    with monkeypatch.context() as mp:
        if not shortcut:
            mp.setattr(TextFrames, "take", lambda self, chunk, pos, head, out: (pos, 0))
        tr = OpenAIStreamTranslator(model="claude-x", message_id="msg_t")
        out = b"".join(tr.feed(p) for p in pieces) + tr.close()
        return out, (tr.error, tr.usage, tr.started, tr.finished)


def rechunk(draw: st.DrawFn, data: bytes) -> list[bytes]:
    points = sorted(draw(st.sets(st.integers(0, len(data)), max_size=6)))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    frames: list[bytes] = [OTHER[0]] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 4)) == 0:
            frames.append(draw(st.sampled_from(OTHER)))
            continue
        prefix = draw(st.sampled_from(PREFIXES[:2])) if draw(st.booleans()) else draw(st.sampled_from(PREFIXES))
        text = draw(st.sampled_from(TEXTS)) if draw(st.booleans()) else draw(st.sampled_from(TEXTS[:4]))
        tail = draw(st.sampled_from(TAILS[:2])) if draw(st.booleans()) else draw(st.sampled_from(TAILS))
        first = FIRSTS[0] if draw(st.booleans()) else draw(st.sampled_from(FIRSTS))
        frames.append(_frame(prefix, text, tail, first=first))
    raw = b"".join(frames)
    return raw, rechunk(draw, raw)


@SETTINGS
@given(streams())
def test_the_shortcut_changes_no_byte(case: tuple[bytes, list[bytes]]) -> None:
    raw, pieces = case
    with pytest.MonkeyPatch.context() as mp:
        expected = translate([raw], shortcut=False, monkeypatch=mp)
        assert translate([raw], shortcut=True, monkeypatch=mp) == expected
        assert translate(pieces, shortcut=True, monkeypatch=mp) == expected
        one_frame_per_read = [f + b"\n\n" for f in raw.split(b"\n\n") if f]
        assert translate(one_frame_per_read, shortcut=True, monkeypatch=mp) == expected


@pytest.mark.parametrize(("prefix", "text", "tail"), list(itertools.product(PREFIXES, TEXTS, TAILS)))
def test_each_shape_after_a_text_block_is_open(
    prefix: bytes, text: bytes, tail: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _frame(PREFIXES[0], b"Hi", TAILS[0])
    frames = [OTHER[0], good, _frame(prefix, text, tail), good, _frame(prefix, text, tail), OTHER[5], OTHER[8]]
    for pieces in (frames, [b"".join(frames)]):
        assert translate(pieces, shortcut=True, monkeypatch=monkeypatch) == translate(
            pieces, shortcut=False, monkeypatch=monkeypatch
        )


@pytest.mark.parametrize(("first", "tail"), list(itertools.product(FIRSTS, TAILS)))
def test_each_choice_form(first: bytes, tail: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _frame(PREFIXES[0], b"Hi", TAILS[0])
    odd = [_frame(PREFIXES[0], text, tail, first=first) for text in (b"x", b"a\\nb", b"", "\u00e9".encode())]
    frames = [OTHER[0], good, *odd, good, *odd, OTHER[5], OTHER[8]]
    for pieces in (frames, [b"".join(frames)]):
        assert translate(pieces, shortcut=True, monkeypatch=monkeypatch) == translate(
            pieces, shortcut=False, monkeypatch=monkeypatch
        )


def test_the_shortcut_is_taken_for_the_common_frames() -> None:
    tr = OpenAIStreamTranslator(model="claude-x", message_id="msg_t")
    tr.feed(OTHER[0] + _frame(PREFIXES[1], b"Hi", TAILS[3]))  # opens the text block through the full parse
    frames = tr._frames
    for text in (b"plain", "caf\u00e9".encode(), b"line\\n"):
        out = tr.feed(_frame(PREFIXES[1], text, TAILS[3]))
        assert out.startswith(b"event: content_block_delta\n")
    assert frames._tail and frames._learned == 1  # learned once, then only compared


def test_the_shortcut_is_taken_for_a_role_in_every_delta(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenRouter and Ollama repeat ``role`` in every delta, OpenRouter adds ``native_finish_reason``."""
    tail = b'"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}'
    frames = [_frame(PREFIXES[0], b"w%d " % i, tail, first=FIRSTS[1]) for i in range(6)]
    tr = OpenAIStreamTranslator(model="claude-x", message_id="msg_t")
    tr.feed(frames[0])
    parsed = 0
    real = OpenAIStreamTranslator._on_chunk

    def counting(self: OpenAIStreamTranslator, obj: dict[str, Any]) -> None:
        nonlocal parsed
        parsed += 1
        real(self, obj)

    monkeypatch.setattr(OpenAIStreamTranslator, "_on_chunk", counting)
    out = b"".join(tr.feed(f) for f in frames[1:])
    assert parsed == 0  # once the text block is open, none of these frames is parsed
    assert out.count(b"content_block_delta") == 10 and b'"text":"w5 "' in out


def test_a_prefix_that_changes_every_frame_stops_being_learned() -> None:
    tr = OpenAIStreamTranslator(model="claude-x", message_id="msg_t")
    tr.feed(OTHER[0] + _frame(PREFIXES[0], b"Hi", TAILS[0]))
    for i in range(20):
        tr.feed(_frame(b'{"id":"c%d",' % i, b"x", TAILS[0]))
    assert tr._frames._learned == 8
    out = tr.feed(_frame(b'{"id":"c99",', b"y", TAILS[0]))  # still translated, by the full parse
    assert b'"text":"y"' in out
