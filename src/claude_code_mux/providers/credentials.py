"""Upstream credentials for a provider: API key, the client's own (passthrough) or an OAuth bearer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from claude_code_mux.access.keystore import PREFIX as VIRTUAL_KEY_PREFIX
from claude_code_mux.errors import AuthenticationFailed
from claude_code_mux.providers.base import Provider


class TokenSource(Protocol):
    async def get_access_token(self, provider_id: str) -> str: ...

    async def force_refresh(self, provider_id: str, rejected_token: str) -> str: ...


def merge_betas(client: str | None, extra: str) -> str:
    """Client betas merged with ours, order kept, duplicates dropped."""
    seen: list[str] = []
    for part in [*(client or "").split(","), *extra.split(",")]:
        p = part.strip()
        if p and p not in seen:
            seen.append(p)
    return ",".join(seen)


def _client_credential(headers: Mapping[str, str], router_key: str | None) -> dict[str, str]:
    """The client's own credential; never the router's key nor a claude-code-mux virtual key (``ccm-``)."""
    out: dict[str, str] = {}
    key = headers.get("x-api-key")
    if key and key.strip() != router_key and not key.strip().startswith(VIRTUAL_KEY_PREFIX):
        out["x-api-key"] = key
    auth = headers.get("authorization")
    if auth:
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else auth
        if token != router_key and not token.startswith(VIRTUAL_KEY_PREFIX):
            out["authorization"] = auth
    return out


async def auth_headers(
    provider: Provider,
    client_headers: Mapping[str, str],
    *,
    router_key: str | None,
    tokens: TokenSource | None,
    oauth_beta: str,
    token_override: str | None = None,
) -> dict[str, str]:
    """The headers that authenticate one upstream request for ``provider``."""
    if provider.auth_type != "oauth":
        return static_auth_headers(provider, client_headers, router_key=router_key)
    pid = provider.oauth_id
    if tokens is None:
        raise AuthenticationFailed(f"no OAuth login for {pid!r} (run: ccm login {pid})")
    token = token_override or await tokens.get_access_token(pid)
    out = {"authorization": f"Bearer {token}"}
    if provider.dialect == "anthropic":
        out["anthropic-beta"] = merge_betas(client_headers.get("anthropic-beta"), oauth_beta)
    return out


def static_auth_headers(
    provider: Provider, client_headers: Mapping[str, str], *, router_key: str | None
) -> dict[str, str]:
    """:func:`auth_headers` for every ``auth_type`` but OAuth (the ones that need no await)."""
    if provider.auth_type == "passthrough":
        creds = _client_credential(client_headers, router_key)
        if not creds:
            raise AuthenticationFailed(
                f'provider {provider.name!r} uses auth_type = "passthrough" but the client sent no '
                "credentials of its own (set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN for Claude Code)"
            )
        return creds
    secret = provider.key()
    if provider.auth_type == "none" or secret is None:
        return {}
    key = secret.get_secret_value()
    if provider.preset.auth_header == "x-api-key":
        return {"x-api-key": key}
    if provider.preset.auth_header == "api-key":  # Azure OpenAI
        return {"api-key": key}
    return {"authorization": f"Bearer {key}"}
