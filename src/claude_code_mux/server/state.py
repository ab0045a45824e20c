"""The runtime holder: the one mutable reference hot reload swaps, and the server-wide parts that outlive it.

The ASGI application keeps it (``app.state.holder`` for Starlette handlers); a request reads ``holder.current``
once at its start and finishes on that runtime even if a reload swaps in a new one meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from claude_code_mux.access.gate import AccessGate
from claude_code_mux.accounts.poller import UsagePoller
from claude_code_mux.observe.hub import Observers
from claude_code_mux.observe.logging import Redactor
from claude_code_mux.runtime import Runtime
from claude_code_mux.server.api.limits import Limiter
from claude_code_mux.state.fleet import Fleet

if TYPE_CHECKING:
    from claude_code_mux.state.feed import FleetFeed  # redis: loaded only when the fleet is on


@dataclass
class RuntimeHolder:
    """The current runtime plus what every request shares: logging, observers, limits, the access gate,
    open-stream count."""

    current: Runtime
    redactor: Redactor
    logger: logging.Logger
    observers: Observers
    home: Path | None = None
    config_path: Path | None = None
    # server.host as the server started with it (a host changed in the file applies at the next start).
    bound_host: str = "127.0.0.1"
    limiter: Limiter = field(default_factory=Limiter)
    active_streams: int = 0
    # Keys, budgets and prices (one per process; the server creates, updates on reload and closes it).
    gate: AccessGate | None = None
    # Set by the server: reload the config file now (returns False and keeps serving on error).
    reload: Callable[[str], Awaitable[bool]] | None = None
    # The shared state of a fleet ([state] backend = "redis"); None or link-less for one process.
    fleet: Fleet | None = None
    poller: UsagePoller | None = None  # [subscription] poll_usage_s > 0
    fleet_feed: FleetFeed | None = None  # the fleet's request feed (Redis stream), when the fleet is on

    def swap(self, new: Runtime) -> Runtime:
        old, self.current = self.current, new
        return old
