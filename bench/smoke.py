"""``python -m bench --smoke``: a handful of streamed and JSON requests per path, validated; no timing.

Besides the standard body it sends two streamed 1 MB requests asking for 2,000 deltas per path, so the
growth scenarios' bodies and the mock's in-band delta switch are checked too (a few seconds in all).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.scenarios import Scenario

if TYPE_CHECKING:
    from bench.run import Bench

STREAMED = 6
JSON = 2
BIG = Scenario("smoke 1 MB, 2000 deltas", 1, 2, 15.0, 0, (), kb=1000, deltas=2000)


async def _path(b: Bench, path: str) -> str | None:
    """None when every response on ``path`` is valid (and reached the upstream), else what went wrong."""
    seen0 = await b.upstream_count()
    problems: list[str] = []
    sent = 0
    for what, stream, n, c, sc in (
        ("stream", True, STREAMED, 2, None),
        ("json", False, JSON, 1, None),
        ("1 MB stream, 2000 deltas", True, BIG.n, BIG.c, BIG),
    ):
        res = await b.load(path, stream, timeout_s=10.0, sc=sc).run(c, n, 15.0)
        sent += res.sent
        if res.ok != n:
            kinds = "; ".join(f"{k} ×{v}" for k, v in res.errors.items())
            problems.append(f"{what} {res.ok}/{n} valid ({kinds}) {res.sample[:200]!r}")
    seen = await b.upstream_count() - seen0
    if path != "direct" and seen != sent:
        problems.append(f"the upstream saw {seen} requests for {sent} sent")
    return "; ".join(problems) or None


async def smoke(b: Bench, translation_missing: str | None) -> int:
    await b.start_upstream()
    await b.start(b.router_target())
    failed = False
    for path in ("direct", "passthrough", "translated"):
        if path == "translated" and translation_missing:
            print(f"{path}: SKIPPED ({translation_missing})", flush=True)
            continue
        problem = await _path(b, path)
        failed = failed or problem is not None
        verdict = "VALID" if problem is None else f"INVALID: {problem}"
        print(f"{path}: {verdict} (stream {STREAMED}, json {JSON}, 1 MB × 2000 deltas {BIG.n})", flush=True)
    print("smoke: FAILED" if failed else "smoke: OK")
    return 1 if failed else 0
