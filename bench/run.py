"""Orchestrator: start the mock upstream and the router, drive the load direct and through the router, report.

The router runs as ``python -m claude_code_mux --home H --config C start --port P``, pinned to core 1 with
``taskset`` when there are two cores; the mock and this process (the load generator) share core 0. Router
CPU comes from /proc/PID/stat over each scenario (warm-up included) divided by the requests sent.
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench import procs
from bench.body import MODEL, make_body
from bench.check import Invalid, check_stream
from bench.load import HEADERS, Load
from bench.report import Run, errors_text, runs_table, targets, targets_table
from bench.smoke import smoke
from bench.upstream import delta_texts

ROOT = Path(__file__).resolve().parents[1]
TRANSLATED_MODEL = "bench-openai"
# name, concurrency, max requests, seconds (full), warm-up requests, paths
SCENARIOS = (
    ("stream c=1", 1, 300, 20.0, 20, ("direct", "passthrough", "translated")),
    ("stream c=32", 32, 20_000, 20.0, 64, ("direct", "passthrough", "translated")),
    ("stream c=128", 128, 40_000, 30.0, 256, ("direct", "passthrough")),
)


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
    """The two child processes and the load generator; ``url(path)`` is where each path is served."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.pin = not args.no_pin and not args.smoke and procs.can_pin()
        self.up: subprocess.Popen[bytes] | None = None
        self.router: subprocess.Popen[bytes] | None = None
        self.up_port = 0
        self.port = procs.free_port()

    def url(self, path: str) -> str:
        port = self.up_port if path == "direct" else self.port
        return f"http://127.0.0.1:{port}/v1/messages"

    def load(self, path: str, stream: bool = True, timeout_s: float = 60.0) -> Load:
        model = TRANSLATED_MODEL if path == "translated" else MODEL
        body = make_body(model, stream, self.args.body)
        return Load(self.url(path), body, stream=stream, deltas=self.args.chunks, timeout_s=timeout_s)

    async def start_upstream(self) -> None:
        pf = self.work / "upstream.port"
        cmd = [
            sys.executable,
            "-m",
            "bench.upstream",
            "--port",
            "0",
            "--chunks",
            str(self.args.chunks),
            "--port-file",
            str(pf),
        ]
        self.up = procs.start(cmd, self.work / "upstream.log", 0 if self.pin else None, cwd=ROOT)
        for _ in range(1000):
            if pf.exists():
                self.up_port = int(pf.read_text())
                return
            if self.up.poll() is not None:
                break
            await asyncio.sleep(0.01)
        raise RuntimeError(f"mock upstream did not start; see {self.work / 'upstream.log'}")

    async def start_router(self) -> float:
        """Start the router; return seconds from spawn to the first valid streamed response."""
        home = self.work / "home"
        cfg = self.work / "config.toml"
        cfg.write_text(config_toml(self.port, self.up_port, self.args.log_level))
        cmd = [
            sys.executable,
            "-m",
            "claude_code_mux",
            "--home",
            str(home),
            "--config",
            str(cfg),
            "start",
            "--port",
            str(self.port),
        ]
        src = ROOT / "src"
        if src.is_dir():  # a checkout that is not installed still runs its own router
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
        body = make_body(MODEL, True, self.args.body).next()
        expect = "".join(delta_texts(self.args.chunks))
        t0 = time.perf_counter()
        self.router = procs.start(cmd, self.work / "router.log", 1 if self.pin else None, cwd=self.work)
        async with aiohttp.ClientSession() as s:
            while time.perf_counter() - t0 < 30:
                if self.router.poll() is not None:
                    break
                try:
                    async with s.post(self.url("passthrough"), data=body, headers=HEADERS) as r:
                        raw = await r.read()
                        if r.status == 200:
                            check_stream(raw, expect)
                            return time.perf_counter() - t0
                        raise Invalid(f"HTTP {r.status}: {raw[:300]!r}")
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.005)
        code = self.router.poll()
        why = "did not serve a request within 30 s" if code is None else f"exited with code {code}"
        tail = (self.work / "router.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"router {why}; end of its log:\n{tail}")

    async def upstream_count(self) -> int:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{self.up_port}/stats") as r:
            stats: dict[str, int] = orjson.loads(await r.read())
        return sum(v for k, v in stats.items() if k != "not_found")

    async def measure(
        self, scenario: str, path: str, c: int, n: int, secs: float, warm: int, stream: bool = True
    ) -> Run:
        assert self.up is not None and self.router is not None
        seen0 = await self.upstream_count()
        up0 = procs.cpu_seconds(self.up.pid)
        r0 = None if path == "direct" else procs.cpu_seconds(self.router.pid)
        w0 = procs.runq_wait_seconds(self.router.pid)
        res = await self.load(path, stream).run(c, n, secs, warm)
        router_cpu = None if r0 is None else procs.cpu_seconds(self.router.pid) - r0
        wait = None if r0 is None else procs.runq_wait_seconds(self.router.pid) - w0
        client = (res.client_cpu_s + procs.cpu_seconds(self.up.pid) - up0) / res.wall_s if res.wall_s else 0.0
        seen = await self.upstream_count() - seen0
        return Run(scenario, path, res, router_cpu, wait, client, None if path == "direct" else seen)

    def stop(self) -> None:
        for p in (self.router, self.up):
            if p is not None:
                procs.stop(p)


async def full(b: Bench, quick: bool, skip_translated: str | None) -> int:
    args = b.args
    load_before = os.getloadavg()[0]
    await b.start_upstream()
    start_s = await b.start_router()
    assert b.router is not None
    await asyncio.sleep(1.0)
    idle = procs.rss_mb(b.router.pid)
    runs: list[Run] = []
    c128_s = 0.0
    for name, c, n, secs, warm, paths in SCENARIOS:
        secs = args.seconds or (3.0 if quick else secs)
        c128_s = secs if c == 128 else c128_s
        for path in paths:
            if path == "translated" and skip_translated:
                continue
            print(f"  {name:<13} {path:<12}", end="", flush=True, file=sys.stderr)
            run = await b.measure(name, path, c, n, secs, warm // 2 if quick else warm)
            print(f" {run.res.rps:8.0f} req/s, {run.res.bad} errors", file=sys.stderr)
            runs.append(run)
    after = procs.rss_mb(b.router.pid)
    body = make_body(MODEL, True, args.body)
    pin = "router on core 1, mock + load generator on core 0" if b.pin else "not pinned"
    print(f"\n## claude-code-mux benchmark ({'quick' if quick else 'full'})\n")
    print(
        f"`{args.command}` — {body.size / 1000:.1f} KB request body, {args.chunks} streamed text deltas, "
        f"{pin}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"router log_level={args.log_level}, load average {load_before:.2f} before / "
        f"{os.getloadavg()[0]:.2f} after (other work on the machine skews timings; CPU ms/req the least)\n"
    )
    print(targets_table(targets(runs, start_s, idle, after, c128_s)))
    if skip_translated:
        print(f"\nOpenAI translation not measured: {skip_translated}")
    print("\n" + runs_table(runs))
    errs = errors_text(runs)
    mismatch = [r for r in runs if r.upstream_seen is not None and r.upstream_seen != r.res.sent]
    if errs:
        print("\nInvalid responses / errors:\n" + errs)
    for r in mismatch:
        print(f"\n{r.scenario}/{r.path}: the upstream saw {r.upstream_seen} requests for {r.res.sent} sent")
    if args.json:
        args.json.write_bytes(orjson.dumps([{**r.__dict__, "res": r.res.__dict__} for r in runs], default=str))
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
    args = ap.parse_args(argv)
    args.command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    args.chunks = max(1, args.chunks)
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
