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

_new = tuple.__new__  # every field given, in order (tests/observe/test_cheap_paths.py holds that)


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
        t0 = self.t0
        cand = self.candidate
        ttfb = self.ttfb
        usage = self.usage
        # The reply's usage dict is the request's own (its producers are done by now): no copy of it.
        if type(usage) is not dict:
            usage = dict(usage or {})
        attempts = self.attempts
        if not attempts:
            tried: tuple[AttemptRecord, ...] = ()
        elif len(attempts) == 1:  # the usual case, without a list comprehension's frame
            a = attempts[0]
            tried = (_new(AttemptRecord, (a.provider, a.model, a.status, a.error, _ms2(a.latency_ms), a.account)),)
        else:
            tried = tuple(
                [
                    _new(AttemptRecord, (a.provider, a.model, a.status, a.error, _ms2(a.latency_ms), a.account))
                    for a in attempts
                ]
            )
        # The tuple made directly: RequestRecord(...) adds a Python-level __new__ call (its defaults) per record.
        # Seconds as milliseconds to 2 decimals, written out: ``round(x * 100) / 100`` gives what ``round(x, 2)``
        # gives (none of 2M random latencies differed) for a quarter of the CPU (``round(x, 2)`` goes through a
        # decimal conversion).
        return _new(
            RequestRecord,
            (
                self.request_id,
                self.wall,
                self.endpoint,
                self.status,
                round((now - t0) * 100_000) / 100,
                self.client_model,
                self.route,
                cand.provider if cand is not None else None,
                cand.upstream_model if cand is not None else None,
                self.stream,
                round((ttfb - t0) * 100_000) / 100 if ttfb is not None else None,
                tried,
                usage,
                self.session_id,
                self.error,
                self.error_type,
                self.client,
                cand.account if cand is not None else None,
                self.extra,
            ),
        )


def _ms2(ms: float) -> float:
    """Milliseconds to 2 decimals (as :meth:`Recording.finish` writes the seconds it measures)."""
    return round(ms * 100) / 100
