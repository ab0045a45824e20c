"""Any other ``/v1/*`` request (batches, files, …) is proxied unchanged to the default Anthropic provider.

The path is checked before credentials are added: after any number of percent-decodings it must stay under
``/v1/`` with no dot segments, backslashes or NULs, so ``/v1/%2e%2e/<path>`` cannot reach another path on the
provider's host with the provider's credentials. The body is read within ``server.max_body_bytes``; the
upstream is reached through the runtime's cold-path client (httpx).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import unquote

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from claude_code_mux.errors import InvalidRequest, NotFound, UpstreamError
from claude_code_mux.providers.anthropic import forward_headers
from claude_code_mux.providers.base import HOP_BY_HOP, Provider
from claude_code_mux.providers.credentials import auth_headers
from claude_code_mux.routing.plan import resolve_model
from claude_code_mux.runtime import Runtime
from claude_code_mux.server.api.body import read_body

if TYPE_CHECKING:
    pass

PASSTHROUGH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_MAX_DECODINGS = 4


def default_anthropic(rt: Runtime) -> Provider | None:
    """The Anthropic-dialect provider serving ``router.default``, else the first one configured."""
    for cand in resolve_model(rt.config.router.default, rt.config):
        p = rt.providers.get(cand.provider)
        if p is not None and p.dialect == "anthropic":
            return p
    return next((p for p in rt.providers.values() if p.dialect == "anthropic"), None)


def _traverses(path: str) -> bool:
    if "\\" in path or "\x00" in path or not path.startswith("/v1/"):
        return True
    return any(seg.split(";", 1)[0] in (".", "..") for seg in path.split("/"))


def safe_v1_path(raw_path: str) -> str:
    """``raw_path`` (as the client sent it) when no decoding of it leaves ``/v1/``; 400 otherwise."""
    cur = raw_path
    for _ in range(_MAX_DECODINGS):
        if _traverses(cur):
            raise InvalidRequest(f"path {raw_path[:200]!r} leaves /v1/ (dot segments are not allowed)")
        nxt = unquote(cur, errors="strict") if "%" in cur else cur
        if nxt == cur:
            return raw_path
        cur = nxt
    raise InvalidRequest(f"path {raw_path[:200]!r} is percent-encoded too many times")


async def passthrough(request: Request) -> Response:
    import httpx  # cold path: not imported at start-up

    holder = request.app.state.holder
    rt: Runtime = holder.current
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    try:
        path = safe_v1_path(raw_path.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the request path must be ASCII with valid percent-encoding") from None
    provider = default_anthropic(rt)
    if provider is None:
        raise NotFound(f"{request.url.path} needs an Anthropic-dialect provider; none is configured")
    s = rt.config.server
    headers = {k: v for k, v in request.headers.items()}
    body = await read_body(request.receive, s.max_body_bytes, declared=headers.get("content-length"))
    out = forward_headers(headers, provider)
    out.update(
        await auth_headers(
            provider, headers, router_key=rt.router_key(), tokens=rt.tokens, oauth_beta=rt.config.oauth.beta
        )
    )
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = provider.base_url + path + ("?" + query if query else "")
    client = rt.cold_client(provider.name)
    try:
        upstream = await client.send(
            client.build_request(request.method, url, headers=out, content=body or None), stream=True
        )
    except httpx.HTTPError as exc:
        raise UpstreamError(f"upstream unavailable: {provider.name}: {type(exc).__name__}") from None
    resp_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
    resp_headers["x-ccm-provider"] = provider.name

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_bytes():
                yield chunk
        except httpx.HTTPError:
            return  # the upstream broke off: end the response (the client sees a truncated body)
        finally:
            await upstream.aclose()

    return StreamingResponse(
        relay(), status_code=upstream.status_code, headers=resp_headers, background=BackgroundTask(upstream.aclose)
    )
