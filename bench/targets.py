"""The performance targets (issues 8 and 20) next to what a run measured."""

from __future__ import annotations

import os

from bench.report import Memory, Run, Target, find, per_delta_us
from bench.scenarios import SIZES

# (scenario, passthrough limit ms, translated limit ms): issue 20's cost-by-size targets
_SIZE_LIMITS = ((SIZES[0], 0.5, 1.0), (SIZES[1], 0.8, 2.5), (SIZES[2], 1.5, 6.0))


def _cpu(runs: list[Run], scenario: str, path: str, limit: float, label: str) -> Target:
    r = find(runs, scenario, path)
    cpu = r.cpu_ms_per_req if r else None
    shown = "n/a" if cpu is None else f"{cpu:.3f} ms"
    return Target(label, f"≤ {limit} ms", shown, None if cpu is None else cpu <= limit)


def _added_ttfb(runs: list[Run], scenario: str, path: str, limit: float | None, label: str) -> Target | None:
    d, p = find(runs, scenario, "direct"), find(runs, scenario, path)
    if d is None or p is None:
        return None
    added = p.res.ms("ttfb", 0.5) - d.res.ms("ttfb", 0.5)
    shown = f"{added:.3f} ms ({d.res.ms('ttfb', 0.5):.3f} → {p.res.ms('ttfb', 0.5):.3f})"
    return Target(label, "—" if limit is None else f"≤ {limit} ms", shown, None if limit is None else added <= limit)


def workers_ceiling(one: Run, workers: int, cores: int) -> float | None:
    """The most ``workers`` processes can gain over one on ``cores`` shared with the load generator and the mock:
    with X the router's CPU per request and Y theirs, one worker serves at most min(1/X, cores/(X+Y)) requests per
    second and ``workers`` at most min(workers/X, cores/(X+Y)). On 2 cores 1.7x needs Y <= 0.18 X."""
    x = one.cpu_ms_per_req
    if x is None or not one.res.sent or x <= 0:
        return None
    y = one.client_core * one.res.wall_s * 1000.0 / one.res.sent
    return min(workers / x, cores / (x + y)) / min(1 / x, cores / (x + y))


def _mb(label: str, limit: float, value: float | None) -> Target:
    shown = "n/a" if value is None else f"{value:.1f} MB"
    return Target(label, f"≤ {limit:.0f} MB", shown, None if value is None else value <= limit)


def targets(runs: list[Run], start_s: float, mem: Memory, workers: list[Run]) -> list[Target]:
    rows: list[Target] = [
        _cpu(runs, "stream c=32", "passthrough", 0.6, "router CPU per streamed request, passthrough (c=32)"),
        _cpu(runs, "stream c=32", "translated", 1.2, "router CPU per streamed request, OpenAI translation (c=32)"),
    ]
    for name, lp, lt in _SIZE_LIMITS:
        size = name.split(" c=")[0]
        rows.append(_cpu(runs, name, "passthrough", lp, f"router CPU per request, {size} body, passthrough (c=4)"))
        rows.append(_cpu(runs, name, "translated", lt, f"router CPU per request, {size} body, translated (c=4)"))
    for path, limit in (("passthrough", 2.0), ("translated", 8.0)):
        us = per_delta_us(runs, path)
        shown = "n/a" if us is None else f"{us:.2f} µs"
        met = None if us is None else us <= limit
        rows.append(Target(f"router CPU per streamed delta, {path}", f"≤ {limit:g} µs", shown, met))
    for t in (
        _added_ttfb(runs, "stream c=1", "passthrough", 0.7, "added time-to-first-byte p50, c=1"),
        _added_ttfb(runs, "stream c=1", "translated", None, "added TTFB p50, c=1, OpenAI translation (info)"),
        _added_ttfb(runs, "1 MB c=1", "passthrough", 1.5, "added TTFB p50, c=1, 1 MB body, passthrough"),
    ):
        if t is not None:
            rows.append(t)
    d128, p128 = find(runs, "stream c=128", "direct"), find(runs, "stream c=128", "passthrough")
    if d128 and p128 and d128.res.rps:
        ratio = p128.res.rps / d128.res.rps
        shown = f"{ratio:.0%} ({p128.res.rps:.0f} vs {d128.res.rps:.0f} req/s)"
        rows.append(Target("throughput at c=128, streamed", "≥ 90 % of direct", shown, ratio >= 0.9))
    d32, p32 = find(runs, "stream c=32", "direct"), find(runs, "stream c=32", "passthrough")
    if d32 and p32:
        ratio = p32.res.ms("ttfb", 0.99) / d32.res.ms("ttfb", 0.99)
        shown = f"{ratio:.2f} × ({p32.res.ms('ttfb', 0.99):.2f} vs {d32.res.ms('ttfb', 0.99):.2f} ms)"
        rows.append(Target("p99 TTFB at c=32", "≤ 1.5 × direct", shown, ratio <= 1.5))
    rows += [
        _mb("idle RSS", 40, mem.idle),
        _mb("RSS after the standard load (c=1/32/128, 43 KB)", 70, mem.after),
        _mb("peak RSS at c=32 with 1 MB bodies", 150, mem.peak),
        _mb(f"RSS settled, 3 s after the 1 MB c=32 load (and {len(runs)} runs in all)", 80, mem.settled),
        Target("start to first served request", "≤ 0.3 s", f"{start_s:.3f} s", start_s <= 0.3),
    ]
    if len(workers) == 2 and workers[0].res.rps:
        ratio = workers[1].res.rps / workers[0].res.rps
        shown = f"{ratio:.2f}× ({workers[1].res.rps:.0f} vs {workers[0].res.rps:.0f} req/s, translated, c=64, unpinned"
        ceiling = workers_ceiling(workers[0], 2, os.cpu_count() or 1)
        if ceiling is not None:  # the load generator and the mock take their share of the same cores
            shown += f"; at most {ceiling:.2f}× on this machine's {os.cpu_count()} cores"
        shown += ")"
        rows.append(Target("`--workers 2` vs one worker, throughput", "≥ 1.7×", shown, ratio >= 1.7))
    return rows
