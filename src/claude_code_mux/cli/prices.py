"""``ccm prices [--json] [MODEL…]``: the price table the router uses (shipped ``prices.toml`` + ``[prices]``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from claude_code_mux.cli.common import fail, load_or_default
from claude_code_mux.cli.table import render
from claude_code_mux.errors import ConfigError
from claude_code_mux.pricing import Price, PriceBook, book


def _usd(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def _rows(pb: PriceBook) -> list[tuple[str, Price, tuple[str, ...], str]]:
    """(model, price, aliases, where) for every override, shipped entry and preset-specific price."""
    out: list[tuple[str, Price, tuple[str, ...], str]] = [(k, p, (), "config") for k, p in pb.overrides.items()]
    out += [(name, p, aliases, "shipped") for name, (p, aliases) in pb.table.entries.items()]
    for preset, models in pb.table.providers.items():
        out += [(m, p, (), f"shipped ({preset} only)") for m, p in models.items()]
    return out


def _json_row(model: str, p: Price, aliases: tuple[str, ...], where: str) -> dict[str, Any]:
    t = p.base
    row: dict[str, Any] = {
        "model": model,
        "source": where,
        "input": t.input,
        "output": t.output,
        "cache_read": t.cache_read,
        "cache_write": t.cache_write,
        "cache_write_1h": t.cache_write_1h,
        "aliases": list(aliases),
    }
    if p.long is not None:
        lt = p.long
        row["long_context"] = {
            "threshold": p.long_threshold,
            "input": lt.input,
            "output": lt.output,
            "cache_read": lt.cache_read,
            "cache_write": lt.cache_write,
            "cache_write_1h": lt.cache_write_1h,
        }
    return row


def cmd_prices(args: argparse.Namespace) -> int:
    try:
        cfg, _ = load_or_default(args)
    except ConfigError as exc:
        return fail(exc)
    pb = book(cfg.prices)
    if args.models:
        found = [(m, pb.lookup(m)) for m in args.models]
        if args.json:
            print(json.dumps([_json_row(m, p, (), p.source) if p else {"model": m, "price": None} for m, p in found]))
        else:
            for m, p in found:
                print(f"{m}: no price" if p is None else f"{m}: {_usd(p.base.input)} in / {_usd(p.base.output)} out")
        return 0 if all(p is not None for _, p in found) else 1
    rows = _rows(pb)
    if args.json:
        print(json.dumps({"checked": pb.table.checked, "prices": [_json_row(*r) for r in rows]}, indent=1))
        return 0
    head = ("model", "input", "output", "cache_read", "cache_write", "write_1h", ">200k in/out", "source")
    # One line per id a user might grep for: each alias on its own line, marked "= canonical".
    expanded = [
        (m, p, where if m == model else f"= {model}") for model, p, aliases, where in rows for m in (model, *aliases)
    ]
    body = [
        (
            model,
            _usd(p.base.input),
            _usd(p.base.output),
            _usd(p.base.cache_read),
            _usd(p.base.cache_write),
            _usd(p.base.cache_write_1h),
            f"{_usd(p.long.input)}/{_usd(p.long.output)}" if p.long else "",
            where,
        )
        for model, p, where in expanded
    ]
    print(render(head, body))
    print(
        f"\nUSD per million tokens; shipped prices checked {pb.table.checked}. Override one with "
        '[prices."MODEL"] in config.toml. A model not listed has no price (shown as "no price", never $0).'
    )
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("prices", parents=[common], help="the price table (USD per million tokens)")
    p.add_argument("models", nargs="*", help="look up these model ids (exit 1 if one has no price)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_prices)
