"""Typed app keys and the runtime holder that hot reload swaps."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from claude_code_mux.observe.logging import Redactor
from claude_code_mux.runtime import Runtime


@dataclass
class RuntimeHolder:
    """One mutable reference to the current runtime; requests read it once at their start."""

    current: Runtime
    redactor: Redactor
    logger: logging.Logger
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    active_streams: int = 0
    # Set by the server: reload the config file now (returns False and keeps serving on error).
    reload: Callable[[str], Awaitable[bool]] | None = None
    home: Any = None
    # Called with each finished request record (admin live feed, metrics, usage).
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def swap(self, new: Runtime) -> Runtime:
        old, self.current = self.current, new
        return old


HOLDER: web.AppKey[RuntimeHolder] = web.AppKey("holder", RuntimeHolder)
