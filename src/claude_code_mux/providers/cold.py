"""httpx clients for the cold paths (OAuth token calls, model discovery, the ``/v1/*`` passthrough).

The hot path has its own lean transport; these calls are rare, so a well-kept client is worth more than CPU. Every
client sends our own User-Agent and takes the same proxy settings as the provider's model traffic.
"""

from __future__ import annotations

from typing import Final

import httpx

from claude_code_mux import __version__
from claude_code_mux.providers.proxy import Proxy

USER_AGENT: Final = f"claude-code-mux/{__version__}"


def cold_client(
    proxy: Proxy | None = None, *, from_env: bool = False, connect_s: float = 10.0, read_s: float = 60.0
) -> httpx.AsyncClient:
    """A client through ``proxy`` (resolved already), or through the environment's proxies when ``from_env``."""
    return httpx.AsyncClient(
        proxy=proxy.url if proxy is not None else None,
        trust_env=from_env,  # HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and SSL_CERT_FILE) when asked
        timeout=httpx.Timeout(read_s, connect=connect_s),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )
