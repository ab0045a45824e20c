"""Give memory back to the system when the server goes idle after a burst.

A burst of large requests (Claude Code sends its whole context, 0.5-1 MB, on every turn) leaves glibc's heap full
of freed chunks: Python returned them, but glibc keeps the pages, so the process stays at its peak RSS for good.
``malloc_trim(0)`` hands the free pages back. It is called from :func:`trim_when_idle` once no request has
started for ``idle_s`` after at least ``min_requests`` since the last trim, in a worker thread (the trim walks the
heap and holds glibc's locks, not the GIL), so it never costs a request anything. Measured with ``python -m bench
--groups memory`` (1 MB bodies at c=32): RSS 3 s after the load 112 MB without it, see the README with it.
Only glibc has ``malloc_trim``; elsewhere (musl, macOS) this is a no-op.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _load_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, looked up on the first trim (ctypes is not needed before: ~0.3 MB)."""
    import ctypes

    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim


def malloc_trim() -> bool:
    """Return free heap pages to the system; True when glibc released any (False without glibc)."""
    fn = _load_trim()
    return bool(fn(0)) if fn is not None else False


async def trim_when_idle(
    requests: Callable[[], int],
    busy: Callable[[], bool],
    *,
    idle_s: float = 2.0,
    min_requests: int = 16,
    tick_s: float = 0.5,
    trim: Callable[[], bool] = malloc_trim,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run until cancelled: trim once ``requests()`` (a running count of requests started) has not moved for
    ``idle_s``, nothing is in flight (``busy()`` is false) and ``min_requests`` arrived since the last trim."""
    seen = trimmed_at = requests()
    quiet_since = clock()
    while True:
        await asyncio.sleep(tick_s)
        n = requests()
        if n != seen:
            seen, quiet_since = n, clock()
            continue
        if n - trimmed_at >= min_requests and clock() - quiet_since >= idle_s and not busy():
            trimmed_at = n
            if trim is malloc_trim and _load_trim() is None:
                return  # no glibc: nothing to trim, ever
            released = await asyncio.to_thread(trim)
            log.debug("idle after %d requests: malloc_trim released memory: %s", n, released)
