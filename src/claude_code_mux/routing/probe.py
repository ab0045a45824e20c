"""A request body read just enough to route it: the small top-level fields decoded, the rest left as bytes.

Claude Code sends 40–120 KB bodies many times a minute. Parsing all of one into Python objects, and freeing
them again, was the largest single cost of a passthrough request (about a quarter of the router's CPU under
load). A :class:`Probe` decodes only ``model``, ``stream``, ``max_tokens``, ``thinking``, ``output_config``,
``metadata`` and, per message, the role and each content block's ``type`` / ``signature`` / ``data`` (what the
thinking hygiene looks at) with msgspec, which steps over every other value without building it.

Questions about the rest are answered from the raw bytes when absence can be proved there (``may_contain``:
a subagent tag, an image, a web-search tool cannot be in the body if their literal spelling is not in its bytes;
JSON encoders escape only control characters and quotes, never these letters) and otherwise by parsing the whole
body once (:meth:`Probe.full`). A probe made from an already parsed dict (:meth:`Probe.of`) answers everything
from the dict, so ``decide()`` behaves identically either way. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec
import orjson

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.routing.estimate import CHARS_PER_TOKEN, MESSAGE_OVERHEAD, TOOL_PROMPT_TOKENS
from claude_code_mux.routing.hygiene import foreign_thinking_fields


class _Block(msgspec.Struct, gc=False):
    type: Any = None
    signature: Any = None
    data: Any = None


class _Message(msgspec.Struct, gc=False):
    role: Any = None
    content: str | list[_Block] | None = None


class _Head(msgspec.Struct, gc=False):
    model: Any = None
    stream: Any = None
    max_tokens: Any = None
    thinking: Any = None
    output_config: Any = None
    metadata: Any = None
    messages: list[_Message] | None = None


_HEAD_FIELDS = frozenset(f for f in _Head.__struct_fields__ if f != "messages")
_DECODER = msgspec.json.Decoder(_Head)
# Content that adds tokens beyond its characters (images, PDFs): a size bound cannot cover it.
_FIXED_COST = (b'"image"', b'"document"')
_EXPONENT = re.compile(rb"\d[eE][+-]?\d")


def loads_object(raw: bytes) -> dict[str, Any]:
    """A request body parsed whole; a 400 when it is not JSON or not an object."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body must be a JSON object, not {type(body).__name__}")
    return body


class Probe:
    """One request body: decoded top-level fields, the raw bytes, and the whole parse on demand."""

    __slots__ = ("_full", "_head", "raw")

    def __init__(self, raw: bytes | None, head: _Head | None, full: dict[str, Any] | None) -> None:
        self.raw = raw
        self._head = head
        self._full = full

    @classmethod
    def parse(cls, raw: bytes) -> Probe:
        """Read ``raw``; a body the light decoder cannot type is parsed whole (and errors are exact there)."""
        try:
            head = _DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            pass
        else:
            return cls(raw, head, None)
        return cls(raw, None, loads_object(raw))

    @classmethod
    def of(cls, body: dict[str, Any], raw: bytes | None = None) -> Probe:
        """A probe over a body that is already parsed."""
        return cls(raw, None, body)

    @property
    def parsed(self) -> bool:
        """Whether the whole body has been parsed (by need, or because it came that way)."""
        return self._full is not None

    def full(self) -> dict[str, Any]:
        """The whole body as Python objects, parsed once."""
        if self._full is None:
            assert self.raw is not None
            try:
                body = orjson.loads(self.raw)
            except orjson.JSONDecodeError as exc:  # e.g. invalid UTF-8 inside a value the light decode skipped
                raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
            self._full = body
        return self._full

    def get(self, key: str) -> Any:
        """A top-level field; the small ones come from the light decode, others from the full parse."""
        if self._full is None and self._head is not None and key in _HEAD_FIELDS:
            return getattr(self._head, key)
        return self.full().get(key)

    def messages_problem(self) -> str | None:
        """What is wrong with ``messages`` (the 400's text), or None when it is a list of objects."""
        missing = "messages: field required"
        if self._head is not None:
            return missing if self._head.messages is None else None
        messages = self.full().get("messages")
        if messages is None:
            return missing
        if not isinstance(messages, list):
            return f"messages: must be an array, not {type(messages).__name__}"
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                return f"messages.{i}: must be an object with role and content"
        return None

    def may_contain(self, needle: bytes) -> bool:
        """False only when ``needle`` provably does not occur in the body (its bytes do not hold it)."""
        if self._full is not None or self.raw is None:
            return True
        return needle in self.raw

    def token_bound(self) -> int | None:
        """An upper bound of :func:`estimate_tokens` from the body's size, or None when none is cheap.

        Every character the estimate counts is at least one byte of the JSON, and its fixed costs are a few
        tokens per message plus the tool prompt; images and documents add more, so their presence means None.
        """
        if self._head is None or self.raw is None or any(n in self.raw for n in _FIXED_COST):
            return None
        if _EXPONENT.search(self.raw):  # 1e9 is re-serialised as 1000000000.0 in tool schemas: no longer a bound
            return None
        n_messages = len(self._head.messages or ())
        return n_messages * MESSAGE_OVERHEAD + TOOL_PROMPT_TOKENS + math.ceil(len(self.raw) / CHARS_PER_TOKEN)

    def may_have_foreign_thinking(self) -> bool:
        """False when no assistant turn holds a thinking block the hygiene would drop (decided without a parse)."""
        if self._head is None:
            return True
        for m in self._head.messages or ():
            if m.role != "assistant" or not isinstance(m.content, list):
                continue
            for b in m.content:
                if foreign_thinking_fields(b.type, b.signature, b.data):
                    return True
        return False
