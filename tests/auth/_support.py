"""Small helpers shared by the auth tests: a fake clock and free loopback ports."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager


class FakeClock:
    """A settable ``time.time`` replacement."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def occupied(port: int) -> Iterator[None]:
    """Keep ``port`` on 127.0.0.1 busy."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        s.listen()
        yield
    finally:
        s.close()


def free_range(n: int) -> tuple[int, int]:
    """An inclusive range of ``n`` consecutive free ports (outside the CLI's 8765-8795)."""
    for base in range(40000, 60000, 97):
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base, base + n - 1
    raise RuntimeError("no free port range")
