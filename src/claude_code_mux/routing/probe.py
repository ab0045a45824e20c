"""A request body read just enough to route it: the small top-level fields decoded, the rest left as bytes.

Claude Code sends 40 KB–1 MB bodies many times a minute. Parsing all of one into Python objects, and freeing
them again, was the largest single cost of a passthrough request (about a quarter of the router's CPU under
load). A :class:`Probe` decodes only ``model``, ``stream``, ``max_tokens``, ``thinking``, ``output_config``,
``metadata`` and, per message, the role and each content block's ``type`` / ``signature`` / ``data`` (what the
thinking hygiene looks at) with msgspec, which steps over every other value without building it. ``system``'s
and the blocks' ``text``, ``tools``, ``tool_use`` inputs and tool-result contents are kept as msgspec ``Raw``
slices of the body (no copy, no parse).

Questions about the rest are answered from those slices when absence can be proved there (a subagent tag cannot
be in ``system`` or the first user message, an image in the messages, a web-search tool in ``tools``, if their
literal spelling is not in that field's bytes: JSON encoders escape only control characters and quotes, never
these letters), so the cost is that of the fields read, never a scan of the tool results stepped over; otherwise
by parsing the whole body once (:meth:`Probe.full`). A probe made from an already parsed dict (:meth:`Probe.of`)
answers everything from the dict, so ``decide()`` behaves identically either way. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.routing.estimate import CHARS_PER_TOKEN, MESSAGE_OVERHEAD, TOOL_PROMPT_TOKENS, tools_len
from claude_code_mux.routing.hygiene import foreign_thinking_fields

_NONE = msgspec.Raw()  # an absent field kept raw (len 0)


class _Block(msgspec.Struct, gc=False):
    type: Any = None
    signature: Any = None
    data: Any = None
    text: msgspec.Raw = _NONE  # kept as bytes: only a tag search looks into it, and only in two places
    input: msgspec.Raw = _NONE  # tool_use input: re-serialised by the estimate, so measured exactly
    content: msgspec.Raw = _NONE  # tool_result content: a string (most of a long body) or nested blocks


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
    system: str | list[_Block] | None = None
    tools: msgspec.Raw = _NONE
    messages: list[_Message] | None = None


_HEAD_FIELDS = frozenset(("model", "stream", "max_tokens", "thinking", "output_config", "metadata"))
_DECODER = msgspec.json.Decoder(_Head)
# Block types whose estimate is their characters (at most their bytes) or exactly measured here; any other
# type is counted as its compact JSON (which can be longer than its bytes) or has a fixed cost (images).
_CHAR_BLOCKS = frozenset(("text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "tool_result"))
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

    def may_have_tag(self, needle: bytes) -> bool:
        """False only when ``needle`` is provably in neither ``system`` nor the first user message's text
        (the only places a subagent tag is looked for); reads those two fields, never the rest."""
        head = self._head
        if head is None:
            return True
        first = next((m.content for m in head.messages or () if m.role == "user"), None)
        texts: list[msgspec.Raw] = []
        for content in (head.system, first):
            if isinstance(content, str):
                if needle.decode() in content:
                    return True
            elif content:
                texts += [b.text for b in content]
        # One search over the texts joined by a newline: a raw newline is never inside a JSON string's bytes,
        # so no match can span two blocks.
        return bool(texts) and needle in b"\n".join(texts)

    def may_have_web_search(self) -> bool:
        """False only when no tool's bytes spell ``web_search`` (reads ``tools`` alone)."""
        if self._head is None:
            return True
        facts = _tools_facts(self._head.tools)
        if facts.web_search is None:
            facts.web_search = b"web_search" in facts.raw
        return facts.web_search

    def may_have_image(self) -> bool:
        """False only when no message holds an image block, nor a tool result nesting one."""
        if self._head is None:
            return True
        for m in self._head.messages or ():
            content = m.content
            if isinstance(content, list):
                for b in content:
                    kind = b.type
                    if kind == "image" or (kind == "tool_result" and _nested_has(b.content, b'"image"')):
                        return True
        return False

    def token_bound(self, at_most: int | None = None) -> int | None:
        """An upper bound of :func:`estimate_tokens` from the body's size, or None when none is cheap (or,
        with ``at_most``, when it would be above that: the estimate is needed then anyway).

        Every character the estimate counts is at least one byte of the JSON, its fixed costs are a few tokens
        per message plus the tool prompt, and what it re-serialises (tool schemas, tool_use inputs) is measured
        exactly here; images, documents and unknown block types mean None. Cost: the fields it measures,
        never a scan of the tool results it steps over.
        """
        head = self._head
        if head is None or self.raw is None:
            return None
        messages = head.messages or ()
        fixed = len(messages) * MESSAGE_OVERHEAD + (TOOL_PROMPT_TOKENS if len(head.tools) else 0)
        if at_most is not None and fixed + math.ceil(len(self.raw) / CHARS_PER_TOKEN) > at_most:
            return None  # re-measured parts only ever add to this: the bound cannot come out lower
        size = len(self.raw)
        if len(head.tools):
            size += _tools_growth(head.tools)
        oc = head.output_config
        if isinstance(oc, dict) and isinstance(oc.get("format"), dict):
            size += len(orjson.dumps(oc["format"]))
        blocks = [b for b in head.system] if isinstance(head.system, list) else []
        for m in messages:
            if isinstance(m.content, list):
                blocks += m.content
        inputs: list[msgspec.Raw] = []
        for b in blocks:
            kind = b.type
            if kind not in _CHAR_BLOCKS:
                return None
            if len(b.input):
                inputs.append(b.input)
            if kind == "tool_result" and len(b.content) and not _starts(b.content, _QUOTE):
                nested = bytes(b.content)
                if any(n in nested for n in _FIXED_COST) or _EXPONENT.search(nested):
                    return None
        if inputs:
            size += _inputs_growth(inputs)
        bound = fixed + math.ceil(size / CHARS_PER_TOKEN)
        return None if at_most is not None and bound > at_most else bound

    def may_have_foreign_thinking(self) -> bool:
        """False when no assistant turn holds a thinking block the hygiene would drop (decided without a parse)."""
        if self._head is None:
            return True
        for m in self._head.messages or ():
            content = m.content
            if m.role != "assistant" or not isinstance(content, list):
                continue
            for b in content:
                kind = b.type
                if (kind == "thinking" or kind == "redacted_thinking") and foreign_thinking_fields(
                    kind, b.signature, b.data
                ):
                    return True
        return False


