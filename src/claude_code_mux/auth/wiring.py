"""Build the server's TokenManager: the file store in the ccm home and one lazily opened HTTP session."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from claude_code_mux.auth.claude_credentials import ClaudeCodeSync
from claude_code_mux.auth.settings import apply_env_overrides
from claude_code_mux.auth.store import FileStore, TokenStore
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.config.schema import Config

TOKEN_FILE = "oauth_tokens.json"


class LazySession:
    """An aiohttp session opened on first use (inside the running loop) and closed with the server."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def __call__(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def token_store_for(cfg: Config, home: Path) -> FileStore:
    """The durable token file (sealed at rest as configured)."""
    seal = None if cfg.oauth.store_encryption == "none" else cfg.oauth.store_encryption
    return FileStore(Path(home) / TOKEN_FILE, seal=seal)


def token_manager_for(cfg: Config, home: Path, store: TokenStore | None = None) -> tuple[TokenManager, LazySession]:
    settings = apply_env_overrides(cfg.oauth)
    http = LazySession()
    store = store if store is not None else token_store_for(cfg, home)
    manager = TokenManager(store, settings, http, sync=ClaudeCodeSync())
    return manager, http
