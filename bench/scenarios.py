"""The benchmark's scenarios: what load, on which paths, with which body size and answer length.

The standard load (43 KB Claude-Code-shaped body, 20 deltas) at c=1 / 32 / 128 is the baseline. The growth
scenarios show how cost grows with the work a late Claude Code session brings: a body-size sweep (43 KB,
250 KB, 1 MB at the same concurrency), long answers (2,000 deltas: a file being written), 1 MB at c=1 (added
time to first byte) and 1 MB at c=32 (the memory peak). ``workers`` compares one worker with ``--workers 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = ("direct", "passthrough", "translated")
ROUTED = ("passthrough", "translated")


@dataclass(frozen=True)
class Scenario:
    name: str
    c: int  # concurrency
    n: int  # request bound
    seconds: float  # duration bound of the full run
    warm: int  # warm-up requests (not recorded; their CPU is)
    paths: tuple[str, ...]
    kb: int = 43  # request body size; 43 = the standard synthetic body
    deltas: int = 20
    memory: bool = False  # sample RSS while it runs (the peak)
    group: str = "standard"  # "standard" | "size" | "deltas" | "ttfb" | "memory"


SCENARIOS = (
    Scenario("stream c=1", 1, 300, 20.0, 20, ALL),
    Scenario("stream c=32", 32, 20_000, 20.0, 64, ALL),
    Scenario("stream c=128", 128, 40_000, 30.0, 256, ("direct", "passthrough")),
    Scenario("43 KB c=4", 4, 4_000, 10.0, 16, ROUTED, group="size"),
    Scenario("250 KB c=4", 4, 2_000, 10.0, 8, ROUTED, kb=250, group="size"),
    Scenario("1 MB c=4", 4, 800, 10.0, 8, ROUTED, kb=1000, group="size"),
    Scenario("2000 deltas c=4", 4, 400, 10.0, 4, ROUTED, deltas=2000, group="deltas"),
    Scenario("1 MB c=1", 1, 300, 10.0, 5, ("direct", "passthrough"), kb=1000, group="ttfb"),
    Scenario("1 MB c=32", 32, 1_000, 10.0, 32, ("passthrough",), kb=1000, memory=True, group="memory"),
)
# One worker vs --workers 2, unpinned, on the translated path (the most router-bound load).
WORKERS = Scenario("workers c=64", 64, 20_000, 10.0, 64, ("translated",), group="workers")
SIZES = ("43 KB c=4", "250 KB c=4", "1 MB c=4")
LONG = "2000 deltas c=4"
