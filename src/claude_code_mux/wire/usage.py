"""The ``usage`` object of Anthropic messages, folded into a flat dict of token counts.

One place for the fields we keep: ``input_tokens``, ``output_tokens``, ``cache_read_input_tokens``,
``cache_creation_input_tokens``, plus ``cache_creation_1h_input_tokens`` flattened from
``cache_creation.ephemeral_1h_input_tokens`` (1-hour cache writes are billed higher than 5-minute ones).
"""

from __future__ import annotations

FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
ONE_HOUR = "cache_creation_1h_input_tokens"


def merge_usage(into: dict[str, int], usage: object) -> None:
    """Copy the integer counts of ``usage`` (a message's or an event's) into ``into``; later events win."""
    if not isinstance(usage, dict):
        return
    for k in FIELDS:
        v = usage.get(k)
        if isinstance(v, int) and not isinstance(v, bool):
            into[k] = v
    split = usage.get("cache_creation")
    if isinstance(split, dict):
        v = split.get("ephemeral_1h_input_tokens")
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            into[ONE_HOUR] = v
