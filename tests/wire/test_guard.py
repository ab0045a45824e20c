"""StreamGuard: whole valid events pass byte-identical in any chunking; a corrupt one stops the relay."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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
