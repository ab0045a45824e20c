"""Validation of Anthropic responses: the streamed event grammar and the JSON message, text included."""

from __future__ import annotations

from typing import Any

import orjson

_DELTAS = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


class Invalid(Exception):
    """The response is not what a correct router returns for the mock's answer."""


def parse_sse(raw: bytes) -> list[tuple[str | None, bytes]]:
    """(event name, data) pairs; comment lines skipped, multi-line data joined with newlines."""
    out: list[tuple[str | None, bytes]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        event: str | None = None
        data: list[bytes] = []
        for line in block.split(b"\n"):
            name, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if name == b"event":
                event = value.decode()
            elif name == b"data":
                data.append(value)
        if event is not None or data:
            out.append((event, b"\n".join(data)))
    return out


class _Grammar:
    """message_start, then content blocks opened, delta'd and closed in index order, message_delta,
    message_stop last; pings anywhere; an error event or anything after message_stop is invalid."""

    def __init__(self) -> None:
        self.state = "start"
        self.open: str | None = None
        self.index = 0
        self.text: list[str] = []
        self.deltas = 0

    def feed(self, ev: dict[str, Any]) -> None:
        t = ev.get("type")
        if t == "ping":
            return
        if t == "error" or self.state == "stopped":
            raise Invalid(f"{t} event {'after message_stop' if self.state == 'stopped' else ''}".strip())
        if self.state == "start":
            msg = ev.get("message") or {}
            if t != "message_start" or msg.get("role") != "assistant" or "usage" not in msg:
                raise Invalid("stream does not begin with a valid message_start")
            self.state = "message"
        elif t == "content_block_start":
            if self.open is not None or ev.get("index") != self.index or self.state != "message":
                raise Invalid("content_block_start out of order")
            self.open = (ev.get("content_block") or {}).get("type") or "?"
        elif t == "content_block_delta":
            delta = ev.get("delta") or {}
            if self.open is None or ev.get("index") != self.index:
                raise Invalid("content_block_delta outside its block")
            if delta.get("type") not in _DELTAS.get(self.open, {delta.get("type")}):
                raise Invalid(f"{delta.get('type')} in a {self.open} block")
            if delta.get("type") == "text_delta":
                self.text.append(delta.get("text", ""))
                self.deltas += 1
        elif t == "content_block_stop":
            if self.open is None or ev.get("index") != self.index:
                raise Invalid("content_block_stop for a block that is not open")
            self.open = None
            self.index += 1
        elif t == "message_delta":
            usage = ev.get("usage") or {}
            if self.open is not None or not (ev.get("delta") or {}).get("stop_reason"):
                raise Invalid("message_delta while a block is open or without stop_reason")
            if not isinstance(usage.get("output_tokens"), int):
                raise Invalid("message_delta without usage.output_tokens")
            self.state = "delta"
        elif t == "message_stop":
            if self.state != "delta":
                raise Invalid("message_stop without message_delta")
            self.state = "stopped"
        else:
            raise Invalid(f"unexpected event type {t!r}")


def check_stream(raw: bytes, expect_text: str) -> int:
    """Validate a whole SSE body; return the number of text deltas. ``expect_text`` must match exactly."""
    g = _Grammar()
    for name, data in parse_sse(raw):
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise Invalid("data is not JSON") from exc
        if not isinstance(ev, dict) or name != ev.get("type"):
            raise Invalid(f"event name {name!r} does not match data.type")
        g.feed(ev)
    if g.state != "stopped":
        raise Invalid("stream ended before message_stop")
    if g.index == 0:
        raise Invalid("no content block")
    if "".join(g.text) != expect_text:
        raise Invalid("streamed text differs from the upstream's")
    return g.deltas


def check_message(raw: bytes, expect_text: str) -> None:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid("body is not JSON") from exc
    if not isinstance(msg, dict) or msg.get("type") != "message" or msg.get("role") != "assistant":
        raise Invalid("not a message")
    usage = msg.get("usage") or {}
    if not msg.get("stop_reason") or not isinstance(usage.get("output_tokens"), int):
        raise Invalid("message without stop_reason or usage")
    text = "".join(b.get("text", "") for b in msg.get("content") or () if b.get("type") == "text")
    if text != expect_text:
        raise Invalid("message text differs from the upstream's")
