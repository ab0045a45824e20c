"""SSEDecoder on long lines and large events: held in pieces (joined once), bounded in size."""

from __future__ import annotations

import pytest

from claude_code_mux.wire import sse
from claude_code_mux.wire.sse import EventTooLarge, SSEDecoder


def test_a_long_data_line_in_small_reads_decodes_whole_and_is_joined_once() -> None:
    text = "z" * (2 * 1024 * 1024)
    raw = b"data: " + text.encode() + b"\n\nevent: next\ndata: {}\n\n"
    d = SSEDecoder()
    events = []
    for i in range(0, len(raw), 8 * 1024):
        events += d.feed(raw[i : i + 8 * 1024])
        if 0 < i < len(raw) - 16 * 1024:
            assert d._held > 0  # the partial line is kept in pieces, not re-joined per read
    assert [(e.event, len(e.data)) for e in events] == [("message", len(text)), ("next", 2)]
    assert d.idle


def test_a_partial_line_at_the_end_is_still_delivered_by_close() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: ab") == []
    assert d.feed(b"cd") == []
    assert [e.data for e in d.close()] == ["abcd"]


def test_an_event_over_the_limit_raises_and_holds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 4096)
    d = SSEDecoder()
    d.feed(b"data: " + b"a" * 2000 + b"\n")
    with pytest.raises(EventTooLarge):
        d.feed(b"data: " + b"b" * 2000 + b"\ndata: " + b"c" * 200 + b"\n")
    assert d.idle
    one_line = SSEDecoder()
    one_line.feed(b"data: x")
    with pytest.raises(EventTooLarge):
        for _ in range(10):
            one_line.feed(b"y" * 1000)
