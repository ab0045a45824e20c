"""Prometheus metrics at ``GET /metrics``: requests, attempts, failovers, latency, tokens, health.

Counters are updated by a request listener after each request finishes (never on the byte path);
cooldowns, open streams and OAuth refreshes are read at scrape time by a custom collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from claude_code_mux.server.state import HOLDER, RuntimeHolder

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _LiveCollector(Collector):
    def __init__(self, holder: RuntimeHolder) -> None:
        self._holder = holder

    def collect(self) -> Iterator[Metric]:
        rt = self._holder.current
        streams = GaugeMetricFamily("ccm_active_streams", "Streams being relayed now")
        streams.add_metric([], self._holder.active_streams)
        yield streams
        cool = GaugeMetricFamily(
            "ccm_provider_cooldown_seconds",
            "Seconds left of a provider's cooldown",
            labels=["provider", "family"],
        )
        for row in rt.health.snapshot():
            cool.add_metric([str(row["provider"]), str(row["family"])], float(str(row["cooldown_remaining_s"])))
        yield cool
        refreshes = GaugeMetricFamily("ccm_oauth_refreshes", "OAuth token refreshes made by this process")
        refreshes.add_metric([], float(getattr(rt.tokens, "refresh_count", 0) or 0))
        yield refreshes


class Metrics:
    """All metric objects of one server, in their own registry (no global state)."""

    def __init__(self, holder: RuntimeHolder) -> None:
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
        r.register(_LiveCollector(holder))

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

    def observe(self, rec: dict[str, Any]) -> None:
        provider = rec.get("provider") or "none"
        model = rec.get("model") or "none"
        route = str(rec.get("route", "")).split(":", 1)[0]
        self._child(self.requests, route, provider, model, str(rec.get("status"))).inc()
        attempts = rec.get("attempts") or []
        for a in attempts:
            ok = a.get("error") is None
            self._child(self.attempts, a.get("provider") or "none", "ok" if ok else "error").inc()
        if len(attempts) > 1:
            self.failovers.inc()
        if rec.get("ttfb_ms") is not None:
            self._child(self.ttfb, provider).observe(rec["ttfb_ms"] / 1000)
        self._child(self.duration, provider).observe(rec.get("total_ms", 0) / 1000)
        usage = rec.get("usage") or {}
        for key, kind in _TOKEN_KINDS:
            n = usage.get(key)
            if n:
                self._child(self.tokens, provider, model, kind).inc(n)


_TOKEN_KINDS = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_input_tokens", "cache_read"),
    ("cache_creation_input_tokens", "cache_write"),
)


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


async def handle_metrics(request: web.Request) -> web.Response:
    data = generate_latest(request.app[METRICS].registry)
    return web.Response(body=data, headers={"content-type": "text/plain; version=0.0.4; charset=utf-8"})


def setup(app: web.Application) -> None:
    holder = app[HOLDER]
    metrics = Metrics(holder)
    app[METRICS] = metrics
    holder.listeners.append(metrics.observe)
    app.router.add_get("/metrics", handle_metrics)
