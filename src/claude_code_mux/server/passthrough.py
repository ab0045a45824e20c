"""Any other ``/v1/*`` request (batches, files, …) is proxied unchanged to the default Anthropic provider."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from claude_code_mux.errors import NotFound, UpstreamError
from claude_code_mux.providers.anthropic import forward_headers, response_headers
from claude_code_mux.providers.base import Provider
from claude_code_mux.providers.credentials import auth_headers
from claude_code_mux.routing.plan import resolve_model
from claude_code_mux.runtime import Runtime
from claude_code_mux.server.body import check_client_auth, lower_headers
from claude_code_mux.server.state import HOLDER


def default_anthropic(rt: Runtime) -> Provider | None:
    """The Anthropic-dialect provider serving ``router.default``, else the first one configured."""
    for cand in resolve_model(rt.config.router.default, rt.config):
        p = rt.providers.get(cand.provider)
        if p is not None and p.dialect == "anthropic":
            return p
    return next((p for p in rt.providers.values() if p.dialect == "anthropic"), None)


async def handle_passthrough(request: web.Request) -> web.StreamResponse:
    rt = request.app[HOLDER].current
    headers = lower_headers(request)
    check_client_auth(rt, headers)
    provider = default_anthropic(rt)
    if provider is None:
        raise NotFound(f"{request.path} needs an Anthropic-dialect provider; none is configured")
    out = forward_headers(headers, provider)
    out.update(
        await auth_headers(
            provider, headers, router_key=rt.router_key(), tokens=rt.tokens, oauth_beta=rt.config.oauth.beta
        )
    )
    url = provider.base_url + request.path_qs
    data = await request.read() if request.can_read_body else None
    session = rt.sessions[provider.name]
    try:
        upstream = await session.request(request.method, url, data=data, headers=out)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise UpstreamError(f"upstream unavailable: {provider.name}: {type(exc).__name__}") from None
    try:
        resp = web.StreamResponse(status=upstream.status, headers=response_headers(upstream))
        resp.headers["x-ccm-provider"] = provider.name
        await resp.prepare(request)
        async for chunk in upstream.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        upstream.close()
