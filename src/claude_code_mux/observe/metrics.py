"""Prometheus metrics of finished requests: requests, attempts, failovers, latency, tokens.

:class:`Metrics` is an observer: counters are updated after each request finishes (never on the byte path). They
are plain numbers in dicts keyed by label values (a request costs a few dict updates, no locks); they become
Prometheus metric families only when ``/metrics`` is scraped, through :attr:`Metrics.registry`, and only then is
``prometheus_client`` imported. The exposition is what ``prometheus_client``'s own ``Counter`` and ``Histogram``
would print (``_total``, ``_created``, cumulative ``_bucket``, ``_count``, ``_sum``). The live gauges (cooldowns,
open streams, OAuth refreshes) are read at scrape time by the ``/metrics`` endpoint in ``server/admin``; this
module knows no web framework.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from claude_code_mux.observe.record import RequestRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_BOUNDS = (*_BUCKETS, float("inf"))
_SUM = len(_BOUNDS)  # a histogram cell: per-bucket counts, then the sum, then the creation time
_CREATED = _SUM + 1

_TOKEN_KINDS = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_input_tokens", "cache_read"),
    ("cache_creation_input_tokens", "cache_write"),
)
_TOKEN_SLOTS = tuple((i, name, kind) for i, (name, kind) in enumerate(_TOKEN_KINDS))

# name, help, label names: the counters and histograms, in the order /metrics lists them.
_REQUESTS = ("ccm_requests", "Requests by route, provider, model and status", ("route", "provider", "model", "status"))
_ATTEMPTS = ("ccm_upstream_attempts", "Upstream attempts by provider and outcome", ("provider", "outcome"))
_FAILOVERS = ("ccm_failovers", "Requests that needed more than one attempt", ())
_TTFB = ("ccm_ttfb_seconds", "Time to first byte to the client", ("provider",))
_DURATION = ("ccm_request_duration_seconds", "Whole request duration", ("provider",))
_TOKENS = ("ccm_tokens", "Tokens by provider, model and kind", ("provider", "model", "kind"))


class Metrics:
    """All metrics of one server (no global state): counters as ``{label values: [value, created]}``, histograms
    as ``{provider: [bucket counts..., sum, created]}``."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, int], list[float]] = {}
        self.attempts: dict[tuple[str, str], list[float]] = {}
        self.failovers: list[float] = [0.0, time.time()]
        self.ttfb: dict[str, list[float]] = {}
        self.duration: dict[str, list[float]] = {}
        self.tokens: dict[tuple[str, str, str], list[float]] = {}
        self._registry: CollectorRegistry | None = None
        # (rule, provider, model, status) -> the cells such a request counts in (see _cells_of): one lookup per
        # request instead of one per counter. As many keys as ``requests`` has.
        self._cells: dict[tuple[str, str | None, str | None, int], list[Any]] = {}

    def __call__(self, rec: RequestRecord) -> None:
        route = rec.route
        rule = route.partition(":")[0] if route else "none"
        key = (rule, rec.provider, rec.model, rec.status)
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells_of(key)
        cells[0][0] += 1
        attempts = rec.attempts
        if attempts:
            for a in attempts:
                akey = (a.provider or "none", "ok" if a.error is None else "error")
                cell = self.attempts.get(akey)
                if cell is None:
                    cell = self.attempts[akey] = [0.0, time.time()]
                cell[0] += 1
            if len(attempts) > 1:
                self.failovers[0] += 1
        # The histograms: the first bucket whose upper bound is >= the value (prometheus_client's rule); NaN
        # counts in no bucket.
        ttfb_ms = rec.ttfb_ms
        if ttfb_ms is not None:
            hist = cells[2]
            if hist is None:
                hist = cells[2] = _histogram(self.ttfb, key[1] or "none")
            seconds = ttfb_ms / 1000
            if seconds == seconds:
                hist[bisect_left(_BOUNDS, seconds)] += 1
            hist[_SUM] += seconds
        hist = cells[1]
        seconds = rec.total_ms / 1000
        if seconds == seconds:
            hist[bisect_left(_BOUNDS, seconds)] += 1
        hist[_SUM] += seconds
        usage = rec.usage
        if usage:
            tokens = cells[3]
            for i, name, kind in _TOKEN_SLOTS:
                n = usage.get(name)
                if n and n > 0:  # a counter only goes up: a negative count from an upstream is not counted
                    cell = tokens[i]
                    if cell is None:
                        tkey = (key[1] or "none", key[2] or "none", kind)
                        cell = self.tokens.get(tkey)
                        if cell is None:
                            cell = self.tokens[tkey] = [0.0, time.time()]
                        tokens[i] = cell
                    cell[0] += n

    def _cells_of(self, key: tuple[str, str | None, str | None, int]) -> list[Any]:
        """The cells a request of ``key`` (rule, provider, model, status) counts in: its requests counter, its
        provider's duration histogram, then (each made at its first use, as a series appears only once
        counted) its provider's ttfb histogram and its four token counters."""
        rule, provider, model, status = key
        rkey = (rule, provider or "none", model or "none", status)
        cell = self.requests.get(rkey)
        if cell is None:
            cell = self.requests[rkey] = [0.0, time.time()]
        cells = [cell, _histogram(self.duration, rkey[1]), self.ttfb.get(rkey[1]), [None] * len(_TOKEN_KINDS)]
        self._cells[key] = cells
        return cells

    @property
    def registry(self) -> CollectorRegistry:
        """A Prometheus registry reading these metrics at each scrape (imports ``prometheus_client``)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry
            from prometheus_client.registry import Collector

            metrics = self

            class _Collector(Collector):
                def collect(self) -> Iterator[Metric]:
                    return metrics.collect()

            self._registry = CollectorRegistry(auto_describe=True)
            self._registry.register(_Collector())
        return self._registry

    def collect(self) -> Iterator[Metric]:
        """The metric families, as ``prometheus_client``'s ``Counter`` and ``Histogram`` would collect them."""
        from prometheus_client import metrics as pm
        from prometheus_client.core import Metric
        from prometheus_client.utils import floatToGoString

        go: Callable[[float], str] = floatToGoString  # untyped upstream

        created = bool(getattr(pm, "_use_created", True))  # PROMETHEUS_DISABLE_CREATED_SERIES

        def counter(spec: tuple[str, str, tuple[str, ...]], cells: dict[Any, list[float]]) -> Metric:
            name, doc, labelnames = spec
            m = Metric(name, doc, "counter")
            for labels, (value, born) in list(cells.items()):
                values = dict(zip(labelnames, map(str, labels), strict=True))
                m.add_sample(name + "_total", values, value)
                if created:
                    m.add_sample(name + "_created", values, born)
            return m

        def histogram(spec: tuple[str, str, tuple[str, ...]], cells: dict[str, list[float]]) -> Metric:
            name, doc, (labelname,) = spec
            m = Metric(name, doc, "histogram")
            for provider, cell in list(cells.items()):
                acc = 0.0
                for bound, n in zip(_BOUNDS, cell, strict=False):
                    acc += n
                    m.add_sample(name + "_bucket", {labelname: provider, "le": go(bound)}, acc)
                m.add_sample(name + "_count", {labelname: provider}, acc)
                m.add_sample(name + "_sum", {labelname: provider}, cell[_SUM])
                if created:
                    m.add_sample(name + "_created", {labelname: provider}, cell[_CREATED])
            return m

        yield counter(_REQUESTS, self.requests)
        yield counter(_ATTEMPTS, self.attempts)
        yield counter(_FAILOVERS, {(): self.failovers})
        yield histogram(_TTFB, self.ttfb)
        yield histogram(_DURATION, self.duration)
        yield counter(_TOKENS, self.tokens)


def _histogram(cells: dict[str, list[float]], provider: str) -> list[float]:
    """``provider``'s histogram cell, made on first use."""
    cell = cells.get(provider)
    if cell is None:
        cell = cells[provider] = [0.0] * _SUM + [0.0, time.time()]
    return cell
