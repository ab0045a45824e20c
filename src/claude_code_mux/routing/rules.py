"""Routing rules: a pure function from (request body, headers, config) to a :class:`RouteDecision`.

Rules run in ``router.order`` minus ``router.disabled``; the first that fires wins. A rule whose router
target is unset (``router.think`` etc.) is skipped. Every rule considered leaves one line in
``RouteDecision.trace`` (why it did or did not fire) for ``ccm route explain``.

- ``explicit``: ``"provider,model"`` in ``model`` fires (the candidate list is exactly that provider and
  model). An ``X-Provider`` header does not fire: it restricts the candidates of whichever rule fires
  (``RouteDecision.provider``); an unknown provider is a 400 from ``plan``.
- ``subagent``: ``<CCM-SUBAGENT-MODEL>name</CCM-SUBAGENT-MODEL>`` in any system block (or a string
  ``system``) or in the first user message. ``name`` must resolve (``[[models]]`` first, then provider
  ``models``), else 400 naming the tag. ``role:"system"`` messages are not searched: Claude Code lists every
  agent there, so a tag in an agent's description would capture the main agent. Whenever the rule is
  enabled the tags are removed from the forwarded body, even when an earlier rule wins.
- ``websearch``: a tool whose ``type`` starts with ``web_search``.
- ``image``: an image block in any message, including inside ``tool_result`` content.
- ``long_context``: :func:`estimate_tokens` > ``long_context_threshold`` (reason ``72431>60000``).
- ``think``: ``thinking.type`` in ``think_types`` with ``budget_tokens >= think_min_budget``, or
  ``output_config.effort`` in ``think_efforts``. Claude Code 2.1 sends ``adaptive`` + an effort on every
  main request, so neither triggers by default.
- ``background``: the original model matches ``background_regex``.
- ``prompt_rules``: ``[[router.rules]]`` in order, ``re.search`` on the last user text: the newest user
  message with visible text, where ``<system-reminder>…</system-reminder>`` spans are invisible and
  ``role:"system"`` messages are skipped. A user turn holding only ``tool_result`` blocks has no visible text,
  so every request of one agentic turn routes like its prompt. ``$1``/``${1}``/``$name``/``${name}`` in the
  target model expand to capture groups (``$$`` is a literal ``$``; a missing group expands to nothing).
  ``strip_match`` deletes the matched text from the forwarded body (emptied text blocks are dropped).
- ``default``: ``auto_map`` and ``auto_map_regex`` matching the model → ``router.default``; otherwise the
  model name itself (``plan`` answers 404 when nothing serves it).

Edits never touch the input: the parts edited are copied and the new body is ``edited_body``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claude_code_mux.config.schema import Config
from claude_code_mux.errors import HttpError, InvalidRequest
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.routing.plan import resolve_model
from claude_code_mux.routing.types import RouteDecision

TAG_OPEN = "<CCM-SUBAGENT-MODEL>"
TAG_RE = re.compile(r"<CCM-SUBAGENT-MODEL>(.*?)</CCM-SUBAGENT-MODEL>", re.DOTALL)
REMINDER_RE = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
_CAPTURE_RE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")
_DELETE = object()


@dataclass(frozen=True, slots=True)
class _Hit:
    model: str
    reason: str
    note: str


class _Edits:
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
        if value is _DELETE:
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


def decide(body: dict[str, Any], headers: Mapping[str, str], cfg: Config, *, full_trace: bool = False) -> RouteDecision:
    """Pick the model for a request. Pure: no I/O, ``body`` is never mutated.

    ``full_trace`` (for ``ccm route explain``) keeps evaluating the rules after the winner so the trace
    shows which later rules would also have fired.
    """
    r = cfg.router
    raw_model = body.get("model")
    model = raw_model if isinstance(raw_model, str) else ""
    ctx = _Ctx(body, headers, cfg, model)
    trace: list[str] = []
    winner: tuple[str, _Hit] | None = None
    for name in r.order:
        if name in r.disabled:
            trace.append(f"{name}: disabled (router.disabled)")
            continue
        if winner is not None and not full_trace:
            trace.append(f"{name}: not evaluated ({winner[0]} fired first)")
            continue
        try:
            hit, why = _RULES[name](ctx)
        except HttpError as exc:
            if winner is None:
                raise
            trace.append(f"{name}: would fail: {exc.message}")
            continue
        if hit is None:
            trace.append(f"{name}: {why}")
        elif winner is None:
            winner = (name, hit)
            trace.append(f"{name}: FIRED -> {hit.model!r}: {hit.note}")
        else:
            trace.append(f"{name}: would also fire -> {hit.model!r}: {hit.note}")
    if winner is None:
        winner = ("default", _Hit(model, "as_requested", "no rule fired"))
        trace.append(f"(no enabled rule fired: model {model!r} is used as requested)")
    rule, hit = winner
    edits = _Edits(body)
    if rule == "prompt_rules" and ctx.strip is not None:
        ctx.apply_strip(edits)
    if "subagent" in r.order and "subagent" not in r.disabled:
        ctx.remove_tags(edits)
    trace.extend(f"edit: {note}" for note in edits.notes)
    # "provider,model" names its provider itself (``plan`` parses it); otherwise X-Provider restricts.
    explicit_on = "explicit" in r.order and "explicit" not in r.disabled
    provider = ctx.header_provider if explicit_on and rule != "explicit" else None
    return RouteDecision(
        rule=rule,
        reason=hit.reason,
        model=hit.model,
        edited_body=edits.out,
        provider=provider,
        trace=tuple(trace),
    )


def header_safe(text: str, limit: int = 80) -> str:
    """Printable ASCII only, no newlines, at most ``limit`` characters (for ``x-ccm-route``)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def model_exists(name: str, cfg: Config) -> bool:
    """Whether ``name`` is a ``[[models]]`` name, a provider model, or ``provider,model`` (known provider)."""
    if "," in name:
        return cfg.provider(name.partition(",")[0].strip()) is not None
    low = name.lower()
    if any(m.name.lower() == low for m in cfg.models):
        return True
    return bool(resolve_model(name, cfg))


