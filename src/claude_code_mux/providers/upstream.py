"""One way to POST to a provider, whichever HTTP client serves it, and to read what comes back.

A provider whose base URL our lean HTTP/1.1 client supports has an :class:`Http1Pool`
(``server.upstream_client = "fast"``, the default); otherwise its aiohttp session is used. Both dialects go
through :func:`post` and read the answer with :func:`readany` / :func:`iter_any`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp

from claude_code_mux.providers.http1 import Http1Pool, Http1Response

Upstream = aiohttp.ClientResponse | Http1Response


async def post(
    pools: Mapping[str, Http1Pool],
    sessions: Mapping[str, aiohttp.ClientSession],
    provider: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    limits: aiohttp.ClientTimeout,
) -> Upstream:
    pool = pools.get(provider)
    if pool is not None:
        return await pool.request(
            "POST",
            url,
            headers=headers,
            body=body,
            connect_timeout=limits.sock_connect or 10.0,
            read_timeout=limits.sock_read or 600.0,
        )
    return await sessions[provider].post(url, data=body, headers=headers, timeout=limits)


async def readany(resp: Upstream) -> bytes:
    if isinstance(resp, Http1Response):
        return await resp.readany()
    return await resp.content.readany()


def iter_any(resp: Upstream) -> AsyncIterator[bytes]:
    return resp.iter_any() if isinstance(resp, Http1Response) else resp.content.iter_any()