_QUOTE = ord('"')
_BRACKET = ord("[")


def _starts(raw: msgspec.Raw, byte: int) -> bool:
    """Whether a non-empty raw value starts with ``byte`` (msgspec hands values over without leading spaces)."""
    return memoryview(raw)[0] == byte


def _nested_has(raw: msgspec.Raw, needle: bytes) -> bool:
    """A tool result's nested block list may hold ``needle``; a plain string result never holds blocks."""
    return len(raw) > 0 and _starts(raw, _BRACKET) and needle in bytes(raw)


def _tools_chars(value: Any) -> int:
    return tools_len(value) if isinstance(value, list) else len(orjson.dumps(value))


def _exact_growth(raw: msgspec.Raw | bytes, measure: Callable[[Any], int]) -> int:
    """How much longer the estimate counts a re-serialised field than its bytes (never less than 0)."""
    try:
        counted = measure(orjson.loads(bytes(raw)))
    except (orjson.JSONDecodeError, TypeError):
        counted = 10 * len(raw)  # odd values: a generous bound; the full parse decides the rest
    return max(0, counted - len(raw))


# What the probe learns from ``tools`` (the bound's growth, whether ``web_search`` is spelled), by their bytes:
# a client sends the same tools with every request of a session, and their re-measure (a parse of the schemas)
# was most of a bound's cost. The last few lists are kept, compared byte for byte (a hash of the bytes would
# cost as much as the comparison); at most 256 KB each.
_TOOLS_CACHED_MAX = 256 * 1024
_TOOLS_CACHED = 8


class _ToolsFacts:
    __slots__ = ("growth", "raw", "web_search")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.growth: int | None = None
        self.web_search: bool | None = None


_tools_seen: list[_ToolsFacts] = []


def _tools_facts(raw: msgspec.Raw) -> _ToolsFacts:
    """The facts kept for these tools bytes (new, uncached ones when they are too long to keep)."""
    key = bytes(raw)
    if len(key) > _TOOLS_CACHED_MAX:
        return _ToolsFacts(key)
    for i, facts in enumerate(_tools_seen):
        if facts.raw == key:
            if i:
                _tools_seen.insert(0, _tools_seen.pop(i))
            return facts
    facts = _ToolsFacts(key)
    _tools_seen.insert(0, facts)
    del _tools_seen[_TOOLS_CACHED:]
    return facts


def _tools_growth(raw: msgspec.Raw) -> int:
    facts = _tools_facts(raw)
    if facts.growth is None:
        facts.growth = _exact_growth(facts.raw, _tools_chars)
    return facts.growth


def _inputs_growth(inputs: list[msgspec.Raw]) -> int:
    """How much longer the estimate counts the ``tool_use`` inputs (compact JSON each) than their bytes.

    Measured together, as one array: its compact JSON is the inputs' compact JSON joined by commas inside
    brackets. The sum can be below 0 (an input that shrinks makes room for one that grows: only the total
    counts); a value orjson cannot take gets the generous bound, as alone.
    """
    joined = b"[" + b",".join(inputs) + b"]"
    try:
        counted = len(orjson.dumps(orjson.loads(joined))) - len(inputs) - 1
    except (orjson.JSONDecodeError, TypeError):
        return sum(_exact_growth(i, _json_chars) for i in inputs)
    return max(0, counted - (len(joined) - len(inputs) - 1))


def _json_chars(value: Any) -> int:
    return len(orjson.dumps(value))
