"""Reading and editing request bodies for the routing rules: subagent tags, images, the last user text.

Pure helpers used by :mod:`claude_code_mux.routing.rules`; nothing here mutates its input (edits are returned as
copies of the parts changed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TAG_OPEN = "<CCM-SUBAGENT-MODEL>"
TAG_RE = re.compile(r"<CCM-SUBAGENT-MODEL>(.*?)</CCM-SUBAGENT-MODEL>", re.DOTALL)
REMINDER_RE = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
_CAPTURE_RE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")
DELETE = object()


def expand_captures(template: str, m: re.Match[str]) -> str:
    """``$1``, ``${1}``, ``$name``, ``${name}`` → the group's text (empty when missing); ``$$`` → ``$``."""
    if "$" not in template:
        return template
    groups = m.groupdict()

    def sub(x: re.Match[str]) -> str:
        key = x.group(1) or x.group(2)
        if key is None:
            return "$"
        if key.isdigit():
            idx = int(key)
            return (m.group(idx) or "") if idx <= (m.re.groups) else ""
        return groups.get(key) or ""

    return _CAPTURE_RE.sub(sub, template)


# ------------------------------------------------------------------------------------ body scanning


def find_image(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for i, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            continue
        for b in content:
            if not isinstance(b, dict):
                continue
            kind = b.get("type")
            if kind == "image":
                return f"messages[{i}]"
            if kind == "tool_result":
                inner = b.get("content")
                if isinstance(inner, list) and any(isinstance(x, dict) and x.get("type") == "image" for x in inner):
                    return f"messages[{i}].tool_result"
    return None


@dataclass(frozen=True, slots=True)
class TagScan:
    name: str
    where: tuple[str, ...]
    system: Any  # the new ``system`` value (or DELETE), None when unchanged
    message: tuple[int, Any] | None  # (index, new content) of the first user message


def _untag_blocks(blocks: list[Any], where: str, names: list[str], wheres: list[str]) -> list[Any] | None:
    """Blocks with tags removed (emptied text blocks dropped), or None when no block had a tag."""
    for b in blocks:
        if isinstance(b, dict) and TAG_OPEN in str(b.get("text", "")):
            break
    else:
        return None  # the common case: no block holds a tag
    out: list[Any] = []
    changed = False
    for j, b in enumerate(blocks):
        text = b.get("text") if isinstance(b, dict) else None
        if isinstance(text, str) and TAG_OPEN in text and (m := TAG_RE.search(text)):
            names.append(m.group(1).strip())
            wheres.append(f"{where}[{j}]")
            changed = True
            new = TAG_RE.sub("", text)
            if new.strip():
                out.append({**b, "text": new})
        else:
            out.append(b)
    return out if changed else None


def scan_tags(body: dict[str, Any]) -> TagScan | None:
    names: list[str] = []
    wheres: list[str] = []
    new_system: Any = None
    system = body.get("system")
    if isinstance(system, str):
        if TAG_OPEN in system and (m := TAG_RE.search(system)):
            names.append(m.group(1).strip())
            wheres.append("system")
            new_system = TAG_RE.sub("", system)
    elif isinstance(system, list):
        blocks = _untag_blocks(system, "system", names, wheres)
        if blocks is not None:
            new_system = blocks if blocks else DELETE
    new_message: tuple[int, Any] | None = None
    messages = body.get("messages")
    if isinstance(messages, list):
        first = 0
        while first < len(messages) and not (
            isinstance(messages[first], dict) and messages[first].get("role") == "user"
        ):
            first += 1
        if first < len(messages):
            content = messages[first].get("content")
            if isinstance(content, str):
                if TAG_OPEN in content and (m := TAG_RE.search(content)):
                    names.append(m.group(1).strip())
                    wheres.append(f"messages[{first}]")
                    new = TAG_RE.sub("", content)
                    new_message = (first, new if new.strip() else ".")
            elif isinstance(content, list):
                blocks = _untag_blocks(content, f"messages[{first}].content", names, wheres)
                if blocks is not None:
                    new_message = (first, blocks or [{"type": "text", "text": "."}])
    if not names:
        return None
    return TagScan(names[0], tuple(wheres), new_system, new_message)


# A piece of visible text: (visible start, visible end, block index (None: string content), original start).
_Piece = tuple[int, int, int | None, int]


def _visible(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` outside ``<system-reminder>`` blocks, trimmed of outer whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    if "<system-reminder>" in text:
        for m in REMINDER_RE.finditer(text):
            if m.start() > pos:
                spans.append((pos, m.start()))
            pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    # Trim whitespace at the outer ends of the visible text.
    while spans:
        s, e = spans[0]
        while s < e and text[s].isspace():
            s += 1
        if s < e:
            spans[0] = (s, e)
            break
        spans.pop(0)
    while spans:
        s, e = spans[-1]
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans[-1] = (s, e)
            break
        spans.pop()
    return spans


def last_user_text(messages: Any) -> tuple[int, str, list[_Piece]] | None:
    """(message index, visible text, pieces) of the newest user message that has visible text."""
    if not isinstance(messages, list):
        return None
    for i in range(len(messages) - 1, -1, -1):
        msg = messages[i]
        if not isinstance(msg, dict) or msg.get("role") != "user":
            continue
        content = msg.get("content")
        texts: list[tuple[int | None, str]]
        if isinstance(content, str):
            texts = [(None, content)]
        elif isinstance(content, list):
            texts = [
                (j, b["text"])
                for j, b in enumerate(content)
                if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
            ]
        else:
            continue
        parts: list[str] = []
        pieces: list[_Piece] = []
        vis = 0
        for j, text in texts:
            spans = _visible(text)
            if not spans:
                continue
            if parts:
                parts.append("\n")
                vis += 1
            for s, e in spans:
                parts.append(text[s:e])
                pieces.append((vis, vis + e - s, j, s))
                vis += e - s
        if pieces:
            return i, "".join(parts), pieces
    return None


class Edits:
    """Copy-on-write view of the body: only the top level, ``messages`` and the edited parts are copied."""

    __slots__ = ("_msgs_copied", "notes", "out", "src")

    def __init__(self, src: dict[str, Any]) -> None:
        self.src = src
        self.out: dict[str, Any] | None = None
        self._msgs_copied = False
        self.notes: list[str] = []

    @property
    def body(self) -> dict[str, Any]:
        return self.out if self.out is not None else self.src

    def _top(self) -> dict[str, Any]:
        if self.out is None:
            self.out = dict(self.src)
        return self.out

    def set_system(self, value: Any) -> None:
        top = self._top()
        if value is DELETE:
            top.pop("system", None)
        else:
            top["system"] = value

    def set_content(self, index: int, content: Any) -> None:
        top = self._top()
        if not self._msgs_copied:
            top["messages"] = list(top["messages"])
            self._msgs_copied = True
        msgs = top["messages"]
        msg = dict(msgs[index])
        msg["content"] = content
        msgs[index] = msg


@dataclass(frozen=True, slots=True)
class Strip:
    """Delete visible range [start, end) of message ``index`` (``strip_match``)."""

    index: int
    pieces: list[_Piece]
    start: int
    end: int
    label: str

    def apply(self, edits: Edits) -> str:
        # Visible extent of each block, to know whether a cut touches the start or end of its text.
        first: dict[int | None, int] = {}
        last: dict[int | None, int] = {}
        for vs, ve, j, _ in self.pieces:
            first.setdefault(j, vs)
            last[j] = ve
        cuts: dict[int | None, list[_Cut]] = {}
        for vs, ve, j, os in self.pieces:
            lo, hi = max(vs, self.start), min(ve, self.end)
            if lo < hi:
                cut = (os + lo - vs, os + hi - vs, lo == first[j], hi == last[j])
                cuts.setdefault(j, []).append(cut)
        content = edits.body["messages"][self.index]["content"]
        if isinstance(content, str):
            new = _cut(content, cuts.get(None, []))
            if not new.strip():
                return f"{self.label}: strip_match kept the text (it would empty messages[{self.index}])"
            edits.set_content(self.index, new)
        else:
            blocks: list[Any] = []
            for j, b in enumerate(content):
                if j in cuts:
                    new = _cut(b["text"], cuts[j])
                    if new.strip():
                        blocks.append({**b, "text": new})
                else:
                    blocks.append(b)
            if not blocks:
                return f"{self.label}: strip_match kept the text (it would empty messages[{self.index}])"
            edits.set_content(self.index, blocks)
        return f"{self.label}: strip_match removed the matched text from messages[{self.index}]"


_Cut = tuple[int, int, bool, bool]  # (start, end, at the start of the visible text, at its end)


def _cut(text: str, cuts: list[_Cut]) -> str:
    """``text`` without the cut ranges; whitespace a cut leaves at the edge of the visible text is trimmed."""
    for s, e, at_start, at_end in sorted(cuts, reverse=True):
        before, after = text[:s], text[e:]
        if at_start:
            after = after.lstrip()
        if at_end:
            before = before.rstrip()
        text = before + after
    return text
