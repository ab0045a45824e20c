"""In-process CPU cost of what runs after a request finishes: ``Recording.finish`` + ``Observers.emit``.

``python -m bench.obs_micro`` builds the observers a server installs (:func:`build_observers` with a home, the
statusline ``annotate`` hook as ``server/run.py`` sets it) from the benchmark's config (``bench/run.py``), and
times, with the process's CPU clock, ``observers.emit(recording.finish())`` for a streamed passthrough request
(one attempt, four token counts, a session id) at ``log_level`` "warn" and "info" (the default, and
``python -m bench``'s; the line goes to ``/dev/null``). The usage rows are built on the loop there; their
SQLite insert runs on the writer's thread: ``sqlite row`` times :meth:`UsageWriter._write` per row in batches
of ``--batch``.
Each figure is the best of ``--repeat`` rounds, in µs per request (or row).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.body import MODEL

ROUND_S = 0.3


def _best(fn: Any, n: int, repeat: int) -> float:
    """Best CPU seconds per call of ``fn(n)`` (which runs ``n`` calls) over ``repeat`` rounds."""
    fn(max(1, n // 10))
    rounds = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn(n)
        rounds.append((time.process_time() - t0) / n)
    return min(rounds)


def _recording() -> Any:
    from claude_code_mux.dispatch import Attempt
    from claude_code_mux.routing.types import Candidate
    from claude_code_mux.server.api.recording import Recording

    t0 = time.perf_counter()
    rec = Recording("messages", t0 - 0.25, "req_0123456789ab")
    rec.client = "addr:127.0.0.1"
    rec.client_model = MODEL
    rec.stream = True
    rec.session_id = "0b9c8e2a-5f1d-4c3b-9a7e-1d2c3b4a5f6e"
    rec.route = "default"
    rec.candidate = Candidate("mock-anthropic", MODEL)
    rec.attempts = (Attempt("mock-anthropic", MODEL, 200, None, 41.237),)
    rec.status = 200
    rec.ttfb = t0 - 0.2
    rec.usage = {
        "input_tokens": 12,
        "output_tokens": 345,
        "cache_read_input_tokens": 40960,
        "cache_creation_input_tokens": 2048,
    }
    rec.extra = {}
    return rec


def _config(level: str) -> Any:
    from bench.run import config_toml
    from claude_code_mux.config.load import parse_config

    return parse_config(config_toml(0, 1, level))


async def emit_cost(level: str, home: Path, n: int, repeat: int) -> float:
    from claude_code_mux.observe.hub import build_observers
    from claude_code_mux.observe.logging import Redactor, setup_logging
    from claude_code_mux.server.usage_poll import annotate_last_requests

    cfg = _config(level)
    with open(os.devnull, "w") as sink:
        logger = setup_logging(cfg.server.log_level, Redactor(), stream=sink)
        hub = build_observers(cfg, home, logger)
        annotate_last_requests(SimpleNamespace(observers=hub, current=SimpleNamespace(accounts=None)))  # type: ignore[arg-type]
        rec = _recording()
        emit, finish = hub.emit, rec.finish
        usage = hub.usage

        def run(k: int) -> None:
            for _ in range(k):
                emit(finish())
            if usage is not None:
                usage._rows.clear()  # the writer's flush would take them; it does not run in this loop

        best = _best(run, n, repeat)
        for closer in hub.closers:
            await closer()
        logging.getLogger("claude_code_mux").handlers.clear()
    return best * 1e6


def sqlite_cost(home: Path, batch: int, repeat: int) -> float:
    from claude_code_mux.observe.usage import Rows, UsageWriter

    cfg = _config("warn")
    writer = UsageWriter(lambda: cfg, home / "bench-usage.db", logging.getLogger("bench"))
    row = Rows(lambda: cfg)(_recording().finish())
    rows = [row] * batch
    writer._write(rows)  # connect, schema, WAL

    def run(k: int) -> None:
        for _ in range(k // batch):
            writer._write(rows)

    best = _best(run, batch * 40, repeat)
    writer.close()
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.obs_micro", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds per figure (best reported)")
    ap.add_argument("-n", type=int, default=20000, help="requests per round")
    ap.add_argument("--batch", type=int, default=256, help="rows per SQLite batch")
    args = ap.parse_args(argv)
    src = Path(__file__).resolve().parents[1] / "src"
    if src.is_dir() and str(src) not in sys.path and not os.environ.get("PYTHONPATH"):
        sys.path.insert(0, str(src))
    with tempfile.TemporaryDirectory(prefix="ccm-obs-") as tmp:
        home = Path(tmp)
        print("| after a request, µs CPU | per request |")
        print("|---|---|")
        for level in ("warn", "info"):
            us = asyncio.run(emit_cost(level, home / level, args.n, args.repeat))
            print(f"| finish + emit, log_level {level} | {us:.2f} |")
        us = sqlite_cost(home, args.batch, args.repeat)
        print(f"| sqlite row (writer thread, batches of {args.batch}) | {us:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
