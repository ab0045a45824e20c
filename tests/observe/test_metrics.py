"""The metrics observer keeps plain counters and renders them at scrape time: its exposition must be what
``prometheus_client``'s own ``Counter`` and ``Histogram`` print for the same requests (names, labels, buckets,
``_created`` series, order), and recording a request must not import ``prometheus_client``."""

from __future__ import annotations

import re
import subprocess
import sys

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from claude_code_mux.observe.metrics import Metrics
from claude_code_mux.observe.record import AttemptRecord, RequestRecord

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Reference:
    """The observer as it was written on prometheus_client's metric classes."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "ccm_requests",
            "Requests by route, provider, model and status",
            ["route", "provider", "model", "status"],
            registry=r,
        )
        self.attempts = Counter(
            "ccm_upstream_attempts", "Upstream attempts by provider and outcome", ["provider", "outcome"], registry=r
        )
        self.failovers = Counter("ccm_failovers", "Requests that needed more than one attempt", registry=r)
        self.ttfb = Histogram(
            "ccm_ttfb_seconds", "Time to first byte to the client", ["provider"], buckets=_BUCKETS, registry=r
        )
        self.duration = Histogram(
            "ccm_request_duration_seconds", "Whole request duration", ["provider"], buckets=_BUCKETS, registry=r
        )
        self.tokens = Counter(
            "ccm_tokens", "Tokens by provider, model and kind", ["provider", "model", "kind"], registry=r
        )

    def __call__(self, rec: RequestRecord) -> None:
        provider = rec.provider or "none"
        model = rec.model or "none"
        route = (rec.route or "none").split(":", 1)[0]
        self.requests.labels(route, provider, model, str(rec.status)).inc()
        for a in rec.attempts:
            self.attempts.labels(a.provider or "none", "ok" if a.error is None else "error").inc()
        if len(rec.attempts) > 1:
            self.failovers.inc()
        if rec.ttfb_ms is not None:
            self.ttfb.labels(provider).observe(rec.ttfb_ms / 1000)
        self.duration.labels(provider).observe(rec.total_ms / 1000)
        for key, kind in (
            ("input_tokens", "input"),
            ("output_tokens", "output"),
            ("cache_read_input_tokens", "cache_read"),
            ("cache_creation_input_tokens", "cache_write"),
        ):
            n = rec.usage.get(key)
            if n:
                self.tokens.labels(provider, model, kind).inc(n)


def _records() -> list[RequestRecord]:
    ok = AttemptRecord("one", "m1", 200, None, 12.5)
    bad = AttemptRecord("one", "m1", 529, "one: HTTP 529", 3.0)
    other = AttemptRecord("two", "m2", 200, None, 40.0)
    return [
        RequestRecord(
            "a", 1.0, "messages", 200, 4.0, "c", "default", "one", "m1", True, 1.0, (ok,), {"input_tokens": 5}
        ),
        RequestRecord(
            "b",
            2.0,
            "messages",
            200,
            5000.0,
            "c",
            "long_context:9>8",
            "two",
            "m2",
            False,
            4999.9,
            (bad, other),
            {"input_tokens": 100, "output_tokens": 7, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2},
        ),
        RequestRecord("c", 3.0, "count_tokens", 404, 0.3, error="no route", error_type="not_found_error"),
        RequestRecord("d", 4.0, "messages", 599, 10.0, None, "default", "one", "m1", True, 5.0, (ok,)),
        RequestRecord("e", 5.0, "messages", 200, 400_000.0, provider="one", model="m1", ttfb_ms=0.0),  # > 300 s
        RequestRecord("f", 6.0, "messages", 200, 25.0, provider="one", model="m1", ttfb_ms=10.0),  # on a bound
    ]


def _same_times(text: str) -> str:
    return re.sub(r"(_created(?:\{[^}]*\})?) \S+", r"\1 T", text)


def test_the_exposition_is_prometheus_clients_own() -> None:
    new, ref = Metrics(), Reference()
    assert _same_times(generate_latest(new.registry).decode()) == _same_times(generate_latest(ref.registry).decode())
    for rec in _records() * 3:
        new(rec)
        ref(rec)
    text = generate_latest(new.registry).decode()
    assert 'ccm_requests_total{model="m2",provider="two",route="long_context",status="200"} 3.0' in text
    assert 'ccm_request_duration_seconds_bucket{le="+Inf",provider="one"} 12.0' in text
    assert _same_times(text) == _same_times(generate_latest(ref.registry).decode())


def test_a_negative_token_count_is_not_counted_and_the_rest_still_is() -> None:
    m = Metrics()
    m(
        RequestRecord(
            "a", 1.0, "messages", 200, 4.0, provider="p", model="m", usage={"input_tokens": -5, "output_tokens": 2}
        )
    )
    text = generate_latest(m.registry).decode()
    assert 'kind="input"' not in text
    assert 'ccm_tokens_total{kind="output",model="m",provider="p"} 2.0' in text
    assert 'ccm_request_duration_seconds_count{provider="p"} 1.0' in text


def test_recording_a_request_does_not_import_prometheus_client() -> None:
    code = (
        "import sys\n"
        "from claude_code_mux.observe.metrics import Metrics\n"
        "from claude_code_mux.observe.record import RequestRecord\n"
        "Metrics()(RequestRecord('a', 1.0, 'messages', 200, 4.0, usage={'input_tokens': 1}))\n"
        "assert 'prometheus_client' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
