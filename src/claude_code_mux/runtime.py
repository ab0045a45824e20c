"""Runtime: the config plus everything built from it (providers, HTTP sessions, dialects, health).

Reload builds a new Runtime and swaps one reference; in-flight requests finish on the old one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.accounts.wiring import build_account_router
from claude_code_mux.config.presets import preset_for
from claude_code_mux.config.schema import Config
from claude_code_mux.providers.anthropic import AnthropicDialect
from claude_code_mux.providers.base import Dialect, Provider
from claude_code_mux.providers.credentials import TokenSource
from claude_code_mux.providers.http1 import Http1Pool
from claude_code_mux.routing.health import Health


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


@dataclass
class Runtime:
    config: Config
    config_path: Path | None
    providers: dict[str, Provider]
    sessions: dict[str, aiohttp.ClientSession]
    dialects: dict[str, Dialect]
    health: Health
    tokens: TokenSource | None = None
    started_at: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)
    pools: dict[str, Http1Pool] = field(default_factory=dict)
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
        accounts: AccountRouter | None = None,
    ) -> Runtime:
        providers = build_providers(config)
        t = config.server.timeouts
        sessions: dict[str, aiohttp.ClientSession] = {}
        for name in providers:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
            sessions[name] = aiohttp.ClientSession(
                connector=connector,
                skip_auto_headers=("User-Agent",),
                auto_decompress=True,
            )
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=t.connect_timeout_ms / 1000,
            sock_read=t.read_ms / 1000,
        )
        pools: dict[str, Http1Pool] = {}
        if config.server.upstream_client == "fast":
            pools = {name: Http1Pool() for name, p in providers.items() if Http1Pool.supports(p.base_url)}
        dialects: dict[str, Dialect] = {
            "anthropic": AnthropicDialect(
                sessions, tokens=tokens, oauth_beta=config.oauth.beta, timeout=timeout, pools=pools
            ),
        }
        try:
            from claude_code_mux.providers.openai_chat import OpenAIChatDialect
        except ImportError:  # pragma: no cover - during development only
            pass
        else:
            dialects["openai"] = OpenAIChatDialect(sessions, tokens=tokens, timeout=timeout, pools=pools)
        rt = cls(
            config=config,
            config_path=config_path,
            providers=providers,
            sessions=sessions,
            dialects=dialects,
            health=health or Health(),
            tokens=tokens,
        )
        rt.pools = pools
        rt.accounts = build_account_router(config, providers, previous=accounts)
        return rt

    async def close(self, grace_s: float = 0.0) -> None:
        if grace_s:
            await asyncio.sleep(grace_s)
        for s in self.sessions.values():
            await s.close()
        for pool in self.pools.values():
            pool.close()

    def router_key(self) -> str | None:
        k = self.config.server.api_key
        return k.get_secret_value() if k else None
