"""Markdown tables of a benchmark run: the targets of issue 8 next to measured values, and every run."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.load import Result


@dataclass
class Run:
    scenario: str
    path: str  # "direct" | "passthrough" | "translated"
    res: Result
    router_cpu_s: float | None = None
    router_wait_s: float | None = None  # runnable but not running: the router's core was busy elsewhere
    # CPU of load generator + mock / wall: near 100 % means the client core is the limit, not the router.
    client_core: float = 0.0
    upstream_seen: int | None = None

    @property
    def wait_ms_per_req(self) -> float | None:
        if self.router_wait_s is None or not self.res.sent:
            return None
        return self.router_wait_s * 1000.0 / self.res.sent

    @property
    def cpu_ms_per_req(self) -> float | None:
        if self.router_cpu_s is None or not self.res.sent:
            return None
        return self.router_cpu_s * 1000.0 / self.res.sent


@dataclass
class Target:
    metric: str
    target: str
    measured: str
    met: bool | None  # None: not measured


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None or math.isnan(x) else format(x, fmt)


def targets_table(rows: list[Target]) -> str:
    out = ["| metric | target | measured | |", "|---|---|---|---|"]
    for r in rows:
        mark = "—" if r.met is None else ("met" if r.met else "**missed**")
        out.append(f"| {r.metric} | {r.target} | {r.measured} | {mark} |")
    return "\n".join(out)


def runs_table(runs: list[Run]) -> str:
    out = [
        "| scenario | path | ok | errors | req/s | TTFB p50 ms | TTFB p99 ms | total p50 ms | total p99 ms "
        "| router CPU ms/req | router core | router run-queue wait ms/req | client core | upstream saw |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        res = r.res
        seen = "" if r.upstream_seen is None else f"{r.upstream_seen}/{res.sent}"
        ms = [_f(res.ms(k, q), ".3f") for k in ("ttfb", "total") for q in (0.5, 0.99)]
        cells = [r.scenario, r.path, res.ok, res.bad, f"{res.rps:.0f}", *ms]
        cpu = r.cpu_ms_per_req
        busy = "" if cpu is None else f"{cpu * res.rps / 1000:.0%}"
        cells += [_f(cpu, ".3f"), busy, _f(r.wait_ms_per_req, ".3f"), f"{r.client_core:.0%}", seen]
        out.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(out)


def errors_text(runs: list[Run]) -> str:
    lines = []
    for r in runs:
        if r.res.errors:
            kinds = ", ".join(f"{k} ×{v}" for k, v in r.res.errors.most_common(5))
            lines.append(f"- {r.scenario}/{r.path}: {kinds}; first bad body: {r.res.sample[:200]!r}")
    return "\n".join(lines)


def _find(runs: list[Run], scenario: str, path: str) -> Run | None:
    return next((r for r in runs if r.scenario == scenario and r.path == path), None)


def targets(runs: list[Run], start_s: float, idle_mb: float, after_mb: float, c128_s: float) -> list[Target]:
    rows: list[Target] = []
    for path, limit in (("passthrough", 0.6), ("translated", 1.2)):
        r = _find(runs, "stream c=32", path)
        cpu = r.cpu_ms_per_req if r else None
        label = "Anthropic passthrough" if path == "passthrough" else "OpenAI translation"
        rows.append(
            Target(
                f"router CPU per streamed request, {label} (c=32)",
                f"≤ {limit} ms",
                "n/a" if cpu is None else f"{cpu:.3f} ms",
                None if cpu is None else cpu <= limit,
            )
        )
    d1, p1, t1 = (_find(runs, "stream c=1", p) for p in ("direct", "passthrough", "translated"))
    if d1 and p1:
        added = p1.res.ms("ttfb", 0.5) - d1.res.ms("ttfb", 0.5)
        rows.append(
            Target(
                "added time-to-first-byte p50, c=1",
                "≤ 0.7 ms",
                f"{added:.3f} ms ({d1.res.ms('ttfb', 0.5):.3f} → {p1.res.ms('ttfb', 0.5):.3f})",
                added <= 0.7,
            )
        )
    if d1 and t1:
        added = t1.res.ms("ttfb", 0.5) - d1.res.ms("ttfb", 0.5)
        rows.append(Target("added TTFB p50, c=1, OpenAI translation (info)", "—", f"{added:.3f} ms", None))
    d128, p128 = _find(runs, "stream c=128", "direct"), _find(runs, "stream c=128", "passthrough")
    if d128 and p128 and d128.res.rps:
        ratio = p128.res.rps / d128.res.rps
        rows.append(
            Target(
                "throughput at c=128, streamed",
                "≥ 90 % of direct",
                f"{ratio:.0%} ({p128.res.rps:.0f} vs {d128.res.rps:.0f} req/s)",
                ratio >= 0.9,
            )
        )
    d32, p32 = _find(runs, "stream c=32", "direct"), _find(runs, "stream c=32", "passthrough")
    if d32 and p32:
        ratio = p32.res.ms("ttfb", 0.99) / d32.res.ms("ttfb", 0.99)
        rows.append(
            Target(
                "p99 TTFB at c=32",
                "≤ 1.5 × direct",
                f"{ratio:.2f} × ({p32.res.ms('ttfb', 0.99):.2f} vs {d32.res.ms('ttfb', 0.99):.2f} ms)",
                ratio <= 1.5,
            )
        )
    rows.append(Target("idle RSS", "≤ 40 MB", f"{idle_mb:.1f} MB", idle_mb <= 40))
    rows.append(
        Target(
            f"RSS after {c128_s:.0f} s at c=128 (and all other load)",
            "≤ 70 MB",
            f"{after_mb:.1f} MB",
            after_mb <= 70,
        )
    )
    rows.append(Target("start to first served request", "≤ 0.5 s", f"{start_s:.3f} s", start_s <= 0.5))
    return rows
