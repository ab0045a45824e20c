"""Build the Gemini dialect for a config: one target (key, Vertex AI or Code Assist) and transport per provider."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from claude_code_mux.auth.gemini_cli import GeminiCliSettings
from claude_code_mux.auth.gemini_tokens import GeminiCliTokens
from claude_code_mux.auth.google import GoogleCredentials
from claude_code_mux.auth.store import TOKEN_FILE_NAME, FileStore, TokenStore, default_home
from claude_code_mux.config.schema import Config, ProviderConfig
from claude_code_mux.errors import ConfigError
from claude_code_mux.providers.base import Provider
from claude_code_mux.providers.gemini import GeminiDialect, GeminiRoute
from claude_code_mux.providers.gemini_targets import ApiKeyTarget, CodeAssistTarget, GeminiTarget, VertexTarget
from claude_code_mux.providers.transport import Timeouts, Transport

DEFAULT_LOCATION = "us-central1"
_LOCATION = re.compile(r"[a-z][a-z0-9-]{1,40}")
DEFAULT_GEMINI_LOGIN = "gemini"


def gemini_login_id(pc: ProviderConfig) -> str:
    """The token-store id of a gemini-cli provider's login."""
    return pc.oauth_provider if pc.auth_type == "oauth" and pc.oauth_provider else DEFAULT_GEMINI_LOGIN


def _target(
    pc: ProviderConfig, provider: Provider, store: Callable[[], TokenStore], closers: list[Any]
) -> GeminiTarget:
    if pc.provider_type.strip().lower() == "vertex-ai":
        location = pc.location or DEFAULT_LOCATION
        if not _LOCATION.fullmatch(location):  # it becomes part of the host name
            raise ConfigError(f"provider {pc.name!r}: location {location[:40]!r} is not a Google Cloud location")
        creds = GoogleCredentials(pc.credentials_file)
        return VertexTarget(pc.base_url, pc.project or pc.project_id, location, creds)
    if pc.provider_type.strip().lower() == "gemini-cli":
        settings = GeminiCliSettings.from_env(code_assist_url=provider.base_url)
        tokens = GeminiCliTokens(store(), gemini_login_id(pc), settings, project=pc.project)
        closers.append(tokens.close)
        return CodeAssistTarget(provider.base_url, tokens)
    key = provider.api_key.get_secret_value() if provider.api_key is not None else None
    return ApiKeyTarget(provider.base_url, key)


def build_gemini(
    cfg: Config,
    providers: Mapping[str, Provider],
    tokens: object,
    timeouts: Timeouts,
    transports: Mapping[str, Transport],
) -> tuple[GeminiDialect, list[Any]]:
    """The dialect (on the runtime's per-provider transports) and async closers (login HTTP sessions)."""
    shared: TokenStore | None = getattr(tokens, "store", None)

    def store() -> TokenStore:
        return shared if shared is not None else FileStore(Path(default_home()) / TOKEN_FILE_NAME)

    routes: dict[str, GeminiRoute] = {}
    closers: list[Any] = []
    for pc in cfg.providers:
        provider = providers.get(pc.name)
        if provider is None or provider.dialect != "gemini":
            continue
        safety = tuple({"category": c, "threshold": t} for c, t in pc.safety_settings.items())
        routes[pc.name] = GeminiRoute(_target(pc, provider, store, closers), safety)
    return GeminiDialect(transports, timeouts, routes=routes), closers
