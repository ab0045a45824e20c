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

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from claude_code_mux.errors import (
    ConnectFailed,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
    UpstreamClosed,
)
from claude_code_mux.providers.http1 import (
    Http1Pool,
    Http1Response,
    UpstreamDisconnected,
    UpstreamProtocolError,
    UpstreamTimeout,
)


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

    async def read(self) -> bytes:
        """The whole (decoded) body; bounded by the transport's body limit."""
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
    """The lean HTTP/1.1 pool behind the :class:`Transport` protocol (exceptions mapped onto the error tree)."""

    def __init__(self, pool: Http1Pool | None = None) -> None:
        self.pool = pool or Http1Pool()

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts) -> UpstreamResponse:
        try:
            resp = await self.pool.request(
                "POST",
                url,
                headers=dict(headers),
                body=body,
                connect_timeout=timeouts.connect_s,
                read_timeout=timeouts.read_s,
            )
        except UpstreamTimeout as exc:
            raise TransportTimeout(str(exc) or "timed out") from None
        except UpstreamDisconnected as exc:
            raise UpstreamClosed(str(exc) or "connection closed") from None
        except UpstreamProtocolError as exc:
            raise RemoteProtocolError(str(exc)) from None
        except TimeoutError as exc:
            raise TransportTimeout(str(exc) or "timed out") from None
        except OSError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc.strerror or exc}") from None
        return _Mapped(resp)

    def close(self) -> None:
        self.pool.close()


class _Mapped:
    """An :class:`Http1Response` whose read errors come out as ``TransportError``s."""

    __slots__ = ("_resp",)

    def __init__(self, resp: Http1Response) -> None:
        self._resp = resp

    @property
    def status(self) -> int:
        return self._resp.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._resp.headers

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except (OSError, TimeoutError) as exc:
            raise _mapped(exc) from None

    async def readany(self) -> bytes:
        try:
            return await self._resp.readany()
        except (OSError, TimeoutError) as exc:
            raise _mapped(exc) from None

    async def iter_any(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.readany()
            if not chunk:
                return
            yield chunk

    def release(self) -> None:
        self._resp.release()

    def close(self) -> None:
        self._resp.close()


def _mapped(exc: BaseException) -> TransportError:
    if isinstance(exc, TimeoutError):
        return TransportTimeout(str(exc) or "timed out")
    if isinstance(exc, UpstreamProtocolError):
        return RemoteProtocolError(str(exc))
    return UpstreamClosed(str(exc) or type(exc).__name__)
