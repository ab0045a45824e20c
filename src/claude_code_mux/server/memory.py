"""Give memory back to the system when the server goes idle after a burst.

A burst of large requests (Claude Code sends its whole context, 0.5-1 MB, on every turn) leaves glibc's heap full
of freed chunks: Python returned them, but glibc keeps the pages, so the process stays at its peak RSS for good.
``malloc_trim(0)`` hands the free pages back. It is called from :func:`trim_when_idle` once no request has
started for ``idle_s`` after at least ``min_requests`` since the last trim, in a worker thread (the trim walks the
heap and holds glibc's locks, not the GIL), so it never costs a request anything. Measured with ``python -m bench
--groups memory`` (1 MB bodies at c=32): RSS 3 s after the load 112 MB without it, see the README with it.
Only glibc has ``malloc_trim``; elsewhere (musl, macOS) this is a no-op.

While requests arrive, the opposite: :func:`hold_freed_heap` (called when :func:`trim_when_idle` starts) tells
glibc to keep freed pages instead of handing them back after every request. With glibc's adaptive thresholds a
1 MB body's buffers came from fresh pages each time (the heap top was trimmed after each request and grown
again): ~520 page faults per 1 MB request, ~1.5 ms of the router's CPU. The idle trim returns them after a burst.
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
    """glibc's ``malloc_trim``, looked up when the idle trimmer starts."""
    import ctypes

    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim


# glibc's mallopt() parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Buffers up to this size come from the heap and are reused (glibc's largest allowed value on 64-bit, which is
# also server.max_body_bytes' default); free pages at the heap's top are kept up to TRIM_THRESHOLD.
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


def hold_freed_heap() -> bool:
    """Keep freed heap pages for the next request (see the module docstring); True when glibc took the setting."""
    import ctypes  # at server start, not at import (the CLI's other commands never need it)

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


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
    if trim is malloc_trim:
        if _load_trim() is None:
            return
        hold_freed_heap()  # safe to hold freed pages: they go back once the server is idle
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
