"""The record of one request that reached the router, as every observer sees it.

Built in one place by the server for every request to ``/v1/messages``, ``count_tokens`` and
``/v1/chat/completions`` — served, failed upstream, or refused by routing, auth or limits — and handed to the
observers (log line, admin feed, metrics, usage, trace, statusline file). Observers import neither the web
framework nor ``server/``: this module is their whole view of a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

# The default ``usage`` and ``extra``: one shared, read-only empty mapping.
EMPTY: Mapping[str, Any] = MappingProxyType({})

# The records are named tuples rather than frozen dataclasses: as immutable, and built once per request on the
# event loop for a fifth of the CPU (a frozen dataclass sets each field through ``object.__setattr__``: ~5 µs
# for a RequestRecord on the benchmark box, ~0.7 µs as a tuple).


class AttemptRecord(NamedTuple):
    """One try at one candidate."""

    provider: str
    model: str
    status: int | None = None  # the upstream's HTTP status, None when no answer came
    error: str | None = None  # why the attempt failed (redacted, one line)
    latency_ms: float | None = None
    account: str | None = None  # the credential used, when a provider holds several


class RequestRecord(NamedTuple):
    """What happened to one request. ``status`` is what the client got (499: it went away; 599: a stream
    that failed after it started)."""

    request_id: str
    time: float  # epoch seconds at arrival
    endpoint: str  # "messages" | "count_tokens" | "chat_completions"
    status: int
    total_ms: float
    client_model: str | None = None
    route: str | None = None  # the rule and why, e.g. "long_context:72431>60000"; None if refused before routing
    provider: str | None = None  # the candidate that answered
    model: str | None = None
    stream: bool = False
    ttfb_ms: float | None = None
    attempts: tuple[AttemptRecord, ...] = ()
    usage: Mapping[str, int] = EMPTY
    session_id: str | None = None
    error: str | None = None  # the refusal or failure the client saw (its message), None on success
    error_type: str | None = None  # the Anthropic error type of that failure
    client: str | None = None  # who the client is: "key:<name>" or "addr:<ip>" (never a secret)
    account: str | None = None
    extra: Mapping[str, Any] = EMPTY  # observer-specific additions (e.g. cost)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (admin feed, trace files, the statusline's last-request file)."""
        return {
            "request_id": self.request_id,
            "time": self.time,
            "endpoint": self.endpoint,
            "route": self.route,
            "client_model": self.client_model,
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "stream": self.stream,
            "ttfb_ms": self.ttfb_ms,
            "total_ms": self.total_ms,
            "attempts": [
                {
                    "provider": a.provider,
                    "model": a.model,
                    "status": a.status,
                    "error": a.error,
                    "latency_ms": a.latency_ms,
                    "account": a.account,
                }
                for a in self.attempts
            ],
            "usage": dict(self.usage),
            "session_id": self.session_id,
            "error": self.error,
            "error_type": self.error_type,
            "client": self.client,
            "account": self.account,
            **self.extra,
        }


Observer = Callable[[RequestRecord], None]
