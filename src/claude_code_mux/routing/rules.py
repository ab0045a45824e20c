"""Routing rules (placeholder: auto-map and default only; the full rule set replaces this)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from claude_code_mux.config.schema import Config
from claude_code_mux.routing.types import RouteDecision


def decide(body: dict[str, Any], headers: Mapping[str, str], cfg: Config) -> RouteDecision:
    model = str(body.get("model", ""))
    provider = headers.get("x-provider") or None
    r = cfg.router
    if r.auto_map and r.auto_map_regex and re.search(r.auto_map_regex, model):
        return RouteDecision("default", "auto_map", r.default, provider=provider)
    return RouteDecision("default", "", model, provider=provider)
