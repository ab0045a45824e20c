"""Prices and cost: the shipped price table (``prices.toml``), config overrides, and the cost of a usage.

Pure and I/O-free except for reading the package's own ``prices.toml`` once. Entry points:
:func:`book` (shipped table + ``[prices]`` overrides), :meth:`PriceBook.lookup`, :func:`cost_of` and
:func:`estimate`.
"""

from __future__ import annotations

from claude_code_mux.pricing.cost import (
    OUTPUT_ESTIMATE_TOKENS,
    cost_of,
    counts_cost,
    estimate,
    record_cost,
    record_price,
)
from claude_code_mux.pricing.table import Price, PriceBook, PriceTable, Tier, book, normal_forms, shipped

__all__ = [
    "OUTPUT_ESTIMATE_TOKENS",
    "Price",
    "PriceBook",
    "PriceTable",
    "Tier",
    "book",
    "cost_of",
    "counts_cost",
    "estimate",
    "normal_forms",
    "record_cost",
    "record_price",
    "shipped",
]
