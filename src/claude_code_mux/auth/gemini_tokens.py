"""Access tokens and the Code Assist project of a Gemini CLI login kept in the shared token store.

The login lives in the same :class:`~claude_code_mux.auth.store.TokenStore` as every other OAuth login
(``source = "gemini-cli"``, the Code Assist project in ``project_id``). Refreshes go to Google's token endpoint,
single-flight in the process and under the store's cross-process lock, with the record re-read inside it. Google
does not rotate refresh tokens, so a refresh never endangers the login. A missing project is discovered
(``loadCodeAssist`` / ``onboardUser``) once and stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

import httpx

from claude_code_mux.auth.gemini_cli import GeminiCliSettings, discover_project, refresh_tokens
from claude_code_mux.auth.oauth import TokenEndpointError
from claude_code_mux.auth.store import TokenRecord, TokenStore
from claude_code_mux.auth.wiring import oauth_client
from claude_code_mux.errors import AuthenticationFailed, OAuthError, UpstreamError

REFRESH_SKEW_S = 300.0


class GeminiCliTokens:
    """One login's bearer token and project. ``repr`` shows no secret."""

    def __init__(
        self,
        store: TokenStore,
        provider_id: str,
        settings: GeminiCliSettings,
        *,
        project: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.provider_id = provider_id
        self.settings = settings
        self._project = project
        self._clock = clock
        self._record: TokenRecord | None = None
        self._lock = asyncio.Lock()
        self._session: httpx.AsyncClient | None = None
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"GeminiCliTokens(provider_id={self.provider_id!r})"

    def _http(self) -> httpx.AsyncClient:
        """The token and Code Assist client, opened on first use (our User-Agent, the environment's proxies)."""
        if self._session is None or self._session.is_closed:
            self._session = oauth_client()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.aclose()
            self._session = None

    def _usable(self, record: TokenRecord | None, rejected: str | None) -> bool:
        if record is None or not record.access_token or record.needs_refresh(self._clock(), REFRESH_SKEW_S):
            return False
        return rejected is None or not record.access_token.matches(rejected)

    def _ready(self, record: TokenRecord | None, rejected: str | None) -> tuple[str, str] | None:
        """(token, project) when ``record`` can be used as it is."""
        if record is None or not self._usable(record, rejected):
            return None
        project = self._project or record.project_id
        return (record.access_token.reveal(), project) if project else None

    async def credentials(self, rejected: str | None = None) -> tuple[str, str]:
        """(access token, Code Assist project); ``rejected``: the token a 401 just refused."""
        ready = self._ready(self._record, rejected)
        if ready is not None:
            return ready
        record = await self._refresh(rejected)
        return record.access_token.reveal(), self._project or record.project_id or ""

    async def _refresh(self, rejected: str | None) -> TokenRecord:
        async with self._lock:
            if self._record is not None and self._ready(self._record, rejected) is not None:
                return self._record
            async with self.store.locked():
                record = await self.store.get(self.provider_id)
                if record is None:
                    raise AuthenticationFailed(
                        f"no Gemini login for '{self.provider_id}'; run: ccm login {self.provider_id}"
                    )
                if not self._usable(record, rejected):
                    record = await self._refresh_token(record)
                    await self.store.put(record)
            if not self._project and not record.project_id:
                # Discovery may poll onboarding for a while: not under the store lock other logins share.
                try:
                    project = await discover_project(self._http(), self.settings, record.access_token.reveal())
                except OAuthError as exc:
                    raise UpstreamError(f"Code Assist project discovery failed: {exc}") from None
                record = replace(record, project_id=project)
                async with self.store.locked():
                    current = await self.store.get(self.provider_id)
                    if current is not None:  # keep tokens another process may have refreshed meanwhile
                        await self.store.put(replace(current, project_id=project))
            self._record = record
            return record

    async def _refresh_token(self, record: TokenRecord) -> TokenRecord:
        self.refresh_count += 1
        try:
            tokens = await refresh_tokens(self._http(), self.settings, record.refresh_token.reveal())
        except TokenEndpointError as exc:
            if exc.invalid_grant:
                raise AuthenticationFailed(
                    f"the Gemini login '{self.provider_id}' has expired or was revoked; "
                    f"run: ccm login {self.provider_id}"
                ) from None
            raise UpstreamError(f"could not refresh the Gemini login '{self.provider_id}': {exc.message}") from None
        return record.refreshed(tokens, self._clock())
