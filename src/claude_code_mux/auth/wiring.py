"""Build the server's TokenManager: the file store in the ccm home and one lazily opened HTTP client."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from claude_code_mux import __version__
from claude_code_mux.auth import chatgpt
from claude_code_mux.auth.claude_credentials import ClaudeCodeSync
from claude_code_mux.auth.codex_credentials import CodexSync, SyncChain
from claude_code_mux.auth.settings import apply_env_overrides
from claude_code_mux.auth.store import FileStore, TokenStore
from claude_code_mux.auth.tokens import SessionFactory, TokenManager
from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.config.schema import Config

if TYPE_CHECKING:
    import httpx

TOKEN_FILE = "oauth_tokens.json"


def oauth_client() -> httpx.AsyncClient:
    """The client for OAuth token calls: our own User-Agent, the environment's proxies (and NO_PROXY)."""
    import httpx  # on the first token call: a router without logins never imports it

    return httpx.AsyncClient(
        trust_env=True, follow_redirects=False, headers={"User-Agent": f"claude-code-mux/{__version__}"}
    )


class LazySession:
    """An httpx client opened on first use (inside the running loop) and closed with the server."""

    def __init__(self) -> None:
        self._session: httpx.AsyncClient | None = None

    def __call__(self) -> httpx.AsyncClient:
        if self._session is None or self._session.is_closed:
            self._session = oauth_client()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.aclose()
            self._session = None


def make_manager(store: TokenStore, settings: OAuthSettings, session_factory: SessionFactory) -> TokenManager:
    """A TokenManager for every login flavour: Claude (with Claude Code's file) and ChatGPT (with Codex's)."""
    return TokenManager(
        store,
        settings,
        session_factory,
        sync=SyncChain([ClaudeCodeSync(), CodexSync()]),
        refresher_for=chatgpt.refresher_for,
    )


def token_store_for(cfg: Config, home: Path) -> FileStore:
    """The durable token file (sealed at rest as configured)."""
    seal = None if cfg.oauth.store_encryption == "none" else cfg.oauth.store_encryption
    return FileStore(Path(home) / TOKEN_FILE, seal=seal)


def token_manager_for(cfg: Config, home: Path, store: TokenStore | None = None) -> tuple[TokenManager, LazySession]:
    settings = apply_env_overrides(cfg.oauth)
    http = LazySession()
    manager = make_manager(store if store is not None else token_store_for(cfg, home), settings, http)
    return manager, http
