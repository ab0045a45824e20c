"""The upstream transport seam: how a dialect POSTs to a provider and reads the answer.

In the style of httpx's transports: a dialect is handed one :class:`Transport` per provider (built by the
runtime) and never sees which HTTP client is behind it. The lean HTTP/1.1 client
(:mod:`claude_code_mux.providers.http1`) is the transport for all model traffic; tests may hand a dialect any
object that satisfies the protocol.

Every failure to reach the upstream or to read its answer is raised as a
:class:`claude_code_mux.errors.TransportError` (or a subclass); nothing else escapes the seam, so a dialect
catches exactly one exception family.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from claude_code_mux.errors import TransportError
from claude_code_mux.providers.http1 import Http1Pool
from claude_code_mux.providers.proxy import Proxy


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long to wait: to connect (and tunnel), and for each read (first byte and between chunks)."""

    connect_s: float = 10.0
    read_s: float = 600.0


class UpstreamResponse(Protocol):
    """An answer whose body is read as it arrives. ``release`` or ``close`` must always be called."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Lower-cased names; repeated headers joined with ", "."""
        ...

    async def read(self, limit: int | None = None) -> bytes:
        """The whole (decoded) body; over ``limit`` (the transport's body limit by default) it raises."""
        ...

    async def readany(self) -> bytes:
        """The body bytes available now (waiting for some if none); b"" at the end of the body."""
        ...

    def iter_any(self) -> AsyncIterator[bytes]: ...

    def release(self) -> None:
        """Back to the pool when the body was read to its end, else the connection is closed."""
        ...

    def close(self) -> None:
        """Close the connection (cancels an unfinished answer)."""
        ...


class Transport(Protocol):
    """One provider's way out."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts) -> UpstreamResponse:
        """Send one POST and wait for the response head; raises ``TransportError`` on failure."""
        ...

    def close(self) -> None:
        """Close idle connections; later posts fail."""
        ...


class Http1Transport:
    """The lean HTTP/1.1 pool behind the :class:`Transport` protocol.

    The pool raises only ``TransportError``s for the network and the upstream's answer; what is left to map
    here is our own misuse (a closed pool, a header that cannot be sent).
    """

    def __init__(
        self, pool: Http1Pool | None = None, *, proxy: Proxy | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.pool = pool or Http1Pool(proxy=proxy, ssl_context=ssl_context)

    def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts
    ) -> Coroutine[Any, Any, UpstreamResponse]:
        # A plain function: the checks run now (the pool's misuse errors mapped here), and the dialect awaits the
        # pool's own coroutine, one layer less on each of its resumptions. The headers are not copied.
        try:
            return self.pool.request(
                "POST",
                url,
                headers=headers,
                body=body,
                connect_timeout=timeouts.connect_s,
                read_timeout=timeouts.read_s,
            )
        except (RuntimeError, ValueError) as exc:
            raise TransportError(f"cannot send: {exc}") from None

    def close(self) -> None:
        self.pool.close()
