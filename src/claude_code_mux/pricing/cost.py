"""The cost of a usage at a price, and the up-front estimate a budget checks before a request is sent.

Usage dicts use the Anthropic field names (``input_tokens``, ``output_tokens``, ``cache_read_input_tokens``,
``cache_creation_input_tokens``) plus ``cache_creation_1h_input_tokens`` (the part of the cache writes with a
1-hour TTL, from ``usage.cache_creation.ephemeral_1h_input_tokens``). The arithmetic is Claude Code's own.
"""

from __future__ import annotations

from collections.abc import Mapping

from claude_code_mux.pricing.table import Price, PriceBook

# A budget cannot know the output before the answer; it reserves this many output tokens (or max_tokens when
# smaller). Claude Code asks for max_tokens of 32000+ but a turn writes far fewer; reserving all of it would
# block every request under a small budget.
OUTPUT_ESTIMATE_TOKENS = 1024


def _n(usage: Mapping[str, object], key: str) -> int:
    v = usage.get(key, 0)
    if type(v) is int:  # the usual case, checked first: this runs for every request's usage row
        return v if v > 0 else 0
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0


def cost_of(price: Price, usage: Mapping[str, object]) -> float:
    """USD for ``usage`` at ``price``; the long-context tier applies when the whole prompt exceeds its threshold."""
    get = usage.get
    inp, out, read, write, write_1h = (
        get("input_tokens", 0),
        get("output_tokens", 0),
        get("cache_read_input_tokens", 0),
        get("cache_creation_input_tokens", 0),
        get("cache_creation_1h_input_tokens", 0),
    )
    # Plain ints (the usual case: this runs for every request's usage row) are clamped inline; anything else
    # goes through _n.
    if type(inp) is int and type(out) is int and type(read) is int and type(write) is int and type(write_1h) is int:
        inp = inp if inp > 0 else 0
        out = out if out > 0 else 0
        read = read if read > 0 else 0
        write = write if write > 0 else 0
        write_1h = write_1h if write_1h > 0 else 0
    else:
        inp = _n(usage, "input_tokens")
        out = _n(usage, "output_tokens")
        read = _n(usage, "cache_read_input_tokens")
        write = _n(usage, "cache_creation_input_tokens")
        write_1h = _n(usage, "cache_creation_1h_input_tokens")
    return _cost(price, inp, out, read, write, write_1h)


def _cost(price: Price, inp: int, out: int, read: int, write: int, write_1h: int) -> float:
    """USD for these token counts (each >= 0) at ``price``."""
    if write_1h > write:
        write_1h = write
    t = price.base if price.long is None else price.tier(inp + read + write)
    w1h = t.cache_write if t.cache_write_1h is None else t.cache_write_1h
    return (
        inp * t.input + out * t.output + read * t.cache_read + (write - write_1h) * t.cache_write + write_1h * w1h
    ) / 1_000_000


def estimate(price: Price, input_tokens: int, max_tokens: int | None) -> float:
    """A pre-flight guess: every input token at the input price plus a bounded output."""
    out = OUTPUT_ESTIMATE_TOKENS if max_tokens is None else max(0, min(max_tokens, OUTPUT_ESTIMATE_TOKENS))
    return cost_of(price, {"input_tokens": max(0, input_tokens), "output_tokens": out})


def record_cost(
    prices: PriceBook,
    usage: Mapping[str, object],
    model: str | None,
    client_model: str | None = None,
    provider_type: str | None = None,
) -> float | None:
    """The cost of one request, or None when its model has no price (stored as NULL, shown as "no price").
    A request that used no tokens cost nothing, priced or not."""
    return record_price(prices.lookup_record(model, client_model, provider_type), usage)


def record_price(price: Price | None, usage: Mapping[str, object]) -> float | None:
    """:func:`record_cost` with the request's price already looked up."""
    for v in usage.values():
        if v > 0 if type(v) is int else isinstance(v, int) and not isinstance(v, bool) and v > 0:
            break
    else:
        return 0.0
    return None if price is None else cost_of(price, usage)


def counts_cost(
    price: Price | None, usage: Mapping[str, object], inp: object, out: object, read: object, write: object
) -> float | None:
    """:func:`record_price` of ``usage`` whose input, output, cache read and cache write counts the caller has
    read already (``usage.get(key, 0)``, as a usage row stores them): plain ints that show a use are priced
    here, anything else the long way."""
    write_1h = usage.get("cache_creation_1h_input_tokens", 0)
    if (
        type(inp) is int
        and type(out) is int
        and type(read) is int
        and type(write) is int
        and type(write_1h) is int
        and (inp > 0 or out > 0 or read > 0 or write > 0 or write_1h > 0)
    ):
        if price is None:
            return None
        return _cost(
            price,
            inp if inp > 0 else 0,
            out if out > 0 else 0,
            read if read > 0 else 0,
            write if write > 0 else 0,
            write_1h if write_1h > 0 else 0,
        )
    return record_price(price, usage)
