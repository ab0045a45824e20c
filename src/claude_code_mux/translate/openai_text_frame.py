"""The common OpenAI stream frame, a lone text delta, read straight from its bytes (no parse).

Most frames of a long answer are one object that differs only in its text::

    {"id":"chatcmpl-…","object":"chat.completion.chunk","created":…,"model":"…",…,
     "choices":[{"index":0,"delta":{"content":"…"},"logprobs":null,"finish_reason":null}]…}

:class:`TextFrames` translates runs of such frames without building the object. The part before
``"choices"`` is the same in every frame of a stream (the upstream's id, creation time, model): it is checked
once, by parsing it with an empty ``choices`` (it must hold none of the keys the translator reads, and no CR, which
would end the SSE line), and remembered; later frames only compare those bytes. The rest is matched whole by one
pattern that admits nothing else (one choice at index 0, a delta holding only ``content`` and perhaps
``role: assistant``, ``null`` finish reason and logprobs, no usage but ``null``, an optional ``obfuscation``
string); once a frame matched, a frame with the same beginning, a text of plain bytes and the same
ending is known to match too, so only its text is looked at. A frame taken here is
valid JSON whose parse the translator would read as exactly "append this text" (written as ``orjson.dumps``
would, escapes re-read by orjson); anything else (other keys, bad escapes, invalid UTF-8, a prefix that keeps
changing) goes to the full parse, with the same outcome as before. The translator calls it only while a text
block is open and nothing waits (:meth:`OpenAIStreamTranslator.feed`).
"""

from __future__ import annotations

import re

import orjson

# Keys the translator reads besides ``choices``; a prefix holding any of them is not a plain text frame.
_READ = ("error", "x_groq")
_CHOICES = b'"choices":['
_STR = rb'[^"\\\x00-\x1f]*(?:\\[^\x00-\x1f][^"\\\x00-\x1f]*)*'
# The rest of a plain text frame after its prefix, to the blank line that ends it.
_REST = re.compile(
    rb'"choices":\[\{"index":0,"delta":\{(?:"role":"assistant",)?"content":"(' + _STR + rb')"\}'
    rb'(?:,"(?:logprobs|finish_reason|native_finish_reason)":null)*\}\]'
    rb'(?:,"usage":null|,"obfuscation":"[0-9A-Za-z_-]*")*\}\n\n'
)
_PLAIN = re.compile(rb'[^"\\\x00-\x1f]*')  # text that JSON-encodes to itself if it is also valid UTF-8
_MAX_LEARN = 8  # prefixes checked per stream before giving up on this shape (an upstream whose prefix varies)
_END = b'"}}\n\n'


class TextFrames:
    """One per stream: see the module docstring."""

    __slots__ = ("_frame_prefix", "_learned", "_opening", "_tail", "wrote_text")

    def __init__(self) -> None:
        self._frame_prefix = b""  # b"data: " + the checked prefix
        self._opening = b""  # the last frame _REST took, up to its text
        self._tail = b""  # and from its text's closing quote to its end
        self._learned = 0
        self.wrote_text = False  # some frame taken here had text

    def take(self, chunk: bytes, pos: int, head: bytes, out: list[bytes]) -> tuple[int, int]:
        """Translate the plain text frames at ``chunk[pos:]``: ``head`` + the text as JSON + the end, to ``out``.

        ``head`` is the Anthropic ``content_block_delta`` frame up to its text's opening quote, included. Returns
        the position after the frames taken and how many were taken (0: the frame at ``pos`` is not one).

        A frame that starts like the last one taken and ends with the same bytes after a text without quotes,
        backslashes or control characters is the same shape, so only that text is looked at; any other frame
        goes through :data:`_REST` whole.
        """
        fp = self._frame_prefix
        if not fp or not chunk.startswith(fp, pos):
            learned = self._learn(chunk, pos)
            if learned is None:
                return pos, 0
            fp = learned
        opening = self._opening
        tail = self._tail
        taken = 0
        wrote = False
        while True:
            if tail and chunk.startswith(opening, pos):
                s = pos + len(opening)
                q = _PLAIN.match(chunk, s).end()  # type: ignore[union-attr]  # a star pattern always matches
                if chunk.startswith(tail, q):
                    text = chunk[s:q]
                    if text.isascii():
                        if text:
                            out.append(head + text + _END)
                            wrote = True
                        pos = q + len(tail)
                        taken += 1
                        continue
            if not chunk.startswith(fp, pos):
                break
            m = _REST.match(chunk, pos + len(fp))
            if m is None:
                break
            text = m.group(1)
            if b"\\" in text or not text.isascii():
                js = _checked(text)
                if js is None:
                    break
                out.append(head[:-1] + js + _END[1:])
                wrote = True
            elif text:  # no quote, backslash or control character, ASCII: orjson would write these bytes
                out.append(head + text + _END)
                wrote = True
            opening = self._opening = chunk[pos : m.start(1)]
            tail = self._tail = chunk[m.end(1) : m.end()]
            pos = m.end()
            taken += 1
        if wrote:
            self.wrote_text = True
        return pos, taken

    def _learn(self, chunk: bytes, pos: int) -> bytes | None:
        """``b"data: "`` + the part before ``"choices"`` of the frame at ``pos``, if it shows a plain frame."""
        if self._learned >= _MAX_LEARN or not chunk.startswith(b"data: {", pos):
            return None
        end = chunk.find(b"\n", pos)
        i = chunk.find(_CHOICES, pos, len(chunk) if end == -1 else end)
        if i == -1:
            return None
        self._learned += 1
        prefix = chunk[pos + 6 : i]
        if b'"choices"' in prefix or b"\r" in prefix:  # a CR would end the SSE line there
            return None
        try:
            obj = orjson.loads(prefix + b'"choices":[]}')
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or obj.get("usage") is not None or any(k in obj for k in _READ):
            return None
        self._frame_prefix = chunk[pos:i]
        self._tail = b""
        return self._frame_prefix


def _checked(text: bytes) -> bytes | None:
    """Text with escapes or non-ASCII bytes as orjson writes it, or None when the full parse must judge it."""
    if b"\\" in text:  # let orjson read and re-write the escapes (it refuses lone surrogates, bad escapes)
        try:
            return orjson.dumps(orjson.loads(b'"' + text + b'"'))
        except orjson.JSONDecodeError:
            return None
    try:
        text.decode()
    except UnicodeDecodeError:
        return None
    return b'"' + text + b'"'
