"""Try candidates in order until one answers; fail over only before the first byte reaches the client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import orjson

from claude_code_mux.accounts.select import health_key
from claude_code_mux.errors import AuthenticationFailed, HttpError, UpstreamError, error_body
from claude_code_mux.providers.base import UpstreamFailure, UpstreamReply
from claude_code_mux.routing.health import Health
from claude_code_mux.routing.types import Candidate


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    model: str
    status: int | None
    error: str | None
    latency_ms: float
    account: str | None = None


@dataclass(slots=True)
class DispatchResult:
    reply: UpstreamReply
    candidate: Candidate
    attempts: list[Attempt] = field(default_factory=list)
    sticky: str = ""  # x-ccm-sticky: hit / new / moved:<reason>; empty when no pool was involved


class DispatchFailed(HttpError):
    """Every candidate failed; carries the last upstream status, body and ``retry-after``."""

    def __init__(self, err: HttpError, attempts: list[Attempt], raw_body: bytes | None = None) -> None:
        super().__init__(err.message, status=err.status, error_type=err.error_type, headers=err.headers)
        self.attempts = attempts
        self.raw_body = raw_body

    def body(self) -> bytes:
        return self.raw_body if self.raw_body is not None else super().body()


Send = Callable[[Candidate], Awaitable[UpstreamReply]]


def _as_http_error(f: UpstreamFailure) -> tuple[HttpError, bytes | None]:
    headers = {k: v for k, v in f.headers.items() if k in ("retry-after", "x-should-retry", "request-id")}
    if f.status is None:
        return UpstreamError(f"upstream unavailable: {f.message}", status=502, headers=headers), None
    err = HttpError(f"upstream error: {f.message}", status=f.status, error_type=f.error_type, headers=headers)
    if not f.body:
        return err, None
    try:
        parsed = orjson.loads(f.body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("type") == "error" and isinstance(parsed.get("error"), dict):
        return err, f.body
    text = f.body[:500].decode("utf-8", "replace").strip()
    return err, error_body(err.error_type, f"{f.message}: {text}")


async def dispatch(
    candidates: Sequence[Candidate],
    send: Send,
    *,
    health: Health | None = None,
    retry_budget_s: float = 10.0,
    failover_statuses: frozenset[int] = frozenset(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DispatchResult:
    """Run ``send`` over ``candidates``; one extra pass is made when ``retry-after`` fits the budget."""
    attempts: list[Attempt] = []
    last: UpstreamFailure | None = None
    deadline = time.monotonic() + retry_budget_s
    for round_no in range(2):
        waits: list[float] = []
        for cand in candidates:
            t0 = time.perf_counter()
            try:
                reply = await send(cand)
            except UpstreamFailure as f:
                ms = (time.perf_counter() - t0) * 1000
                attempts.append(Attempt(cand.provider, cand.upstream_model, f.status, f.message, ms, cand.account))
                last = f
                retryable = f.retryable or (f.status in failover_statuses)
                # A pool's revoked key or lost login is that account's problem: the next account may serve.
                pooled_auth = cand.account is not None and f.status in (401, 403)
                if health is not None and (retryable or pooled_auth):
                    retry_after = 300.0 if pooled_auth else f.retry_after
                    health.record_failure(health_key(cand.provider, cand.account), cand.upstream_model, retry_after)
                if pooled_auth:
                    continue
                if not retryable:
                    err, raw = _as_http_error(f)
                    raise DispatchFailed(err, attempts, raw) from None
                if f.retry_after is not None:
                    waits.append(f.retry_after)
                continue
            except AuthenticationFailed as exc:
                # A missing login on one provider: try the others, report it if nothing else works.
                ms = (time.perf_counter() - t0) * 1000
                attempts.append(Attempt(cand.provider, cand.upstream_model, 401, exc.message, ms, cand.account))
                last = UpstreamFailure(exc.message, status=401, body=exc.body(), retryable=False)
                continue
            ms = (time.perf_counter() - t0) * 1000
            attempts.append(Attempt(cand.provider, cand.upstream_model, reply.status, None, ms, cand.account))
            if health is not None:
                health.record_success(health_key(cand.provider, cand.account), cand.upstream_model)
            return DispatchResult(reply, cand, attempts)
        # Every candidate failed in this round. Honour retry-after once, within the budget.
        if round_no == 0 and waits and last is not None and last.retryable:
            wait = min(waits)
            if wait > 0 and time.monotonic() + wait <= deadline:
                await sleep(wait)
                continue
        break
    assert last is not None
    err, raw = _as_http_error(last)
    raise DispatchFailed(err, attempts, raw)
