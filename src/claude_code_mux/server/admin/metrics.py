"""``GET /metrics``: the Prometheus observer's counters plus live gauges read at scrape time (open streams,
provider cooldowns, OAuth refreshes, account quota windows and states)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.accounts.report import STATE_CODES, snapshot
from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.server.admin.context import holder_of
from claude_code_mux.server.state import RuntimeHolder

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LiveCollector(Collector):
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
        yield from account_gauges(rt.accounts)
        refreshes = GaugeMetricFamily("ccm_oauth_refreshes", "OAuth token refreshes made by this process")
        refreshes.add_metric([], float(getattr(rt.tokens, "refresh_count", 0) or 0))
        yield refreshes


def account_gauges(router: AccountRouter | None) -> Iterator[Metric]:
    """Per pooled account: each quota window's utilization (0-1) and the state (0 ok, 1 soft, 2 hard)."""
    if router is None:
        return
    util = GaugeMetricFamily(
        "ccm_quota_utilization", "Latest quota window utilization of an account (0-1)", labels=["account", "window"]
    )
    state = GaugeMetricFamily(
        "ccm_account_state", "Account state: 0 ok, 1 soft limit, 2 hard limit", labels=["account"]
    )
    for row in snapshot(router):
        account = str(row["account"])
        state.add_metric([account], float(STATE_CODES[row["state"]]))
        for window, w in row["windows"].items():
            if isinstance(w.get("utilization"), int | float):
                util.add_metric([account, str(window)], float(w["utilization"]))
    yield util
    yield state


async def handle_metrics(request: Request) -> Response:
    holder = holder_of(request)
    live = CollectorRegistry(auto_describe=False)
    live.register(LiveCollector(holder))
    metrics = holder.observers.metrics
    data = (generate_latest(metrics.registry) if metrics is not None else b"") + generate_latest(live)
    return Response(data, headers={"content-type": CONTENT_TYPE})


def routes() -> list[BaseRoute]:
    return [Route("/metrics", handle_metrics, methods=["GET"])]
