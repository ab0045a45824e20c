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
- ``default``: a model named exactly like a ``[[models]]`` entry is used as requested (a configured name wins
  over auto-map, even one starting with ``claude-``); else ``auto_map`` and ``auto_map_regex`` matching the
  model → ``router.default``; otherwise the model name itself (``plan`` answers 404 when nothing serves it).

Edits never touch the input: the parts edited are copied and the new body is ``edited_body``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claude_code_mux.config.schema import Config
from claude_code_mux.errors import HttpError, InvalidRequest
from claude_code_mux.routing.derived import PerConfig
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.routing.inspect import (
    TAG_OPEN,
    Edits,
    Strip,
    TagScan,
    expand_captures,
    find_image,
    last_user_text,
    scan_tags,
)
from claude_code_mux.routing.plan import resolve_model
from claude_code_mux.routing.probe import Probe
from claude_code_mux.routing.types import RouteDecision

# The tag's name as it must appear in the JSON bytes (a ``<`` may be escaped as \u003c; letters never are).
TAG_NAME = TAG_OPEN.strip("<>").encode()


@dataclass(frozen=True, slots=True)
class _Hit:
    model: str
    reason: str
    note: str


def decide(
    body: dict[str, Any] | Probe, headers: Mapping[str, str], cfg: Config, *, full_trace: bool = False
) -> RouteDecision:
    """Pick the model for a request. Pure: no I/O, ``body`` is never mutated.

    ``body`` is the parsed request or a :class:`Probe` of its bytes; with a probe, the whole body is parsed
    only when a rule needs more than the probe can prove (the decision is the same either way).
    ``full_trace`` (for ``ccm route explain``) keeps evaluating the rules after the winner so the trace
    shows which later rules would also have fired.
    """
    c = _compiled(cfg)
    probe = body if isinstance(body, Probe) else Probe.of(body)
    raw_model = probe.get("model")
    model = raw_model if isinstance(raw_model, str) else ""
    ctx = _Ctx(probe, headers, cfg, c, model)
    trace: list[str] = []
    winner: tuple[str, _Hit] | None = None
    for name, fn, fixed, unset in c.steps:
        if fixed is not None:  # disabled
            trace.append(fixed)
            continue
        if winner is not None and not full_trace:
            trace.append(f"{name}: not evaluated ({winner[0]} fired first)")
            continue
        if unset is not None:  # its router target (or what it needs) is not configured
            trace.append(unset)
            continue
        try:
            hit, why = fn(ctx)
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
    strip = rule == "prompt_rules" and ctx.strip is not None
    untag = c.untag and ctx.tags() is not None
    edits = Edits(ctx.body) if strip or untag else None  # the common case edits nothing and parses nothing
    if edits is not None:
        if strip:
            ctx.apply_strip(edits)
        if untag:
            ctx.remove_tags(edits)
        trace.extend(f"edit: {note}" for note in edits.notes)
    # "provider,model" names its provider itself (``plan`` parses it); otherwise X-Provider restricts.
    provider = ctx.header_provider if c.explicit_on and rule != "explicit" else None
    return RouteDecision(
        rule=rule,
        reason=hit.reason,
        model=hit.model,
        edited_body=edits.out if edits is not None else None,
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
    if name.lower() in _compiled(cfg).names:
        return True
    return bool(resolve_model(name, cfg))


# --------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class _Compiled:
    """What ``decide`` needs from a configuration, worked out once per configuration."""

    # Per rule in router.order: (name, rule, the trace line when disabled, the line when its target is unset).
    steps: tuple[tuple[str, Callable[[_Ctx], tuple[_Hit | None, str]], str | None, str | None], ...]
    untag: bool  # the subagent rule is on: its tags are removed from the forwarded body
    explicit_on: bool
    names: frozenset[str]  # the [[models]] names, lower-cased
    auto_map: re.Pattern[str] | None
    background: re.Pattern[str] | None


def _unset(name: str, cfg: Config) -> str | None:
    """Why a rule cannot fire under ``cfg`` whatever the request (None: it must look at the request)."""
    r = cfg.router
    target = {"websearch": r.websearch, "image": r.image, "long_context": r.long_context, "think": r.think}
    if name in target and not target[name]:
        return f"skipped (router.{name} unset)"
    if name == "background":
        if not r.background:
            return "skipped (router.background unset)"
        if not r.background_regex:
            return "skipped (router.background_regex unset)"
    if name == "prompt_rules" and not r.rules:
        return "skipped (no [[router.rules]])"
    return None


def _compile(cfg: Config) -> _Compiled:
    r = cfg.router
    steps = []
    for name in r.order:
        unset = _unset(name, cfg)
        steps.append(
            (
                name,
                _RULES[name],
                f"{name}: disabled (router.disabled)" if name in r.disabled else None,
                f"{name}: {unset}" if unset is not None else None,
            )
        )
    on = {name for name in r.order if name not in r.disabled}
    auto_map = re.compile(r.auto_map_regex) if r.auto_map and r.auto_map_regex else None
    return _Compiled(
        steps=tuple(steps),
        untag="subagent" in on,
        explicit_on="explicit" in on,
        names=frozenset(m.name.lower() for m in cfg.models),
        auto_map=auto_map,
        background=re.compile(r.background_regex) if r.background_regex else None,
    )


_compiled = PerConfig(_compile)


class _Ctx:
    __slots__ = ("_tags", "c", "cfg", "header_provider", "headers", "model", "probe", "strip", "tokens")

    def __init__(self, probe: Probe, headers: Mapping[str, str], cfg: Config, c: _Compiled, model: str) -> None:
        self.probe = probe
        self.headers = headers
        self.cfg = cfg
        self.c = c
        self.model = model
        hp = headers.get("x-provider")
        self.header_provider: str | None = hp.strip() if hp and hp.strip() else None
        self.tokens: int | None = None
        self.strip: Strip | None = None
        self._tags: TagScan | bool | None = False

    @property
    def body(self) -> dict[str, Any]:
        return self.probe.full()

    def tags(self) -> TagScan | None:
        if self._tags is False:
            self._tags = scan_tags(self.body) if self.probe.may_have_tag(TAG_NAME) else None
        assert self._tags is not True
        return self._tags

    def remove_tags(self, edits: Edits) -> None:
        # After a strip_match edit, scan the edited body so the two edits compose.
        scan = self.tags() if edits.out is None else scan_tags(edits.body)
        if scan is None:
            return
        if scan.system is not None:
            edits.set_system(scan.system)
        if scan.message is not None:
            edits.set_content(*scan.message)
        edits.notes.append(f"removed {TAG_OPEN} tag(s) from {', '.join(scan.where)}")

    def apply_strip(self, edits: Edits) -> None:
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
    assert target
    tools = ctx.probe.get("tools") if ctx.probe.may_have_web_search() else None
    if isinstance(tools, list):
        for t in tools:
            kind = t.get("type") if isinstance(t, dict) else None
            if isinstance(kind, str) and kind.startswith("web_search"):
                return _Hit(target, header_safe(kind), f"tool type {kind!r}"), ""
    return None, "no tool whose type starts with 'web_search'"


def _image(ctx: _Ctx) -> tuple[_Hit | None, str]:
    target = ctx.cfg.router.image
    assert target
    where = find_image(ctx.probe.get("messages")) if ctx.probe.may_have_image() else None
    if where is None:
        return None, "no image block in messages"
    return _Hit(target, where, f"image block in {where}"), ""


def _long_context(ctx: _Ctx) -> tuple[_Hit | None, str]:
    r = ctx.cfg.router
    assert r.long_context
    bound = None if ctx.probe.parsed else ctx.probe.token_bound(r.long_context_threshold)
    if bound is not None and bound <= r.long_context_threshold:
        return None, f"estimate at most {bound} <= {r.long_context_threshold} tokens (from the body's size)"
    n = ctx.tokens = estimate_tokens(ctx.body)
    if n > r.long_context_threshold:
        return _Hit(r.long_context, f"{n}>{r.long_context_threshold}", f"estimate {n} tokens"), ""
    return None, f"estimate {n} <= {r.long_context_threshold} tokens"


def _think(ctx: _Ctx) -> tuple[_Hit | None, str]:
    r = ctx.cfg.router
    assert r.think
    why: list[str] = []
    thinking = ctx.probe.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if isinstance(kind, str) and isinstance(thinking, dict) and kind in r.think_types:
        budget = thinking.get("budget_tokens")
        if r.think_min_budget == 0 or (isinstance(budget, int) and budget >= r.think_min_budget):
            reason = header_safe(kind) + (f",budget={budget}" if isinstance(budget, int) else "")
            return _Hit(r.think, reason, f"thinking.type={kind!r} budget_tokens={budget}"), ""
        why.append(f"thinking.type={kind!r} but budget_tokens={budget} < think_min_budget={r.think_min_budget}")
    else:
        why.append(f"thinking.type={kind!r} not in think_types={list(r.think_types)}")
    oc = ctx.probe.get("output_config")
    effort = oc.get("effort") if isinstance(oc, dict) else None
    if isinstance(effort, str) and effort in r.think_efforts:
        return _Hit(r.think, "effort=" + header_safe(effort), f"output_config.effort={effort!r}"), ""
    why.append(f"effort={effort!r} not in think_efforts={list(r.think_efforts)}")
    return None, "; ".join(why)


def _background(ctx: _Ctx) -> tuple[_Hit | None, str]:
    r = ctx.cfg.router
    assert r.background and ctx.c.background is not None
    if ctx.c.background.search(ctx.model):
        return _Hit(r.background, header_safe(ctx.model), f"model matches {r.background_regex!r}"), ""
    return None, f"model {ctx.model!r} does not match {r.background_regex!r}"


def _prompt_rules(ctx: _Ctx) -> tuple[_Hit | None, str]:
    rules = ctx.cfg.router.rules
    found = last_user_text(ctx.body.get("messages"))
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
            ctx.strip = Strip(index, pieces, m.start(), m.end(), label)
        return _Hit(target, header_safe(label), f"{label} /{rule.pattern}/ matched messages[{index}]"), ""
    return None, f"none of {len(rules)} rule(s) matched messages[{index}]"


def _default(ctx: _Ctx) -> tuple[_Hit | None, str]:
    r = ctx.cfg.router
    # A [[models]] entry with this name, matched as ``resolve_model`` matches it (exactly or ignoring case).
    if ctx.model and ctx.model.lower() in ctx.c.names:
        return _Hit(ctx.model, "as_requested", "a [[models]] entry has this exact name (it wins over auto_map)"), ""
    if ctx.c.auto_map is not None and ctx.c.auto_map.search(ctx.model):
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

__all__ = ["decide", "expand_captures", "header_safe", "model_exists"]
