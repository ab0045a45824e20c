"""rewrite_start_model: the client's model echoed in message_start, exactly as the SSE decoder reads the event."""

from __future__ import annotations

import orjson
import pytest

from claude_code_mux.providers.anthropic import rewrite_start_model
from claude_code_mux.providers.reading import first_event_end
from claude_code_mux.wire.sse import SSEDecoder


def reference(first: bytes, model: str) -> bytes:
    """The decoder-only rewrite (what rewrite_start_model did before it read the usual frame from the bytes)."""
    end = first_event_end(first)
    if end == -1 or not first.startswith(b"event: message_start"):
        return first
    events = SSEDecoder().feed(first[:end])
    if not events or events[0].event != "message_start":
        return first
    try:
        data = orjson.loads(events[0].data)
        data["message"]["model"] = model
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return first
    return b"event: message_start\ndata: " + orjson.dumps(data) + b"\n\n" + first[end:]


START = b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"up-model","usage":{}}}'
REST = b'\n\nevent: ping\ndata: {"type": "ping"}\n\n'


@pytest.mark.parametrize(
    "first",
    [
        START + REST,
        START + b"\n\n",
        START.replace(b"data: ", b"data:   ") + REST,  # more spaces before the JSON
        START.replace(b"\n", b"\r\n") + REST.replace(b"\n", b"\r\n"),  # CRLF
        START.replace(b"up-model", b"up-\xff-model") + REST,  # invalid UTF-8: the decoder replaces it
        START.replace(b'{"type"', b'{"a":1,\n"type"') + REST,  # not one line (no blank line: still one event)
        START + b"\nid: 7" + REST,  # a field after the data line
        b'event: message_start\ndata: {"type":"message_start","message":[]}' + REST,  # message not an object
        b'event: message_start\ndata: {"type":"message_start"}' + REST,  # no message
        b"event: message_start\ndata: [1]" + REST,
        b"event: message_start\ndata: {not json" + REST,
        b"event: message_start_x\ndata: {}" + REST,  # another event name with the same prefix
        b'event: content_block_start\ndata: {"type":"content_block_start"}' + REST,
        START,  # not ended yet
    ],
)
def test_rewrite_matches_the_decoder(first: bytes) -> None:
    assert rewrite_start_model(first, "client-model") == reference(first, "client-model")


def test_the_usual_frame_gets_the_clients_model_and_keeps_what_follows() -> None:
    out = rewrite_start_model(START + REST, "client-model")
    end = out.index(b"\n\n") + 2
    assert orjson.loads(out[len(b"event: message_start\ndata: ") : end - 2])["message"]["model"] == "client-model"
    assert out[end:] == REST[2:]


@pytest.mark.parametrize(
    "first",
    [
        START + REST,
        START.replace(b'{"type"', b'{ "type"') + REST,  # spacing orjson would not write
        START.replace(b"\n", b"\r\n") + REST.replace(b"\n", b"\r\n"),  # the decoder's path
    ],
)
def test_the_clients_own_model_leaves_the_upstreams_bytes_alone(first: bytes) -> None:
    assert rewrite_start_model(first, "up-model") is first
    # The same frame with another model is still rewritten, to what the decoder reads.
    assert rewrite_start_model(first, "client-model") == reference(first, "client-model")


def test_a_model_key_elsewhere_is_not_taken_for_the_messages() -> None:
    first = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"up-model",'
        b'"metadata":{"model":"client-model"},"usage":{}}}\n\n'
    )
    out = rewrite_start_model(first, "client-model")
    assert orjson.loads(out[len(b"event: message_start\ndata: ") : -2])["message"]["model"] == "client-model"
