"""Prometheus metrics of finished requests: requests, attempts, failovers, latency, tokens.

:class:`Metrics` is an observer: counters are updated after each request finishes (never on the byte path). The
live gauges (cooldowns, open streams, OAuth refreshes) are read at scrape time by the ``/metrics`` endpoint in
``server/admin``; this module knows no web framework.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from claude_code_mux.observe.record import RequestRecord

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """All metric objects of one server, in their own registry (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ccm_requests",
            "Requests by route, provider, model and status",
            ["route", "provider", "model", "status"],
            registry=r,
        )
        self.attempts = Counter(
            "ccm_upstream_attempts",
            "Upstream attempts by provider and outcome",
            ["provider", "outcome"],
            registry=r,
        )
        self.failovers = Counter("ccm_failovers", "Requests that needed more than one attempt", registry=r)
        self.ttfb = Histogram(
            "ccm_ttfb_seconds", "Time to first byte to the client", ["provider"], buckets=_BUCKETS, registry=r
        )
        self.duration = Histogram(
            "ccm_request_duration_seconds",
            "Whole request duration",
            ["provider"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "ccm_tokens", "Tokens by provider, model and kind", ["provider", "model", "kind"], registry=r
        )

        # Labelled children, looked up once per label set: prometheus_client's labels() validates and locks on
        # every call, which was most of this listener's cost.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            if len(self._children) > 10_000:  # label sets are bounded by config, but never grow without end
                self._children.clear()
            child = self._children[key] = metric.labels(*labels)
        return child

    def __call__(self, rec: RequestRecord) -> None:
        provider = rec.provider or "none"
        model = rec.model or "none"
        route = (rec.route or "none").split(":", 1)[0]
        self._child(self.requests, route, provider, model, str(rec.status)).inc()
        for a in rec.attempts:
            self._child(self.attempts, a.provider or "none", "ok" if a.error is None else "error").inc()
        if len(rec.attempts) > 1:
            self.failovers.inc()
        if rec.ttfb_ms is not None:
            self._child(self.ttfb, provider).observe(rec.ttfb_ms / 1000)
        self._child(self.duration, provider).observe(rec.total_ms / 1000)
        for key, kind in _TOKEN_KINDS:
            n = rec.usage.get(key)
            if n:
                self._child(self.tokens, provider, model, kind).inc(n)


_TOKEN_KINDS = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_input_tokens", "cache_read"),
    ("cache_creation_input_tokens", "cache_write"),
)
