"""Orchestrator: start the mock upstream and the router, drive the load direct and through the router, report.

The router runs as ``python -m claude_code_mux --home H --config C start --port P``, pinned to core 1 with
``taskset`` when there are two cores; the mock and this process (the load generator) share core 0. Router
CPU comes from /proc/PID/stat over each scenario (warm-up included) divided by the requests sent. The
scenarios are in :mod:`bench.scenarios`; ``--peers`` runs them through LiteLLM and claude-code-router too
(:mod:`bench.peers`), each started the same way, and prints one table with ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import importlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import peers, procs
from bench.body import MODEL, Body, make_body
from bench.check import Invalid, check_stream
from bench.load import HEADERS, Load
from bench.peers import Target
from bench.report import Memory, PeerInfo, Run, errors_text, growth_table, peers_table, runs_table, targets_table
from bench.scenarios import ALL, SCENARIOS, WORKERS, Scenario
from bench.smoke import smoke
from bench.targets import targets
from bench.upstream import delta_texts

ROOT = Path(__file__).resolve().parents[1]
TRANSLATED_MODEL = "bench-openai"
SETTLE_S = 3.0  # after the 1 MB c=32 load, before "settled" RSS is read


def config_toml(port: int, upstream: int, log_level: str) -> str:
    return f"""\
[server]
host = "127.0.0.1"
port = {port}
log_level = "{log_level}"

[server.timeouts]
shutdown_grace_ms = 0

[router]
default = "{MODEL}"
auto_map = false

[[providers]]
name = "mock-anthropic"
provider_type = "anthropic"
auth_type = "passthrough"
base_url = "http://127.0.0.1:{upstream}"
models = ["claude-*"]

[[providers]]
name = "mock-openai"
provider_type = "openai"
base_url = "http://127.0.0.1:{upstream}/v1"
api_key = "x"

