"""Assemble a Runtime with the parts that outlive reloads (the OAuth token manager) for the server."""

from __future__ import annotations

import logging
from pathlib import Path

from claude_code_mux.accounts.select import AccountRouter
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.auth.wiring import LazySession, token_manager_for
from claude_code_mux.config.schema import Config
from claude_code_mux.runtime import Runtime
from claude_code_mux.state.fleet import Fleet


class RuntimeBuilder:
    """Builds runtimes; one TokenManager (single-flight state, dead-token memory) serves them all."""

    def __init__(self, home: Path, config_path: Path | None, logger: logging.Logger) -> None:
        self.home = home
        self.config_path = config_path
        self.logger = logger
        self.tokens: TokenManager | None = None
        self._http: LazySession | None = None
        self._accounts: AccountRouter | None = None  # quota readings and pins survive reloads
        self.fleet: Fleet | None = None  # shared state ([state]); built once, like the token manager

    async def build(self, cfg: Config) -> Runtime:
        if self.fleet is None:
            self.fleet = Fleet.from_config(cfg)
        if self.tokens is None:
            self.tokens, self._http = token_manager_for(cfg, self.home, self.fleet.token_store(cfg, self.home))
        else:
            # Endpoint settings may have changed with the config.
            self.tokens.settings = token_manager_for(cfg, self.home)[0].settings
        rt = await Runtime.create(cfg, config_path=self.config_path, tokens=self.tokens, accounts=self._accounts)
        if rt.accounts is not None:
            rt.accounts.log = self.logger.info
        self._accounts = rt.accounts
        return rt

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self.fleet is not None:
            await self.fleet.close()
