"""The benchmark's ``--workers 2`` row says how much two workers can gain when the load generator and the mock
upstream share the machine's cores with them."""

from __future__ import annotations

import pytest
from bench.load import Result
from bench.report import Run
from bench.targets import workers_ceiling


def _run(router_ms: float, others_ms: float, sent: int = 1000, wall_s: float = 2.0) -> Run:
    res = Result(64)
    res.sent, res.wall_s = sent, wall_s
    return Run(
        "workers c=64",
        "translated",
        res,
        router_cpu_s=router_ms * sent / 1000,
        client_core=others_ms * sent / 1000 / wall_s,
    )


def test_the_ceiling_of_two_workers_on_two_shared_cores() -> None:
    # Measured on the 2-core VM: router 1.14 ms, load generator + mock 0.73 ms per request.
    assert workers_ceiling(_run(1.14, 0.73), 2, 2) == pytest.approx(2 * 1.14 / 1.87)
    assert workers_ceiling(_run(1.0, 0.176), 2, 2) == pytest.approx(1.7, abs=0.01)  # what 1.7x would need
    assert workers_ceiling(_run(1.0, 0.5), 2, 8) == pytest.approx(2.0)  # enough cores: the router's own bound
    assert workers_ceiling(_run(1.0, 0.5, sent=0), 2, 2) is None