[[models]]
name = "{TRANSLATED_MODEL}"
[[models.mappings]]
provider = "mock-openai"
actual_model = "gpt-bench"
priority = 1
"""


def translation_missing() -> str | None:
    """Why the OpenAI dialect cannot be benchmarked yet, or None when it is there."""
    try:
        importlib.import_module("claude_code_mux.providers.openai_chat")
        if importlib.util.find_spec("claude_code_mux.translate.openai_stream") is None:
            return "claude_code_mux.translate.openai_stream does not exist"
    except ImportError as exc:
        return f"OpenAI dialect not importable ({exc})"
    return None


class Bench:
    """The mock upstream, the target under test (the router or a peer) and the load generator."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.pin = not args.no_pin and not args.smoke and procs.can_pin()
        self.up: subprocess.Popen[bytes] | None = None
        self.router: subprocess.Popen[bytes] | None = None  # the running target's process
        self.target: Target | None = None
        self.up_port = 0
        self._bodies: dict[tuple[str, bool, int, int], Body] = {}

    def router_target(self, workers: int = 1) -> Target:
        port = procs.free_port()
        home = self.work / f"home-{port}"
        cfg = self.work / f"config-{port}.toml"
        cfg.write_text(config_toml(port, self.up_port, self.args.log_level))
        cmd = [sys.executable, "-m", "claude_code_mux", "--home", str(home), "--config", str(cfg)]
        cmd += ["start", "--port", str(port)] + (["--workers", str(workers)] if workers > 1 else [])
        models = {"passthrough": MODEL, "translated": TRANSLATED_MODEL}
        return Target("claude-code-mux" + (f" --workers {workers}" if workers > 1 else ""), cmd, port, models)

    def url(self, path: str) -> str:
        if path == "direct":
            return f"http://127.0.0.1:{self.up_port}/v1/messages"
        assert self.target is not None
        return self.target.url()

    def body(self, path: str, stream: bool, kb: int = 43, deltas: int = 0) -> Body:
        model = self.target.models.get(path, MODEL) if self.target is not None else MODEL
        key = (model, stream, kb, deltas)
        if key not in self._bodies:
            recorded = self.args.body if kb == 43 and not deltas else None
            self._bodies[key] = make_body(model, stream, recorded, kb=0 if kb == 43 else kb, deltas=deltas)
        return self._bodies[key]

    def load(self, path: str, stream: bool = True, timeout_s: float = 60.0, sc: Scenario | None = None) -> Load:
        kb, deltas = (sc.kb, sc.deltas) if sc is not None else (43, self.args.chunks)
        marker = deltas if deltas != self.args.chunks else 0
        body = self.body(path, stream, kb, marker)
        headers = self.target.headers if self.target is not None and path != "direct" else None
        return Load(self.url(path), body, stream=stream, deltas=deltas, timeout_s=timeout_s, headers=headers)

    async def start_upstream(self) -> None:
        pf = self.work / "upstream.port"
        cmd = [sys.executable, "-m", "bench.upstream", "--port", "0", "--chunks", str(self.args.chunks)]
        cmd += ["--port-file", str(pf)]
        self.up = procs.start(cmd, self.work / "upstream.log", 0 if self.pin else None, cwd=ROOT)
        for _ in range(1000):
            if pf.exists():
                self.up_port = int(pf.read_text())
                return
            if self.up.poll() is not None:
                break
            await asyncio.sleep(0.01)
        raise RuntimeError(f"mock upstream did not start; see {self.work / 'upstream.log'}")

    async def start(self, target: Target, pin: bool = True, limit_s: float = 30.0) -> float:
        """Start ``target``; return seconds from spawn to its first valid streamed response."""
        src = ROOT / "src"
        env = dict(os.environ, **target.env)
        if src.is_dir():  # a checkout that is not installed still runs its own router
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
            # Byte-code compiled first, as an install leaves it: with PYTHONDONTWRITEBYTECODE set (as in some
            # dev shells and CI) every start would compile the router's ~300 modules again (~0.3 s here).
            compileall.compile_dir(src / "claude_code_mux", quiet=1)
        self.target = target
        body = self.body("passthrough", True).next()
        expect = "".join(delta_texts(self.args.chunks))
        log = self.work / f"{target.name.replace(' ', '')}.log"
        headers = {**HEADERS, **target.headers}
        t0 = time.perf_counter()
        self.router = procs.start(target.cmd, log, 1 if self.pin and pin else None, cwd=self.work, env=env)
        async with aiohttp.ClientSession() as s:
            while time.perf_counter() - t0 < limit_s:
                if self.router.poll() is not None:
                    break
                try:
                    async with s.post(target.url(), data=body, headers=headers) as r:
                        raw = await r.read()
                        if r.status == 200:
                            check_stream(raw, expect)
                            print(f"{target.name} serving, PID {self.router.pid}", file=sys.stderr, flush=True)
                            return time.perf_counter() - t0
                        raise Invalid(f"{target.name}: HTTP {r.status}: {raw[:300]!r}")
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.005)
        code = self.router.poll()
        why = f"did not serve a request within {limit_s:.0f} s" if code is None else f"exited with code {code}"
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{target.name} {why}; end of its log:\n{tail}")

    def stop_target(self) -> None:
        if self.router is not None:
            procs.stop(self.router)
        self.router = None

    async def upstream_count(self) -> int:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{self.up_port}/stats") as r:
            stats: dict[str, int] = orjson.loads(await r.read())
        return sum(v for k, v in stats.items() if k != "not_found")

    async def measure(self, sc: Scenario, path: str, secs: float, warm: int) -> Run:
        assert self.up is not None and self.router is not None and self.target is not None
        pid = self.router.pid
        seen0 = await self.upstream_count()
        up0 = procs.cpu_seconds(self.up.pid)
        r0 = None if path == "direct" else procs.cpu_seconds(pid)
        w0 = procs.runq_wait_seconds(pid)
        sampler = asyncio.create_task(procs.peak_rss_mb(pid)) if sc.memory and path != "direct" else None
        try:
            res = await self.load(path, sc=sc).run(sc.c, sc.n, secs, warm)
        finally:
            peak = await procs.stop_sampler(sampler)
        router_cpu = None if r0 is None else procs.cpu_seconds(pid) - r0
        wait = None if r0 is None else procs.runq_wait_seconds(pid) - w0
        client = (res.client_cpu_s + procs.cpu_seconds(self.up.pid) - up0) / res.wall_s if res.wall_s else 0.0
        seen = await self.upstream_count() - seen0
        run = Run(sc.name, path, res, router_cpu, wait, client, None if path == "direct" else seen)
        run.target = "direct" if path == "direct" else self.target.name
        run.deltas, run.kb, run.peak_rss_mb = sc.deltas, sc.kb, peak
        return run

    def stop(self) -> None:
        self.stop_target()
        if self.up is not None:
            procs.stop(self.up)


