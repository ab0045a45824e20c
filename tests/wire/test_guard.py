"""StreamGuard: whole valid events pass byte-identical in any chunking; a corrupt one stops the relay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_code_mux.wire import guard
from claude_code_mux.wire.guard import StreamGuard

STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":11,'
    b'"cache_read_input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text"}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":"h\xc3\xa9llo"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":7}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


START = STREAM[: STREAM.index(b"event: content_block_start")]
STOP = STREAM[STREAM.index(b"event: message_delta") :]


def run(chunks: list[bytes]) -> tuple[bytes, StreamGuard]:
    g = StreamGuard()
    out = b"".join(g.feed(c) for c in chunks)
    return out, g


@settings(max_examples=200)
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_valid_stream_passes_unchanged_in_any_chunking(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    out, g = run(chunks)
    assert out == STREAM
    assert g.close() is None
    assert g.usage == {"input_tokens": 11, "cache_read_input_tokens": 3, "output_tokens": 7}


def test_corrupt_event_stops_before_it() -> None:
    bad = b"event: content_block_delta\ndata: {not json at all\n\n"
    cut = STREAM.index(b"event: content_block_stop")
    out, g = run([STREAM[:cut], bad, STREAM[cut:]])
    assert out == STREAM[:cut]
    assert g.close() == "upstream sent an event whose data is not a JSON object"


def test_cut_stream_is_reported() -> None:
    out, g = run([STREAM[:200]])
    assert STREAM.startswith(out) and len(out) < 200
    assert g.close() == "upstream stream ended in the middle of an event"
    out, g = run([STREAM[: STREAM.index(b"event: message_delta")]])
    assert g.close() == "upstream stream ended without message_stop"


def test_bad_json_in_message_event_is_caught() -> None:
    out, g = run([b'event: message_start\ndata: {"type":"message_start",}\n\n'])
    assert out == b"" and g.close() == "upstream sent an event whose data is not JSON"


def test_crlf_frames() -> None:
    out, g = run([STREAM.replace(b"\n", b"\r\n")])
    assert out == STREAM
    assert g.close() is None


FRAMES = [
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"text":"a"}}\n\n',
    b'event: ping\ndata: {"type": "ping"}\n\n',
    b"event: content_block_delta\ndata: {not json at all\n\n",  # structurally bad: stops the relay
    b"event: content_block_delta\ndata: [1]\n\n",  # not an object
    b'event: content_block_delta\ndata: {"a":\ndata: 1}\n\n',  # multi-line data
    b'event: content_block_delta\r\ndata: {"type":"x"}\r\n\r\n',  # CRLF line ends
    b": a comment\n\n",
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":3}}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n',
    b"event: content_block_delta\ndata:{}\n\n",  # no space after the colon
    b"event: content_block_delta\ndata: {x}\nid: 7\n\n",  # a field after the data line
    b"event: content_block_delta\n\ndata: {}\n\n",  # an event line alone, then data alone
    b'event: content_block_delta\ndata: {"t":"}\\n\\nevent: x"}\n\n',  # the text spells a frame boundary
    b'event: content_block_delta\ndata: {"a":"\r"}\n\n',  # a lone CR inside the data line
    b'event: content_block_delta\ndata: {"a":1}\n\n\n',  # a stray blank line after the event
    b"event: content_block_delta\ndata: {\n\n",  # the object never closes
    b'event: content_block_delta\ndata: {"a":1}\nevent: content_block_delta\ndata: {"b":2}\n\n',  # two in one frame
]


@settings(max_examples=300)
@given(
    picks=st.lists(st.integers(0, len(FRAMES) - 1), min_size=1, max_size=8),
    cuts=st.lists(st.integers(0, 2000), max_size=6),
)
def test_the_plain_run_shortcut_decides_exactly_like_the_per_event_check(picks: list[int], cuts: list[int]) -> None:
    import re

    import claude_code_mux.wire.guard as guard_mod

    stream = b"".join(FRAMES[i] for i in picks)
    points = sorted({c for c in cuts if c < len(stream)})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    fast_out, fast = run(chunks)
    saved = guard_mod._PLAIN_RUN, guard_mod._DELTA
    guard_mod._PLAIN_RUN = re.compile(rb"(?!)")  # never matches: every event takes the per-event check
    guard_mod._DELTA = b"\x00 never"  # nor does the one-delta shortcut
    try:
        slow_out, slow = run(chunks)
    finally:
        guard_mod._PLAIN_RUN, guard_mod._DELTA = saved
    assert fast_out == slow_out
    assert (fast.error, fast.finished, fast.usage, fast.close()) == (
        slow.error,
        slow.finished,
        slow.usage,
        slow.close(),
    )


def test_a_read_of_many_deltas_passes_whole_and_a_bad_one_among_them_stops_the_relay_before_it() -> None:
    delta = FRAMES[0]
    ok = [delta.replace(b'"a"', f'"{"x" * i}"'.encode()) for i in range(1, 40)]
    g = StreamGuard()
    assert g.feed(b"".join(ok)) == b"".join(ok)
    for bad in (FRAMES[2], FRAMES[4], FRAMES[-1], delta.replace(b"}}\n\n", b"}}\n\n\n")):
        g = StreamGuard()
        out = g.feed(b"".join([*ok, bad, *ok]))
        if bad.endswith(b"\n\n\n"):  # a blank line alone is no event: everything passes
            assert out == b"".join([*ok, bad, *ok]) and g.error is None
        else:
            assert out == b"".join(ok) and g.error is not None
        g = StreamGuard()  # the same read ending with other events: deltas up to the last one, then the rest
        out = g.feed(b"".join([*ok, bad, *ok, FRAMES[7], FRAMES[8]]))
        if bad.endswith(b"\n\n\n"):
            assert out == b"".join([*ok, bad, *ok, FRAMES[7], FRAMES[8]]) and g.close() is None
        else:
            assert out == b"".join(ok) and g.error is not None
    g = StreamGuard()
    read = b"".join([*ok, FRAMES[7], *ok, FRAMES[1], *ok, FRAMES[8]])  # message_delta and a ping among deltas
    assert g.feed(read) == read and g.close() is None and g.usage == {"output_tokens": 3}


def test_blank_lines_between_events_are_no_events() -> None:
    # Regression: an event followed by an odd number of extra newlines made the per-event loop search past the
    # region's end and start over from its beginning, forever (the router's event loop hung on one stream).
    # Blank lines are legal SSE; they dispatch nothing, and message_stop after them still counts.
    stream = STREAM.replace(b"\n\nevent: ", b"\n\n\nevent: ").replace(
        b"\nevent: message_stop", b"\n\nevent: message_stop"
    )
    for chunks in ([stream], [stream + b"\n"], [c + b"\n\n\n" for c in STREAM.split(b"\n\n") if c]):
        out, g = run(chunks)
        assert out == b"".join(chunks)
        assert g.close() is None
        assert g.usage == {"input_tokens": 11, "cache_read_input_tokens": 3, "output_tokens": 7}


def test_a_large_event_read_in_small_pieces_is_relayed_whole_and_joined_once() -> None:
    # A 4 MB web-fetch result in 16 KB reads: released whole when its blank line arrives, and held in pieces
    # meanwhile (re-joining the held bytes on every read copied ~500 MB for this event before).
    text = "x" * (4 * 1024 * 1024)
    big = b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"text":"' + text.encode()
    big += b'"}\n\n'
    stream = START + big + STOP
    g = StreamGuard()
    out = [g.feed(stream[i : i + 16 * 1024]) for i in range(0, len(stream), 16 * 1024)]
    assert b"".join(out) == stream and g.close() is None
    assert g._held == 0 and g._parts == []


def test_an_event_over_the_limit_fails_the_stream_instead_of_growing_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard, "MAX_EVENT_BYTES", 64 * 1024)
    g = StreamGuard()
    assert g.feed(START) == START
    head = b'event: content_block_start\ndata: {"text":"'
    assert g.feed(head) == b""
    for _ in range(7):
        assert g.feed(b"y" * 8192) == b""
    assert g.error is None
    assert g.feed(b"y" * 8192) == b""  # now over 64 KB held: the stream fails, nothing more is held
    assert g.error is not None and "over" in g.error
    assert g._parts == [] and g._buf == b""
    assert g.feed(b'"}\n\n' + STOP) == b""
    assert g.close() == g.error
