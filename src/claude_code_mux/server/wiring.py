"""Assemble a Runtime with the optional parts (OAuth tokens, observers) for the server."""

from __future__ import annotations

import logging
from pathlib import Path

from claude_code_mux.config.schema import Config
from claude_code_mux.runtime import Runtime


async def build_runtime(cfg: Config, config_path: Path | None, home: Path, logger: logging.Logger) -> Runtime:
    tokens = None
    if any(p.auth_type == "oauth" for p in cfg.providers if p.enabled):
        try:
            from claude_code_mux.auth.wiring import token_manager_for
        except ImportError:  # pragma: no cover - until the OAuth package lands
            logger.warning("OAuth providers configured but OAuth support is not available")
        else:
            tokens = token_manager_for(cfg, home)
    return await Runtime.create(cfg, config_path=config_path, tokens=tokens)
