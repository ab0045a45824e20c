"""In-process CPU cost of the router's hot-path pieces, by body size and answer length (no sockets).

``python -m bench.micro`` times, with the process's CPU clock, each piece the router runs per request or per
streamed event, on the benchmark's Claude-Code-shaped bodies (43 KB / 250 KB / 1 MB) and answers (20 and
2,000 deltas, one upstream event per read as the mock sends them):

- ``probe``: the light body decode (:meth:`Probe.parse`) plus what routing asks of it on the passthrough path;
- ``full parse``: ``orjson.loads`` of the whole body, for scale;
- ``estimate``: :func:`estimate_tokens` over the parsed body (long-context routing, local count_tokens);
- ``to_openai``: the translated path's request work (parse, translate, serialise);
- ``guard``: the passthrough :class:`StreamGuard` per delta; ``translator``: :class:`OpenAIStreamTranslator`
  per delta.

The figures are the median of ``--repeat`` rounds (each long enough to be timed); on a shared machine they
move, so compare runs made back to back. ``--json F`` writes them for a before/after diff.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.body import MODEL, synthetic
from bench.upstream import anthropic_events, openai_events

SIZES = (43, 250, 1000)
DELTAS = (20, 2000)


def cpu_per_call(fn: Callable[[], object], repeat: int, budget_s: float = 0.2) -> float:
    """Median CPU seconds per call of ``fn`` over ``repeat`` rounds of about ``budget_s`` each."""
    fn()
    n = 1
    while True:  # calibrate a round
        t0 = time.process_time()
        for _ in range(n):
            fn()
        dt = time.process_time() - t0
        if dt >= budget_s / 4 or n >= 1 << 20:
            break
        n *= 2
    n = max(1, int(n * budget_s / max(dt, 1e-6)))
    rounds = []
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        rounds.append((time.process_time() - t0) / n)
    return statistics.median(rounds)


def _body(kb: int) -> bytes:
    return orjson.dumps(synthetic(MODEL, True, kb=kb if kb > 43 else 0))


def request_pieces(kb: int, repeat: int) -> dict[str, float]:
    """µs per request of each request-side piece for a ``kb`` body."""
    from claude_code_mux.config.presets import PRESETS
    from claude_code_mux.routing.estimate import estimate_tokens
    from claude_code_mux.routing.probe import Probe
    from claude_code_mux.translate.openai_request import to_openai_request

    raw = _body(kb)
    parsed = orjson.loads(raw)
    preset = PRESETS.get("openai")

    def probe() -> None:  # what a passthrough request asks with router.long_context set (threshold 60000)
        p = Probe.parse(raw)
        for key in ("model", "stream", "max_tokens", "thinking", "output_config", "metadata"):
            p.get(key)
        p.messages_problem()
        tag = getattr(p, "may_have_tag", None)  # older trees searched the whole body
        tag(b"CCM-SUBAGENT-MODEL") if tag else p.may_contain(b"CCM-SUBAGENT-MODEL")
        bound = p.token_bound
        bound(60_000) if "at_most" in bound.__code__.co_varnames else bound()
        p.may_have_foreign_thinking()

    def translated() -> None:
        orjson.dumps(to_openai_request(orjson.loads(raw), model="gpt-bench", preset=preset))

    out = {
        "probe": cpu_per_call(probe, repeat),
        "full parse": cpu_per_call(lambda: orjson.loads(raw), repeat),
        "estimate": cpu_per_call(lambda: estimate_tokens(parsed), repeat),
        "to_openai": cpu_per_call(translated, repeat),
    }
    return {k: v * 1e6 for k, v in out.items()}


def _replay(make: Callable[[], Any], events: list[bytes], close: bool) -> Callable[[], None]:
    def run() -> None:
        obj = make()
        for ev in events:
            obj.feed(ev)
        if close:
            obj.close()

    return run


def stream_pieces(repeat: int) -> dict[str, dict[int, float]]:
    """µs per whole answer of the guard and the translator, for each answer length."""
    from claude_code_mux.translate.openai_stream import OpenAIStreamTranslator
    from claude_code_mux.wire.guard import StreamGuard

    out: dict[str, dict[int, float]] = {"guard": {}, "translator": {}}
    for n in DELTAS:
        out["guard"][n] = 1e6 * cpu_per_call(_replay(StreamGuard, anthropic_events(n), True), repeat)
        tr = _replay(lambda: OpenAIStreamTranslator(model=MODEL, message_id="msg_bench"), openai_events(n), True)
        out["translator"][n] = 1e6 * cpu_per_call(tr, repeat)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds per figure (median reported)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    src = Path(__file__).resolve().parents[1] / "src"
    if src.is_dir() and str(src) not in sys.path and not os.environ.get("PYTHONPATH"):
        sys.path.insert(0, str(src))  # this checkout's router (PYTHONPATH set: the caller chose one)
    req = {kb: request_pieces(kb, args.repeat) for kb in SIZES}
    names = list(req[SIZES[0]])
    print("| per request, µs CPU | " + " | ".join(f"{kb} KB" for kb in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{req[kb][name]:.0f}" for kb in SIZES) + " |")
    st = stream_pieces(args.repeat)
    print("\n| per streamed answer, µs CPU | " + " | ".join(f"{n} deltas" for n in DELTAS) + " | per delta |")
    print("|---|" + "---|" * (len(DELTAS) + 1))
    lo, hi = DELTAS[0], DELTAS[-1]
    for name, by_n in st.items():
        per = (by_n[hi] - by_n[lo]) / (hi - lo)
        print(f"| {name} | " + " | ".join(f"{by_n[n]:.0f}" for n in DELTAS) + f" | {per:.2f} |")
    if args.json:
        args.json.write_bytes(orjson.dumps({"request": req, "stream": st}, option=orjson.OPT_NON_STR_KEYS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
