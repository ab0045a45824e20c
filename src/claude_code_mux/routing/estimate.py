"""Token estimate (placeholder until the full estimator lands)."""

from __future__ import annotations

from typing import Any

import orjson


def estimate_tokens(body: dict[str, Any]) -> int:
    return len(orjson.dumps(body)) // 4