# --------------------------------------------------------------------------------------------- rules


class _Ctx:
    __slots__ = ("_tags", "body", "cfg", "header_provider", "headers", "model", "strip", "tokens")

    def __init__(self, body: dict[str, Any], headers: Mapping[str, str], cfg: Config, model: str) -> None:
        self.body = body
        self.headers = headers
        self.cfg = cfg
        self.model = model
        hp = headers.get("x-provider")
        self.header_provider: str | None = hp.strip() if hp and hp.strip() else None
        self.tokens: int | None = None
        self.strip: _Strip | None = None
        self._tags: _TagScan | bool | None = False

    def tags(self) -> _TagScan | None:
        if self._tags is False:
            self._tags = _scan_tags(self.body)
        assert self._tags is not True
        return self._tags

    def remove_tags(self, edits: _Edits) -> None:
        # After a strip_match edit, scan the edited body so the two edits compose.
        scan = self.tags() if edits.out is None else _scan_tags(edits.body)
        if scan is None:
            return
        if scan.system is not None:
            edits.set_system(scan.system)
        if scan.message is not None:
            edits.set_content(*scan.message)
        edits.notes.append(f"removed {TAG_OPEN} tag(s) from {', '.join(scan.where)}")

    def apply_strip(self, edits: _Edits) -> None:
        assert self.strip is not None
        note = self.strip.apply(edits)
        edits.notes.append(note)


def _explicit(ctx: _Ctx) -> tuple[_Hit | None, str]:
    hp = ctx.header_provider
    if "," in ctx.model:
        prov = ctx.model.partition(",")[0].strip()
        if hp is not None and hp != prov:
            raise InvalidRequest(f"X-Provider {hp!r} conflicts with model {ctx.model!r}, which names provider {prov!r}")
        known = "" if ctx.cfg.provider(prov) else f" (provider {prov!r} is not configured)"
        return _Hit(ctx.model, header_safe(ctx.model), f"'provider,model' syntax{known}"), ""
    if hp is not None:
        return None, f"X-Provider {hp!r} restricts the candidates of the rule that fires"
    return None, "no X-Provider header and model is not 'provider,model'"


def _subagent(ctx: _Ctx) -> tuple[_Hit | None, str]:
    scan = ctx.tags()
    if scan is None:
        return None, f"no {TAG_OPEN} tag in system blocks or the first user message"
    name = scan.name
    if not name:
        raise InvalidRequest(
            f"{TAG_OPEN}</CCM-SUBAGENT-MODEL> is empty (in {scan.where[0]}): put a model name inside the tag"
        )
    if not model_exists(name, ctx.cfg):
        known = ", ".join(m.name for m in ctx.cfg.models) or "none"
        raise InvalidRequest(
            f"{TAG_OPEN}{name}</CCM-SUBAGENT-MODEL> (in {scan.where[0]}) names an unknown model: "
            f"no [[models]] entry has that name and no provider lists it in `models` "
            f"(configured [[models]]: {known})"
        )
    return _Hit(name, header_safe(name), f"tag in {scan.where[0]}"), ""


def _websearch(ctx: _Ctx) -> tuple[_Hit | None, str]:
    target = ctx.cfg.router.websearch
    if not target:
        return None, "skipped (router.websearch unset)"
    tools = ctx.body.get("tools")
    if isinstance(tools, list):
        for t in tools:
            kind = t.get("type") if isinstance(t, dict) else None
            if isinstance(kind, str) and kind.startswith("web_search"):
                return _Hit(target, header_safe(kind), f"tool type {kind!r}"), ""
    return None, "no tool whose type starts with 'web_search'"


def _image(ctx: _Ctx) -> tuple[_Hit | None, str]:
    target = ctx.cfg.router.image
    if not target:
        return None, "skipped (router.image unset)"
    where = _find_image(ctx.body.get("messages"))
    if where is None:
        return None, "no image block in messages"
    return _Hit(target, where, f"image block in {where}"), ""


