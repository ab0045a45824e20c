"""A checker for the Anthropic Messages streaming grammar, used on every translated stream.

    stream  := message_start (ping | block)* message_delta message_stop   |  ... error
    block   := content_block_start(i) content_block_delta(i)* content_block_stop(i)

Indices count up from 0 with one block open at a time; delta types match the block type; the
``event:`` name equals ``data.type``; an ``error`` event ends the stream; tool input JSON parses.
"""

from __future__ import annotations

from typing import Any

import orjson

from claude_code_mux.wire.sse import SSEDecoder

STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
DELTA_FOR = {
    "text": {"text_delta", "citations_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}


def parse_events(sse: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs; asserts the ``event: X\\ndata: JSON\\n\\n`` framing."""
    text = sse.decode("utf-8")
    assert text == "" or text.endswith("\n\n"), f"stream does not end with a blank line: {text[-80:]!r}"
    for frame in text.split("\n\n")[:-1]:
        lines = frame.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
    dec = SSEDecoder()
    return [(ev.event, orjson.loads(ev.data)) for ev in dec.feed(sse) + dec.close()]


def check_stream(events: list[tuple[str, dict[str, Any]]], *, complete: bool = True, tool_json: bool = True) -> None:
    """Raise AssertionError (with the position) when ``events`` break the grammar.

    ``tool_json=False`` skips the check that tool input is a JSON object (when the upstream itself
    sent broken arguments, the stream carries them as they were).
    """
    state = "start"
    open_index: int | None = None
    open_type = ""
    next_index = 0
    partial = ""
    for pos, (name, data) in enumerate(events):
        where = f"event {pos} ({name}): {data}"
        assert state != "done", f"event after the end of the stream: {where}"
        assert data.get("type") == name, f"event name and data.type differ: {where}"
        if name == "error":
            assert isinstance(data.get("error"), dict) and data["error"].get("type") and "message" in data["error"], (
                where
            )
            state = "done"
            continue
        if name == "ping":
            assert state != "start", f"ping before message_start: {where}"
            continue
        if state == "start":
            assert name == "message_start", f"first event must be message_start: {where}"
            msg = data["message"]
            assert msg["type"] == "message" and msg["role"] == "assistant" and msg["content"] == [], where
            assert isinstance(msg["id"], str) and msg["id"] and isinstance(msg["model"], str), where
            assert msg["stop_reason"] is None and isinstance(msg["usage"]["input_tokens"], int), where
            assert isinstance(msg["usage"]["output_tokens"], int), where
            state = "blocks"
        elif name == "content_block_start":
            assert state == "blocks" and open_index is None, f"block started while another is open: {where}"
            assert data["index"] == next_index, f"expected index {next_index}: {where}"
            block = data["content_block"]
            open_type = block["type"]
            assert open_type in DELTA_FOR, where
            if open_type == "tool_use":
                assert block["id"] and isinstance(block["name"], str) and block["name"] and block["input"] == {}, where
            elif open_type == "text":
                assert block["text"] == "", where
            open_index, partial = next_index, ""
        elif name == "content_block_delta":
            assert open_index is not None and data["index"] == open_index, f"delta outside its block: {where}"
            delta = data["delta"]
            assert delta["type"] in DELTA_FOR[open_type], f"{delta['type']} in a {open_type} block: {where}"
            if delta["type"] == "input_json_delta":
                assert isinstance(delta["partial_json"], str), where
                partial += delta["partial_json"]
            elif delta["type"] == "text_delta":
                assert isinstance(delta["text"], str) and delta["text"], where
            elif delta["type"] == "thinking_delta":
                assert isinstance(delta["thinking"], str) and delta["thinking"], where
        elif name == "content_block_stop":
            assert open_index is not None and data["index"] == open_index, f"stop of a block that is not open: {where}"
            if open_type == "tool_use" and partial.strip() and tool_json:
                assert isinstance(orjson.loads(partial), dict), f"tool input is not a JSON object: {partial!r}"
            open_index = None
            next_index += 1
        elif name == "message_delta":
            assert state == "blocks" and open_index is None, f"message_delta with a block open: {where}"
            assert data["delta"]["stop_reason"] in STOP_REASONS, where
            assert isinstance(data["usage"]["output_tokens"], int), where
            state = "delta"
        elif name == "message_stop":
            assert state == "delta", f"message_stop before message_delta: {where}"
            state = "done"
        else:
            raise AssertionError(f"unknown event: {where}")
    if complete:
        assert state == "done", f"stream ended in state {state!r}"


def check_sse(sse: bytes, *, complete: bool = True, tool_json: bool = True) -> list[tuple[str, dict[str, Any]]]:
    events = parse_events(sse)
    check_stream(events, complete=complete, tool_json=tool_json)
    return events
