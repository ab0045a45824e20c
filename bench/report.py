"""Markdown tables of a benchmark run: targets next to measured values, cost by body size and answer length,
the peers next to the router, and every run."""

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
    target: str = "claude-code-mux"  # or "direct", or a peer's name
    kb: int = 43
    deltas: int = 20
    peak_rss_mb: float | None = None  # sampled while the scenario ran (memory scenarios only)

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
        "| target | scenario | path | ok | errors | req/s | TTFB p50 ms | TTFB p99 ms | total p50 ms | total p99 ms "
        "| router CPU ms/req | router core | router run-queue wait ms/req | client core | upstream saw |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        res = r.res
        seen = "" if r.upstream_seen is None else f"{r.upstream_seen}/{res.sent}"
        ms = [_f(res.ms(k, q), ".3f") for k in ("ttfb", "total") for q in (0.5, 0.99)]
        cells = [r.target, r.scenario, r.path, res.ok, res.bad, f"{res.rps:.0f}", *ms]
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
            lines.append(f"- {r.target} {r.scenario}/{r.path}: {kinds}; first bad body: {r.res.sample[:200]!r}")
    return "\n".join(lines)


def find(runs: list[Run], scenario: str, path: str, target: str | None = None) -> Run | None:
    """The run of ``scenario`` on ``path`` (through ``target``; the router when None)."""
    want = target or ("direct" if path == "direct" else "claude-code-mux")
    return next((r for r in runs if r.scenario == scenario and r.path == path and r.target == want), None)


@dataclass
class Memory:
    """RSS of the target's process tree, MB: idle after start, after the standard load, peak, settled."""

    idle: float
    after: float | None = None
    peak: float | None = None
    settled: float | None = None


@dataclass
class PeerInfo:
    name: str
    start_s: float | None = None
    memory: Memory | None = None
    skipped: str | None = None


def per_delta_us(runs: list[Run], path: str, target: str | None = None) -> float | None:
    """Router CPU per streamed delta: (CPU/req of the long answers - CPU/req of the same load with 20) / extra."""
    from bench.scenarios import LONG, SIZES

    long, short = find(runs, LONG, path, target), find(runs, SIZES[0], path, target)
    if long is None or short is None or long.cpu_ms_per_req is None or short.cpu_ms_per_req is None:
        return None
    return (long.cpu_ms_per_req - short.cpu_ms_per_req) * 1000.0 / (long.deltas - short.deltas)


def growth_table(runs: list[Run]) -> str:
    """Router CPU per request by body size and per delta, each path; with the body in MB/s of router CPU."""
    from bench.scenarios import SIZES

    out = [
        "| router CPU | " + " | ".join(s.split(" c=")[0] for s in SIZES) + " | per delta (2,000-delta answers) |",
        "|---|" + "---|" * (len(SIZES) + 1),
    ]
    for path in ("passthrough", "translated"):
        cells = []
        for name in SIZES:
            r = find(runs, name, path)
            cells.append("n/a" if r is None or r.cpu_ms_per_req is None else f"{r.cpu_ms_per_req:.3f} ms/req")
        d = per_delta_us(runs, path)
        out.append(f"| {path} | " + " | ".join(cells) + f" | {_f(d)} µs |")
    return "\n".join(out)


def _ratio(a: float | None, b: float | None, fmt: str = ".1f") -> str:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:{fmt}}×"


def peers_table(runs: list[Run], start_s: float, mem: Memory, peer_runs: list[Run], infos: list[PeerInfo]) -> str:
    """One table: the router's figure, then each peer's and its ratio to the router's, per scenario and path."""
    live = [p for p in infos if p.skipped is None]
    head = "| measure | claude-code-mux | " + " | ".join(f"{p.name} | ratio" for p in live) + " |"
    out = [head, "|---|---|" + "---|---|" * len(live)]
    for sc_runs in _by_scenario(runs):
        for r in sc_runs:
            row = [f"{r.scenario}, {r.path}: CPU ms/req", _f(r.cpu_ms_per_req, ".3f")]
            row2 = [f"{r.scenario}, {r.path}: req/s", f"{r.res.rps:.0f}"]
            row3 = [f"{r.scenario}, {r.path}: TTFB p50 ms", _f(r.res.ms("ttfb", 0.5))]
            for p in live:
                q = find(peer_runs, r.scenario, r.path, p.name)
                qcpu = q.cpu_ms_per_req if q else None
                row += [_f(qcpu, ".3f"), _ratio(qcpu, r.cpu_ms_per_req, ".0f")]
                row2 += ["n/a" if q is None else f"{q.res.rps:.0f}", _ratio(q.res.rps if q else None, r.res.rps, ".3f")]
                qt = q.res.ms("ttfb", 0.5) if q else None
                row3 += [_f(qt), _ratio(qt, r.res.ms("ttfb", 0.5))]
            out += ["| " + " | ".join(x) + " |" for x in (row, row2, row3)]
    row = ["start to first served request, s", f"{start_s:.2f}"]
    rows = {k: [f"RSS {k}, MB", _f(getattr(mem, k), ".0f")] for k in ("idle", "peak", "settled")}
    for p in live:
        row += [_f(p.start_s), _ratio(p.start_s, start_s)]
        for k, cells in rows.items():
            v = getattr(p.memory, k) if p.memory else None
            cells += [_f(v, ".0f"), _ratio(v, getattr(mem, k))]
    out += ["| " + " | ".join(x) + " |" for x in (row, *rows.values())]
    skipped = [f"{p.name}: {p.skipped}" for p in infos if p.skipped]
    return "\n".join(out) + ("\n\nNot run: " + "; ".join(skipped) if skipped else "")


def _by_scenario(runs: list[Run]) -> list[list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        if r.target == "claude-code-mux":
            out.setdefault(r.scenario, []).append(r)
    return list(out.values())