def _long_context(ctx: _Ctx) -> tuple[_Hit | None, str]:
    r = ctx.cfg.router
    if not r.long_context:
        return None, "skipped (router.long_context unset)"
    n = ctx.tokens = estimate_tokens(ctx.body)
    if n > r.long_context_threshold:
        return _Hit(r.long_context, f"{n}>{r.long_context_threshold}", f"estimate {n} tokens"), ""
    return None, f"estimate {n} <= {r.long_context_threshold} tokens"


def _think(ctx: _Ctx) -> tuple[_Hit | None, str]:
    r = ctx.cfg.router
    if not r.think:
        return None, "skipped (router.think unset)"
    why: list[str] = []
    thinking = ctx.body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if isinstance(kind, str) and isinstance(thinking, dict) and kind in r.think_types:
        budget = thinking.get("budget_tokens")
        if r.think_min_budget == 0 or (isinstance(budget, int) and budget >= r.think_min_budget):
            reason = header_safe(kind) + (f",budget={budget}" if isinstance(budget, int) else "")
            return _Hit(r.think, reason, f"thinking.type={kind!r} budget_tokens={budget}"), ""
        why.append(f"thinking.type={kind!r} but budget_tokens={budget} < think_min_budget={r.think_min_budget}")
    else:
        why.append(f"thinking.type={kind!r} not in think_types={list(r.think_types)}")
    oc = ctx.body.get("output_config")
    effort = oc.get("effort") if isinstance(oc, dict) else None
    if isinstance(effort, str) and effort in r.think_efforts:
        return _Hit(r.think, "effort=" + header_safe(effort), f"output_config.effort={effort!r}"), ""
    why.append(f"effort={effort!r} not in think_efforts={list(r.think_efforts)}")
    return None, "; ".join(why)


def _background(ctx: _Ctx) -> tuple[_Hit | None, str]:
    r = ctx.cfg.router
    if not r.background:
        return None, "skipped (router.background unset)"
    if not r.background_regex:
        return None, "skipped (router.background_regex unset)"
    if re.search(r.background_regex, ctx.model):
        return _Hit(r.background, header_safe(ctx.model), f"model matches {r.background_regex!r}"), ""
    return None, f"model {ctx.model!r} does not match {r.background_regex!r}"


def _prompt_rules(ctx: _Ctx) -> tuple[_Hit | None, str]:
    rules = ctx.cfg.router.rules
    if not rules:
        return None, "skipped (no [[router.rules]])"
    found = _last_user_text(ctx.body.get("messages"))
    if found is None:
        return None, "no user message with visible text"
    index, text, pieces = found
    for i, rule in enumerate(rules):
        m = re.search(rule.pattern, text)
        if m is None:
            continue
        target = expand_captures(rule.model, m)
        label = rule.name or f"rules[{i}]"
        if rule.strip_match and m.end() > m.start():
            ctx.strip = _Strip(index, pieces, m.start(), m.end(), label)
        return _Hit(target, header_safe(label), f"{label} /{rule.pattern}/ matched messages[{index}]"), ""
    return None, f"none of {len(rules)} rule(s) matched messages[{index}]"


def _default(ctx: _Ctx) -> tuple[_Hit | None, str]:
    r = ctx.cfg.router
    if r.auto_map and r.auto_map_regex and re.search(r.auto_map_regex, ctx.model):
        return _Hit(r.default, "auto_map", f"auto_map_regex {r.auto_map_regex!r} matched {ctx.model!r}"), ""
    why = "auto_map off" if not (r.auto_map and r.auto_map_regex) else f"{r.auto_map_regex!r} did not match"
    return _Hit(ctx.model, "as_requested", f"{why}: the model name is routed as is"), ""


_RULES: dict[str, Callable[[_Ctx], tuple[_Hit | None, str]]] = {
    "explicit": _explicit,
    "subagent": _subagent,
    "websearch": _websearch,
    "image": _image,
    "long_context": _long_context,
    "think": _think,
    "background": _background,
    "prompt_rules": _prompt_rules,
    "default": _default,
}


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


def _find_image(messages: Any) -> str | None:
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
class _TagScan:
    name: str
    where: tuple[str, ...]
    system: Any  # the new ``system`` value (or _DELETE), None when unchanged
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


def _scan_tags(body: dict[str, Any]) -> _TagScan | None:
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
            new_system = blocks if blocks else _DELETE
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
    return _TagScan(names[0], tuple(wheres), new_system, new_message)


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


def _last_user_text(messages: Any) -> tuple[int, str, list[_Piece]] | None:
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


@dataclass(frozen=True, slots=True)
class _Strip:
    """Delete visible range [start, end) of message ``index`` (``strip_match``)."""

    index: int
    pieces: list[_Piece]
    start: int
    end: int
    label: str

    def apply(self, edits: _Edits) -> str:
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


__all__ = ["REMINDER_RE", "TAG_RE", "decide", "expand_captures", "header_safe", "model_exists"]
