"""The price table: shipped ``prices.toml`` plus ``[prices."model"]`` overrides, and lookup by model id.

A model id is looked up under a few normal forms (see :func:`normal_forms`) so that dated, vendor-prefixed,
Bedrock and Vertex spellings of one model find its price. Nothing found means *no price* (``None``), never 0.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # not at run time: `ccm statusline` prices with this module and must not load pydantic
    from claude_code_mux.config.schema import PriceConfig

_DATE = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
_BEDROCK_REGION = re.compile(r"^(us|eu|apac|au|jp|global)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
_CLAUDE_DOTS = re.compile(r"(?<=\d)\.(?=\d)")


@dataclass(frozen=True, slots=True)
class Tier:
    """USD per million tokens for one band of prompt sizes."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0
    cache_write_1h: float | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """A model's price: a base tier and optionally a long-context tier above ``long_threshold`` prompt tokens."""

    base: Tier
    long: Tier | None = None
    long_threshold: int | None = None
    source: str = "shipped"  # "shipped" | "config"

    def tier(self, prompt_tokens: int) -> Tier:
        if self.long is not None and self.long_threshold is not None and prompt_tokens > self.long_threshold:
            return self.long
        return self.base


def normal_forms(model: str) -> Iterator[str]:
    """``model`` and the spellings it reduces to, most specific first (each lower-case, no repeats)."""
    seen: set[str] = set()
    m = model.strip().lower()
    steps = [m]
    if "/" in m:  # "anthropic/claude-sonnet-4.5", "accounts/fireworks/models/glm-4p6"
        m = m.rsplit("/", 1)[1]
        steps.append(m)
    if "anthropic." in m:  # Bedrock: "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        m = _BEDROCK_VERSION.sub("", _BEDROCK_REGION.sub("", m)).removeprefix("anthropic.")
        steps.append(m)
    if "@" in m:  # Vertex: "claude-sonnet-4-5@20250929"
        m = m.split("@", 1)[0]
        steps.append(m)
    if m.endswith("-latest") and m.removesuffix("-latest"):
        steps.append(m.removesuffix("-latest"))
    undated = _DATE.sub("", m)
    steps.append(undated)
    if undated.startswith("claude"):
        steps.append(_CLAUDE_DOTS.sub("-", undated))  # "claude-opus-4.1" -> "claude-opus-4-1"
    for s in steps:
        if s and s not in seen:
            seen.add(s)
            yield s


def _tier(raw: Mapping[str, Any]) -> Tier:
    w1h = raw.get("cache_write_1h")
    return Tier(
        input=float(raw.get("input", 0.0)),
        output=float(raw.get("output", 0.0)),
        cache_read=float(raw.get("cache_read", 0.0)),
        cache_write=float(raw.get("cache_write", 0.0)),
        cache_write_1h=None if w1h is None else float(w1h),
    )


def _price(raw: Mapping[str, Any], source: str = "shipped") -> Price:
    lc = raw.get("long_context")
    if isinstance(lc, Mapping):
        return Price(_tier(raw), _tier(lc), int(lc["threshold"]), source)
    return Price(_tier(raw), source=source)


@dataclass(frozen=True)
class PriceTable:
    """The shipped table: canonical entries with their aliases, per-preset prices and preset model lists."""

    checked: str
    entries: dict[str, tuple[Price, tuple[str, ...]]]  # canonical id -> (price, aliases)
    providers: dict[str, dict[str, Price]]  # preset -> lower-case model id -> price
    presets: dict[str, tuple[str, ...]]
    index: dict[str, Price] = field(default_factory=dict)  # every lower-case id and alias -> price

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PriceTable:
        entries: dict[str, tuple[Price, tuple[str, ...]]] = {}
        index: dict[str, Price] = {}
        for name, raw in data.get("models", {}).items():
            price = _price(raw)
            aliases = tuple(raw.get("aliases", ()))
            entries[name] = (price, aliases)
            for n in (name, *aliases):
                index[n.lower()] = price
        providers = {
            p: {m.lower(): _price(raw) for m, raw in models.items()} for p, models in data.get("providers", {}).items()
        }
        presets = {p: tuple(ms) for p, ms in data.get("presets", {}).items()}
        return cls(str(data.get("checked", "")), entries, providers, presets, index)

    def find(self, model: str, provider_type: str | None = None) -> Price | None:
        """The shipped price of ``model`` (at preset ``provider_type`` first), or None."""
        own = self.providers.get(provider_type.lower()) if provider_type else None
        if own:
            hit = own.get(model.strip().lower())
            if hit is not None:
                return hit
        for form in normal_forms(model):
            hit = self.index.get(form)
            if hit is not None:
                return hit
        return None


@functools.cache
def shipped() -> PriceTable:
    """The table in the package's ``prices.toml`` (read once; it never changes while running)."""
    text = resources.files("claude_code_mux.pricing").joinpath("prices.toml").read_text(encoding="utf-8")
    return PriceTable.parse(tomllib.loads(text))


def override_price(pc: PriceConfig) -> Price:
    return Price(
        Tier(pc.input, pc.output, pc.cache_read, pc.cache_write, pc.cache_write_1h),
        source="config",
    )


# Remembered record prices per book: model names can come from clients, so the memo is bounded.
MEMO_MAX = 4096
MEMO_KEY_MAX = 512  # characters of model names a remembered key may hold: a client's huge name is looked up each time
_MISS = object()


def memo_key_ok(model: str | None, client_model: str | None) -> bool:
    """Whether a price memo may keep a key of these names (bounded memory: at most MEMO_MAX * MEMO_KEY_MAX)."""
    return len(model or "") + len(client_model or "") <= MEMO_KEY_MAX


@dataclass(frozen=True)
class PriceBook:
    """What the router prices with: ``[prices."model"]`` overrides first, then the shipped table. A book never
    changes (a config reload builds a new one), so it remembers the price it found for each request's names."""

    table: PriceTable
    overrides: dict[str, Price]  # lower-case key -> price
    _memo: dict[tuple[str | None, str | None, str | None], Price | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def lookup(self, model: str | None, provider_type: str | None = None) -> Price | None:
        """The price of upstream ``model``, or None (no price)."""
        if not model:
            return None
        for form in normal_forms(model):
            hit = self.overrides.get(form)
            if hit is not None:
                return hit
        return self.table.find(model, provider_type)

    def lookup_record(self, model: str | None, client_model: str | None, provider_type: str | None) -> Price | None:
        """A request's price: by its upstream model, else a config price set on the name the client asked for
        (e.g. a ``[[models]]`` name). The shipped table is never applied to the client's name: a request for
        ``claude-sonnet-4-5`` routed to GLM must not cost Sonnet's price."""
        key = (model, client_model, provider_type)
        memo = self._memo
        found = memo.get(key, _MISS)
        if found is not _MISS:
            return cast("Price | None", found)
        hit = self.lookup(model, provider_type)
        if hit is None and client_model:
            hit = self.overrides.get(client_model.strip().lower())
        if memo_key_ok(model, client_model):
            if len(memo) >= MEMO_MAX:
                memo.clear()
            memo[key] = hit
        return hit


def book(overrides: Mapping[str, PriceConfig] | None = None, table: PriceTable | None = None) -> PriceBook:
    """The shipped table with the config's ``[prices]`` on top."""
    return PriceBook(
        table or shipped(),
        {k.strip().lower(): override_price(v) for k, v in (overrides or {}).items()},
    )
