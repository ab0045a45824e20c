"""A passthrough stream guard: relay complete SSE events verbatim, stop at the first corrupt one.

The Anthropic passthrough forwards the upstream's bytes unchanged, but an upstream can still break its own
stream (a ``data:`` line that is not JSON, a body that ends mid-event or without ``message_stop``). The guard
releases only whole events whose data parses, so the client gets a clean prefix and then one ``event: error``
instead of a corrupt frame. It also notes usage from ``message_start`` / ``message_delta`` on the way.
"""

from __future__ import annotations

import re

import orjson

from claude_code_mux.wire.usage import merge_usage

# A run of plain events (deltas, pings): event line, one data line holding one JSON object. Such a run is
# released as it is, in one C-level match; anything else (message_*/error events, comments, multi-line data,
# odd spacing) goes through the per-event check below, which decides exactly the same for these frames.
_PLAIN_RUN = re.compile(rb"(?:event: (?!message_|error)[^\n]*\ndata: \{[^\n]*\}\n\n)+")
# The commonest event. A read made only of delta events is checked without a regex: it starts with _DELTA, ends
# with "}\n\n", and every other newline in it belongs to a _JOIN (where one delta ends and the next begins), so
# each event is `event: content_block_delta`, one `data: {...}` line, a blank line (what _PLAIN_RUN accepts).
_DELTA = b"event: content_block_delta\ndata: {"
_JOIN = b"}\n\n" + _DELTA
_STOP = b'event: message_stop\ndata: {"type":"message_stop"}'
# The largest event the guard holds back while it is incomplete (a web-fetch or web-search result arrives as one
# content_block_start; a few MB at most). Past it the stream fails with an error event instead of growing the
# router's memory without bound.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class StreamGuard:
    __slots__ = ("_buf", "_held", "_parts", "error", "finished", "usage")

    def __init__(self) -> None:
        self._buf = b""
        # Reads that cannot end the incomplete event in _buf, kept apart and joined once it can end: re-joining
        # the whole held event on every read would copy a large event quadratically.
        self._parts: list[bytes] = []
        self._held = 0
        self.error: str | None = None
        self.finished = False  # saw message_stop or an error event
        self.usage: dict[str, int] = {}

    def feed(self, chunk: bytes) -> bytes:
        """The bytes that may go to the client now (whole, valid events only)."""
        if self.error is not None:
            return b""
        if self._buf:
            # Only a blank line ends an event: a read with no "\n\n", no CR and no leading LF cannot end this one.
            if chunk.find(b"\n\n") == -1 and chunk.find(b"\r") == -1 and chunk[:1] != b"\n":
                self._parts.append(chunk)
                self._held += len(chunk)
                if self._held + len(self._buf) > MAX_EVENT_BYTES:
                    self.error = f"upstream sent an event over {MAX_EVENT_BYTES // (1024 * 1024)} MB"
                    self._buf, self._parts = b"", []
                return b""
            if self._parts:
                self._parts.append(chunk)
                chunk = b"".join(self._parts)
                self._parts, self._held = [], 0
        buf = self._buf + chunk if self._buf else chunk
        if buf.find(b"\r") != -1:  # (not `b"\r" in buf`: bytes' `in` first tries the needle as an int)
            buf = buf.replace(b"\r\n", b"\n")
        end = buf.rfind(b"\n\n") + 2
        if end == 1:
            self._buf = buf
            if len(buf) > MAX_EVENT_BYTES:
                self.error = f"upstream sent an event over {MAX_EVENT_BYTES // (1024 * 1024)} MB"
                self._buf = b""
            return b""
        if end == len(buf):
            region = buf
            self._buf = b""
        else:
            region, self._buf = buf[:end], buf[end:]
        if region.startswith(_DELTA) and region.endswith(b"}\n\n"):
            lines = region.count(b"\n")  # why counting is exact: see _deltas
            if lines == 3 or lines == 3 * region.count(_JOIN) + 3:  # one delta, or a run of them
                return region
        pos = 0
        n = len(region)
        tried = False  # the run-of-deltas count is tried once per read: it scans to the region's last delta
        # Runs of plain events are skipped in one C-level match each, and only the frames between them are checked
        # one by one: a read that coalesced message_start or message_stop with hundreds of deltas (a long answer
        # read in 64 KB pieces) no longer sends every delta in it through the per-event check.
        match = _PLAIN_RUN.match
        while pos < n:
            if region[pos] == 10:  # a blank line between events dispatches nothing (and ends no frame)
                pos += 1
                continue
            if not tried and region.startswith(_DELTA, pos):
                tried = True
                stop = self._deltas(region, pos)
                if stop != pos:
                    pos = stop
                    continue
            run = match(region, pos)
            if run is not None:
                pos = run.end()
                continue
            nxt = region.find(b"\n\n", pos)  # found: the region ends with one, after pos
            frame_end = nxt + 2
            if not self._check(region, pos, nxt):
                return region[:pos]
            pos = frame_end
        return region

    @staticmethod
    def _deltas(region: bytes, pos: int) -> int:
        """The end of the run of delta events from ``pos`` to the region's last delta, or ``pos`` if it is not one.

        Why the count is exact: the only "}" in _JOIN is its first byte and _DELTA has none, so occurrences of
        _JOIN overlap neither each other nor the leading _DELTA nor the closing "}\n\n". Those pieces hold three
        newlines per _JOIN plus three; a newline anywhere else (multi-line data, another kind of event, a stray
        blank line) makes the count differ.
        """
        last = region.rfind(_JOIN, pos)
        stop = region.find(b"\n\n", pos + len(_DELTA) if last == -1 else last + len(_JOIN)) + 2
        joins = 0 if last == -1 else region.count(_JOIN, pos, stop)
        if stop > 1 and region.endswith(b"}\n\n", pos, stop) and region.count(b"\n", pos, stop) == 3 * joins + 3:
            return stop
        return pos

    def _check(self, region: bytes, start: int, stop: int) -> bool:
        frame = region[start:stop]
        if not frame or frame.startswith(b":"):
            return True
        d = frame.find(b"data:")
        if d == -1:
            return True  # an event line alone carries no payload to corrupt
        payload = frame[d + 5 :]
        if b"\ndata:" in payload:
            payload = b"\n".join(
                line.partition(b":")[2] for line in frame[d:].split(b"\n") if line.startswith(b"data:")
            )
        if not frame.startswith((b"event: message_", b"event: error")):
            # Deltas are most of the stream: a structural check (one whole JSON object on one line) catches a
            # corrupt or cut frame without parsing each one; the few message_* events are parsed fully.
            body = payload.strip()
            if body[:1] != b"{" or body[-1:] != b"}" or b"\n" in body:
                self.error = "upstream sent an event whose data is not a JSON object"
                return False
            return True
        if frame == _STOP:  # the stream's last event, as Anthropic writes it: nothing in it to parse
            self.finished = True
            return True
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.error = "upstream sent an event whose data is not JSON"
            return False
        if frame.startswith(b"event: message_"):
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "message_start":
                self._usage((data.get("message") or {}).get("usage"))
            elif kind == "message_delta":
                self._usage(data.get("usage"))
            elif kind == "message_stop":
                self.finished = True
        elif frame.startswith(b"event: error"):
            self.finished = True
        return True

    @property
    def complete(self) -> bool:
        """The stream has ended properly (message_stop or an error event) and everything fed was released."""
        return self.finished and self.error is None and not self._buf and not self._parts

    def _usage(self, usage: object) -> None:
        merge_usage(self.usage, usage)

    def close(self) -> str | None:
        """At end of body: why the stream is incomplete, or None when it ended properly."""
        if self.error is not None:
            return self.error
        if self._buf.strip() or self._parts:
            return "upstream stream ended in the middle of an event"
        if not self.finished:
            return "upstream stream ended without message_stop"
        return None