def _secs(args: argparse.Namespace, quick: bool, sc: Scenario) -> float:
    return args.seconds or (min(3.0, sc.seconds) if quick else sc.seconds)


async def _scenarios(b: Bench, quick: bool, skip: str | None, direct: bool, mem: Memory | None) -> list[Run]:
    runs: list[Run] = []
    assert b.router is not None and b.target is not None
    for sc in SCENARIOS:
        if b.args.groups and sc.group not in b.args.groups:
            continue
        if b.args.scenario and sc.name != b.args.scenario:
            continue
        for path in sc.paths:
            if (path == "translated" and skip) or (path == "direct" and not direct):
                continue
            if b.args.path and path != b.args.path:
                continue
            print(f"  {b.target.name[:18]:<18} {sc.name:<16} {path:<12}", end="", flush=True, file=sys.stderr)
            run = await b.measure(sc, path, _secs(b.args, quick, sc), sc.warm // 2 if quick else sc.warm)
            print(f" {run.res.rps:8.1f} req/s, {run.res.bad} errors", file=sys.stderr)
            runs.append(run)
            if mem is not None and run.peak_rss_mb is not None:
                mem.peak = max(mem.peak or 0.0, run.peak_rss_mb)
        if mem is not None and sc.name == "stream c=128":
            mem.after = procs.rss_mb(b.router.pid)
        if mem is not None and sc.memory:
            await asyncio.sleep(SETTLE_S)
            mem.settled = procs.rss_mb(b.router.pid)
    return runs


async def _workers(b: Bench, quick: bool) -> list[Run]:
    """Throughput with one worker and with ``--workers 2``, neither pinned (all cores shared with the client)."""
    runs: list[Run] = []
    for n in (1, 2):
        b.stop_target()
        await b.start(b.router_target(workers=n), pin=False)
        await asyncio.sleep(0.5)
        print(f"  workers={n} {WORKERS.name:<16} {WORKERS.paths[0]:<12}", end="", flush=True, file=sys.stderr)
        run = await b.measure(WORKERS, WORKERS.paths[0], _secs(b.args, quick, WORKERS), WORKERS.warm)
        print(f" {run.res.rps:8.1f} req/s, {run.res.bad} errors", file=sys.stderr)
        runs.append(run)
    b.stop_target()
    return runs


async def _peers(b: Bench, quick: bool) -> tuple[list[Run], list[PeerInfo]]:
    runs: list[Run] = []
    infos: list[PeerInfo] = []
    for name in b.args.peers:
        why = peers.missing(name)
        if why is not None:
            print(f"peer {name} skipped: {why}", file=sys.stderr)
            infos.append(PeerInfo(name, skipped=why))
            continue
        b.stop_target()
        target = peers.peer(name, b.work, procs.free_port(), b.up_port, TRANSLATED_MODEL)
        start_s = await b.start(target, limit_s=120.0)
        assert b.router is not None
        await asyncio.sleep(1.0)
        mem = Memory(idle=procs.rss_mb(b.router.pid))
        runs += await _scenarios(b, quick, None, False, mem)
        infos.append(PeerInfo(name, start_s=start_s, memory=mem))
        b.stop_target()
    return runs, infos


async def full(b: Bench, quick: bool, skip_translated: str | None) -> int:
    args = b.args
    load_before = os.getloadavg()[0]
    await b.start_upstream()
    start_s = await b.start(b.router_target())
    assert b.router is not None
    await asyncio.sleep(1.0)
    mem = Memory(idle=procs.rss_mb(b.router.pid))
    runs = await _scenarios(b, quick, skip_translated, True, mem)
    worker_runs = [] if args.no_workers else await _workers(b, quick)
    peer_runs, peer_infos = await _peers(b, quick)
    pin = "router on core 1, mock + load generator on core 0" if b.pin else "not pinned"
    print(f"\n## claude-code-mux benchmark ({'quick' if quick else 'full'})\n")
    print(
        f"`{args.command}` — {b.body('passthrough', True).size / 1000:.1f} KB standard request body, "
        f"{args.chunks} streamed text deltas, {pin}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"router log_level={args.log_level}, load average {load_before:.2f} before / "
        f"{os.getloadavg()[0]:.2f} after (other work on the machine skews timings; CPU ms/req the least)\n"
    )
    print(targets_table(targets(runs, start_s, mem, worker_runs)))
    if skip_translated:
        print(f"\nOpenAI translation not measured: {skip_translated}")
    print("\n### How cost grows with the work\n\n" + growth_table(runs))
    if peer_infos:
        print("\n### Peers, same scenarios, same run\n\n" + peers_table(runs, start_s, mem, peer_runs, peer_infos))
    all_runs = runs + worker_runs + peer_runs
    print("\n### Every run\n\n" + runs_table(all_runs))
    errs = errors_text(runs + worker_runs)
    mismatch = [r for r in runs + worker_runs if r.upstream_seen is not None and r.upstream_seen != r.res.sent]
    if errs:
        print("\nInvalid responses / errors:\n" + errs)
    if peer_runs and (perrs := errors_text(peer_runs)):
        print("\nPeers' invalid responses / errors (not the router's):\n" + perrs)
    for r in mismatch:
        print(f"\n{r.scenario}/{r.path}: the upstream saw {r.upstream_seen} requests for {r.res.sent} sent")
    if args.json:
        args.json.write_bytes(orjson.dumps([{**r.__dict__, "res": r.res.__dict__} for r in all_runs], default=str))
    return 1 if errs or mismatch else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="3 s per scenario instead of 20-30 s")
    mode.add_argument("--smoke", action="store_true", help="correctness only: a few requests per path, no timing")
    ap.add_argument("--seconds", type=float, default=0.0, help="override the duration of every scenario")
    ap.add_argument("--chunks", type=int, default=20, help="streamed text deltas per response (default 20)")
    ap.add_argument("--body", type=Path, default=None, help="a recorded request body (e.g. tests/fixtures/*.json)")
    ap.add_argument("--log-level", default="info", help="router log level (default info, as shipped)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin router / client to separate cores")
    ap.add_argument("--json", type=Path, default=None, help="also write every run as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (config, logs)")
    ap.add_argument("--no-workers", action="store_true", help="skip the one vs two workers comparison")
    groups = sorted({sc.group for sc in SCENARIOS})
    ap.add_argument("--groups", default="", help=f"run only these scenario groups ({', '.join(groups)})")
    ap.add_argument(
        "--peers",
        default="",
        help=f"also run the scenarios through these peers ({', '.join(peers.NAMES)}), installed by {peers.INSTALL}",
    )
    names = [sc.name for sc in SCENARIOS]
    ap.add_argument("--scenario", default="", choices=["", *names], help="run only this scenario (for profiling)")
    ap.add_argument("--path", default="", choices=["", *ALL], help="run only this path (for profiling)")
    args = ap.parse_args(argv)
    args.command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    args.chunks = max(1, args.chunks)
    args.groups = {g.strip() for g in args.groups.split(",") if g.strip()}
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in args.peers if p not in peers.NAMES]
    if unknown:
        ap.error(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(peers.NAMES)}")
    return args


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ccm-bench-"))
    b = Bench(args, work)
    if b.pin:
        procs.pin_self(0)
    missing = translation_missing()
    ok = False
    try:
        rc = _run(smoke(b, missing) if args.smoke else full(b, args.quick, missing))
        ok = rc == 0
        return rc
    except (RuntimeError, Invalid) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        b.stop()
        if args.keep or not ok:
            print(f"work dir (config, logs): {work}", file=sys.stderr)
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(work)
