"""The one place a :class:`RequestRecord` is built: a request's facts gathered as it runs, frozen at its end.

Each request to ``/v1/messages``, ``count_tokens`` and ``/v1/chat/completions`` gets a :class:`Recording` at
arrival. Checks, routing and the relay fill it in; whatever way the request ends — served, refused (security,
auth, limits, routing), failed upstream, or abandoned by the client — the ASGI handler calls :meth:`finish`
exactly once and hands the record to the observers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from claude_code_mux.access.identity import Identity
from claude_code_mux.dispatch import Attempt
from claude_code_mux.errors import HttpError
from claude_code_mux.observe.record import AttemptRecord, RequestRecord
from claude_code_mux.routing.types import Candidate, RouteDecision


class Recording:
    """Mutable while the request runs; :meth:`finish` makes the frozen record."""

    __slots__ = (
        "attempts",
        "candidate",
        "client",
        "client_model",
        "endpoint",
        "error",
        "error_type",
        "extra",
        "key",
        "request_id",
        "route",
        "session_id",
        "status",
        "stream",
        "t0",
        "ttfb",
        "usage",
        "wall",
    )

    def __init__(self, endpoint: str, t0: float, request_id: str) -> None:
        self.endpoint = endpoint
        self.t0 = t0
        self.wall = time.time()
        self.request_id = request_id
        self.status = 0
        self.client: str | None = None
        self.client_model: str | None = None
        self.route: str | None = None
        self.candidate: Candidate | None = None
        self.attempts: Sequence[Attempt] = ()
        self.stream = False
        self.ttfb: float | None = None
        self.usage: Mapping[str, int] | None = None
        self.session_id: str | None = None
        self.error: str | None = None
        self.error_type: str | None = None
        self.key: Identity | None = None  # the gate's identity (a virtual key or the router key)
        self.extra: dict[str, str] = {}  # the gate's key_name and project, for the usage row

    def routed(self, decision: RouteDecision) -> None:
        self.route = decision.label

    def failed(self, err: HttpError) -> None:
        self.status = err.status
        self.error = err.message
        self.error_type = err.error_type
        attempts = getattr(err, "attempts", None)
        if attempts:
            self.attempts = attempts

    def finish(self) -> RequestRecord:
        now = time.perf_counter()
        cand = self.candidate
        return RequestRecord(
            request_id=self.request_id,
            time=self.wall,
            endpoint=self.endpoint,
            status=self.status,
            total_ms=round((now - self.t0) * 1000, 2),
            client_model=self.client_model,
            route=self.route,
            provider=cand.provider if cand is not None else None,
            model=cand.upstream_model if cand is not None else None,
            stream=self.stream,
            ttfb_ms=round((self.ttfb - self.t0) * 1000, 2) if self.ttfb is not None else None,
            attempts=tuple(
                AttemptRecord(a.provider, a.model, a.status, a.error, round(a.latency_ms, 2), a.account)
                for a in self.attempts
            ),
            usage=dict(self.usage or {}),
            session_id=self.session_id,
            error=self.error,
            error_type=self.error_type,
            client=self.client,
            account=cand.account if cand is not None else None,
            extra=self.extra,
        )
