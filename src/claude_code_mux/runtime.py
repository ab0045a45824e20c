"""Runtime: the config plus everything built from it (providers, transports, dialects, health).

Each provider gets one upstream :class:`~claude_code_mux.providers.transport.Transport` (the lean HTTP/1.1 pool,
through the provider's outbound proxy if any) for model traffic, and on demand one ``httpx.AsyncClient`` with the
same proxy settings for cold paths (``cold_client``: the ``/v1/*`` passthrough, model discovery).

Reload builds a new Runtime and swaps one reference; in-flight requests finish on the old one.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.accounts.wiring import build_account_router
from claude_code_mux.config.presets import preset_for
from claude_code_mux.config.schema import Config
from claude_code_mux.providers.anthropic import AnthropicDialect
from claude_code_mux.providers.base import Dialect, Provider
from claude_code_mux.providers.credentials import TokenSource
from claude_code_mux.providers.proxy import Proxy, proxy_env, proxy_for
from claude_code_mux.providers.transport import Http1Transport, Timeouts, Transport
from claude_code_mux.routing.health import Health

if TYPE_CHECKING:
    import httpx  # imported on first use: it is for cold paths only, and heavy to import


def build_providers(cfg: Config) -> dict[str, Provider]:
    out: dict[str, Provider] = {}
    for pc in cfg.providers:
        if not pc.enabled:
            continue
        preset = preset_for(pc.provider_type)
        dialect = pc.dialect or (preset.dialect if preset else "anthropic")
        if preset is None or preset.dialect != dialect:
            preset = preset_for(dialect + "-compatible") or preset_for("anthropic")
        assert preset is not None
        base = pc.base_url or preset.base_url
        if dialect == "anthropic" and base.endswith("/v1"):
            base = base[:-3]
        out[pc.name] = Provider(
            name=pc.name,
            dialect=dialect,
            base_url=base.rstrip("/"),
            auth_type=pc.auth_type,
            preset=preset,
            api_key=pc.api_key,
            oauth_provider=pc.oauth_provider,
            headers={**preset.headers, **pc.headers},
            max_output_tokens=pc.max_output_tokens or preset.max_output_tokens,
            oauth_accounts=pc.oauth_accounts,
            api_keys=pc.api_keys,
        )
    return out


def build_proxies(cfg: Config, providers: Mapping[str, Provider], environ: Mapping[str, str]) -> dict[str, Proxy]:
    """Each provider's outbound proxy (providers going direct are absent)."""
    env = proxy_env(environ)
    settings = {pc.name: pc.proxy.get_secret_value() if pc.proxy else None for pc in cfg.providers}
    out: dict[str, Proxy] = {}
    for name, p in providers.items():
        proxy = proxy_for(p.base_url, settings.get(name), env)
        if proxy is not None:
            out[name] = proxy
    return out


class _ProxiedSession:
    """``session.request`` with the provider's proxy applied."""

    def __init__(self, session: Any, proxy: Proxy | None) -> None:
        self.session = session
        self._proxy = proxy

    def request(self, method: str, url: str, **kw: Any) -> Any:
        if self._proxy is not None:
            kw.setdefault("proxy", self._proxy.url)
        return self.session.request(method, url, **kw)


@dataclass
class Runtime:
    config: Config
    config_path: Path | None
    providers: dict[str, Provider]
    transports: dict[str, Transport]
    dialects: dict[str, Dialect]
    health: Health
    tokens: TokenSource | None = None
    started_at: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)
    proxies: dict[str, Proxy] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    _cold: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    # Async closers of dialect-owned resources (e.g. the Gemini CLI login's HTTP client).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Pools of accounts, their quota readings and sticky sessions; carried over on reload like ``health``.
    accounts: AccountRouter | None = None

    @classmethod
    async def create(
        cls,
        config: Config,
        *,
        config_path: Path | None = None,
        tokens: TokenSource | None = None,
        health: Health | None = None,
        environ: Mapping[str, str] | None = None,
        accounts: AccountRouter | None = None,
    ) -> Runtime:
        providers = build_providers(config)
        proxies = build_proxies(config, providers, os.environ if environ is None else environ)
        t = config.server.timeouts
        timeouts = Timeouts(connect_s=t.connect_timeout_ms / 1000, read_s=t.read_ms / 1000)
        transports: dict[str, Transport] = {name: Http1Transport(proxy=proxies.get(name)) for name in providers}
        dialects: dict[str, Dialect] = {
            "anthropic": AnthropicDialect(transports, timeouts=timeouts, tokens=tokens, oauth_beta=config.oauth.beta),
        }
        # The other dialects (and their modules: Gemini's pulls in google-auth and the login store) are imported
        # and built only when a provider speaks them; a reload that adds one builds a new Runtime.
        used = {p.dialect for p in providers.values()}
        closers: list[Callable[[], Awaitable[None]]] = []
        if "openai" in used:
            from claude_code_mux.providers.openai_chat import OpenAIChatDialect

            dialects["openai"] = OpenAIChatDialect(transports, timeouts=timeouts, tokens=tokens)
        if "openai-responses" in used:
            from claude_code_mux.providers.openai_responses import OpenAIResponsesDialect

            dialects["openai-responses"] = OpenAIResponsesDialect(transports, timeouts=timeouts, tokens=tokens)
        if "gemini" in used:
            from claude_code_mux.providers.gemini_wiring import build_gemini

            dialects["gemini"], closers = build_gemini(config, providers, tokens, timeouts, transports)
        return cls(
            config=config,
            config_path=config_path,
            providers=providers,
            transports=transports,
            dialects=dialects,
            health=health or Health(),
            tokens=tokens,
            proxies=proxies,
            timeouts=timeouts,
            closers=closers,
            accounts=build_account_router(config, providers, previous=accounts),
        )

    def cold_client(self, provider: str) -> httpx.AsyncClient:
        """The provider's httpx client for cold paths (passthrough, discovery), with its proxy; closed with us."""
        client = self._cold.get(provider)
        if client is None:
            if provider not in self.providers:
                raise KeyError(provider)
            from claude_code_mux.providers.cold import cold_client  # httpx: imported on the first cold call

            # The proxy was resolved from the setting or the environment (and NO_PROXY) already.
            client = cold_client(
                self.proxies.get(provider), connect_s=self.timeouts.connect_s, read_s=self.timeouts.read_s
            )
            self._cold[provider] = client
        return client

    async def close(self, grace_s: float = 0.0) -> None:
        if grace_s:
            await asyncio.sleep(grace_s)
        for transport in self.transports.values():
            transport.close()
        for client in self._cold.values():
            await client.aclose()
        self._cold.clear()
        for closer in self.closers:
            await closer()

    def router_key(self) -> str | None:
        k = self.config.server.api_key
        return k.get_secret_value() if k else None
