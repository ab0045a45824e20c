"""What every upstream -> Anthropic stream translator shares: the output, its framing and its bookkeeping.

A dialect's translator (``openai_stream``, ``responses_stream``, ``gemini_stream``) subclasses
:class:`AnthropicStreamTranslator` and writes only what is its own: ``_on_event`` (one decoded upstream SSE
event), ``_ended`` (the body ended after some data but without the dialect's own end) and the ``usage``
property; it may override ``_start_usage`` (the usage ``message_start`` carries) and ``_closing`` (what goes
out before a block's ``content_block_stop``). The rules kept here are the same for every dialect:

- Output frames are buffered and returned joined, once per :meth:`feed` / :meth:`close`.
- ``message_start`` is sent with the first real output (:meth:`_start`), so an error before it costs the
  client nothing: :meth:`_fail` drops what was buffered, ``feed`` returns ``b""``, :attr:`error` is set and the
  caller may fail over. After it an error becomes an ``event: error`` and the stream ends there.
- One content block is open at a time, indices in order; a ``ping`` follows the first
  ``content_block_start``, as from the real API.
- A stream that closes without a single data event is an error (nothing was produced).
"""

from __future__ import annotations

import uuid
from typing import Any

from claude_code_mux.wire.sse import PING, SSEDecoder, SSEEvent, encode_event


class AnthropicStreamTranslator:
    """The shared state machine; see the module docstring. One instance per upstream response."""

    #: Close the open block before an ``event: error`` (the Responses translator does).
    _close_block_on_error = False

    def __init__(self, *, model: str, message_id: str | None) -> None:
        self._model = model
        self._message_id = message_id
        self._decoder = SSEDecoder()
        self._out: list[bytes] = []
        self._started = False
        self._finished = False
        self._error: tuple[str, str] | None = None
        self._data_events = 0
        self._next_index = 0
        self._open_kind: str | None = None  # "text" | "thinking" | "tool"
        self._pinged = False

    # ---- public ------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """``message_start`` was produced (from then on an upstream error is an ``event: error``)."""
        return self._started

    @property
    def finished(self) -> bool:
        """The Anthropic stream is complete (message_stop or error sent, or failed before output)."""
        return self._finished

    @property
    def error(self) -> tuple[str, str] | None:
        """(Anthropic error type, message) when the upstream failed inside the stream."""
        return self._error

    def feed(self, chunk: bytes) -> bytes:
        """Upstream bytes, in any chunking, in; Anthropic SSE bytes out."""
        if self._finished:
            return b""
        self._decode(chunk)
        return self._flush()

    def close(self) -> bytes:
        """End of the upstream body: finish the Anthropic stream if the upstream did not."""
        if not self._finished:
            for ev in self._decoder.close():
                self._on_event(ev)
                if self._finished:
                    break
        if not self._finished:
            if self._data_events == 0:
                self._fail("api_error", "upstream closed the stream without sending any data")
            else:
                self._ended()
        return self._flush()

    # ---- for the dialects --------------------------------------------------------------------

    def _on_event(self, ev: SSEEvent) -> None:
        raise NotImplementedError

    def _ended(self) -> None:
        """The body ended after some data but before the dialect's own end of stream."""
        raise NotImplementedError

    def _start_usage(self) -> dict[str, Any]:
        return {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}

    def _closing(self) -> None:
        """Called with a block still open, just before its ``content_block_stop``."""

    # ---- plumbing ----------------------------------------------------------------------------

    def _decode(self, chunk: bytes) -> None:
        for ev in self._decoder.feed(chunk):
            self._on_event(ev)
            if self._finished:
                break

    def _flush(self) -> bytes:
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        self._out.append(encode_event(event, data))

    def _fail(self, etype: str, message: str) -> None:
        self._error = (etype, message)
        self._finished = True
        if not self._started:
            self._out.clear()  # nothing was produced: let the caller fail over
            return
        if self._close_block_on_error:
            self._close_open()
        self._emit("error", {"type": "error", "error": {"type": etype, "message": message}})

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        if self._message_id is None:
            self._message_id = "msg_" + uuid.uuid4().hex[:24]
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._start_usage(),
        }
        self._emit("message_start", {"type": "message_start", "message": message})

    def _open_block(self, kind: str, block: dict[str, Any]) -> None:
        self._emit(
            "content_block_start", {"type": "content_block_start", "index": self._next_index, "content_block": block}
        )
        if not self._pinged:
            self._pinged = True
            self._out.append(PING)
        self._open_kind = kind

    def _delta(self, delta: dict[str, Any]) -> None:
        self._emit("content_block_delta", {"type": "content_block_delta", "index": self._next_index, "delta": delta})

    def _close_open(self) -> None:
        if self._open_kind is None:
            return
        self._closing()
        self._emit("content_block_stop", {"type": "content_block_stop", "index": self._next_index})
        self._next_index += 1
        self._open_kind = None

    def _end_message(self, stop_reason: str, usage: dict[str, Any]) -> None:
        """``message_delta`` with the stop reason and the final usage, then ``message_stop``: the end."""
        self._emit(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage},
        )
        self._emit("message_stop", {"type": "message_stop"})
        self._finished = True
