"""Run a mock server standalone until SIGINT/SIGTERM or a time limit (shared by the mocks' ``main``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Protocol


class _Mock(Protocol):
    port: int

    async def start(self, host: str = ..., port: int = ...) -> object: ...

    async def stop(self) -> None: ...


async def serve_until_stopped(mock: _Mock, host: str, port: int, max_seconds: float) -> int:
    """Start ``mock``, print ``LISTENING <port>``, wait for a signal or ``max_seconds``, stop it."""
    await mock.start(host, port)
    print(f"LISTENING {mock.port}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, done.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=max_seconds)
    await mock.stop()
    return 0
