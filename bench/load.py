"""Closed-loop load generator: C workers, each sending its next request as soon as the last one finished.

Bounded by a request count and a duration (whichever comes first). Records time to first body byte (TTFB)
and total time of every valid response; every response is validated (:mod:`bench.check`), so a fast but
wrong router shows up as errors, not as throughput.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from bench.body import Body
from bench.check import Invalid, check_message, check_stream
from bench.upstream import delta_texts

HEADERS = {
    "content-type": "application/json",
    "accept": "application/json",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": ("claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"),
    "user-agent": "claude-cli/2.1.0 (external, cli) ccm-bench",
    "x-app": "cli",
    "x-api-key": "sk-ant-bench-mock",
}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..1) of unsorted ``values``; NaN when empty."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


@dataclass
class Result:
    concurrency: int
    sent: int = 0
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    ttfb: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sample: bytes = b""

    @property
    def ok(self) -> int:
        return len(self.total)

    @property
    def bad(self) -> int:
        return sum(self.errors.values())

    @property
    def rps(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def ms(self, which: str, q: float) -> float:
        return percentile(self.ttfb if which == "ttfb" else self.total, q) * 1000.0


class Load:
    def __init__(
        self,
        url: str,
        body: Body,
        *,
        stream: bool,
        deltas: int,
        timeout_s: float = 60.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.headers = {**HEADERS, **(headers or {})}
        self.body = body
        self.stream = stream
        self.deltas = deltas
        self.expect = "".join(delta_texts(deltas))
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _one(self, session: aiohttp.ClientSession, res: Result) -> None:
        data = self.body.next()
        res.sent += 1
        t0 = time.perf_counter()
        first = 0.0
        parts: list[bytes] = []
        try:
            async with session.post(self.url, data=data, headers=self.headers) as resp:
                async for chunk in resp.content.iter_any():
                    if not first:
                        first = time.perf_counter()
                    parts.append(chunk)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            res.errors[type(exc).__name__] += 1
            return
        end = time.perf_counter()
        raw = b"".join(parts)
        try:
            if status != 200:
                raise Invalid(f"HTTP {status}")
            if not self.stream:
                check_message(raw, self.expect)
            elif (n := check_stream(raw, self.expect)) != self.deltas:
                raise Invalid(f"{n} text deltas, expected {self.deltas}")
        except Invalid as exc:
            res.errors[str(exc)] += 1
            res.sample = res.sample or raw[:400]
            return
        res.ttfb.append((first or end) - t0)
        res.total.append(end - t0)

    async def _phase(self, session: aiohttp.ClientSession, res: Result, n: int, seconds: float) -> None:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while res.sent < n and time.perf_counter() < deadline:
                await self._one(session, res)

        await asyncio.gather(*(worker() for _ in range(res.concurrency)))

    async def run(self, concurrency: int, requests: int, seconds: float, warmup: int = 0) -> Result:
        """Warm up (not recorded), then run until ``requests`` were sent or ``seconds`` passed."""
        conn = aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=None)
        async with aiohttp.ClientSession(
            connector=conn, timeout=self.timeout, auto_decompress=False, skip_auto_headers=("User-Agent",)
        ) as session:
            if warmup:
                warm = Result(concurrency)
                await self._phase(session, warm, warmup, max(seconds, 5.0))
            res = Result(concurrency)
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            await self._phase(session, res, requests, seconds)
            res.wall_s = time.perf_counter() - t0
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
        res.client_cpu_s = ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime
        if warmup:
            res.errors.update({f"warm-up: {k}": v for k, v in warm.errors.items()})
            res.sent += warm.sent
        return res
