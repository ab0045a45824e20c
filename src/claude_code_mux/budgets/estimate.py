"""The pre-flight cost estimate a budget checks: input tokens at the first priced candidate's price plus a
bounded output (:data:`claude_code_mux.pricing.OUTPUT_ESTIMATE_TOKENS`). 0 when no candidate has a price."""

from __future__ import annotations

from collections.abc import Sequence

from claude_code_mux.config.schema import Config
from claude_code_mux.pricing import PriceBook, estimate
from claude_code_mux.routing.types import Candidate


def estimate_usd(
    prices: PriceBook, cfg: Config, candidates: Sequence[Candidate], input_tokens: int, max_tokens: int | None
) -> float:
    for c in candidates:
        pc = cfg.provider(c.provider)
        price = prices.lookup(c.upstream_model, pc.provider_type if pc else None)
        if price is not None:
            return estimate(price, input_tokens, max_tokens)
    return 0.0
