"""The TokenManager: a valid access token per provider id, refreshed ahead of expiry without losing a token.

Refresh tokens rotate on every use, so two refreshes with the same token kill the login. Every refresh is
therefore single-flight within the process (one task per provider id, shielded from callers' cancellation)
and across processes (``store.locked()``, with the record re-read inside the lock: if another process
already refreshed, its token is used as is). An ``invalid_grant`` is first checked against a re-read of the
store, since a writer outside our lock may have rotated the token; only then is the login declared dead, and
a dead refresh token is never sent again.

One manager serves every login flavour: ``refresher_for`` picks the refresh grant per record (ChatGPT logins,
``source`` ``chatgpt`` / ``codex:<path>``, refresh at OpenAI's form-encoded endpoint; see ``auth/chatgpt.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from claude_code_mux.auth.oauth import TokenEndpointError, TokenSet, refresh_tokens
from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import TokenFileCorrupt, TokenRecord, TokenStore, format_rfc3339
from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.errors import AuthenticationFailed, UpstreamError

if TYPE_CHECKING:
    import httpx  # imported where a call is made: it is heavy, and a router without logins never needs it

log = logging.getLogger(__name__)

#: Returns the shared client session to use; the manager never closes it.
SessionFactory = Callable[[], "httpx.AsyncClient"]

#: One login flavour's refresh grant: (session, settings, refresh token) -> new tokens.
Refresher = Callable[["httpx.AsyncClient", OAuthSettings, str], Awaitable[TokenSet]]
#: Picks the refresh function for a record (ChatGPT logins refresh elsewhere); gets the default one.
RefresherFor = Callable[[TokenRecord, Refresher], Refresher]


class CredentialSync(Protocol):
    """A hook that mirrors a login kept elsewhere (Claude Code's credentials file)."""

    async def after_refresh(self, old: TokenRecord, new: TokenRecord) -> None:
        """Called inside the refresh lock after rotated tokens were stored."""

    async def newer(self, record: TokenRecord) -> TokenRecord | None:
        """A newer copy of this same login kept in the other place (it rotated there), if any."""


def _digest(secret: Secret) -> bytes:
    return hashlib.sha256(secret.reveal().encode()).digest()


def login_hint(provider_id: str) -> str:
    return f"run: ccm login {provider_id}"


class TokenManager:
    """Hands out access tokens for OAuth logins kept in a :class:`TokenStore`."""

    def __init__(
        self,
        store: TokenStore,
        settings: OAuthSettings,
        session_factory: SessionFactory,
        *,
        clock: Callable[[], float] = time.time,
        sync: CredentialSync | None = None,
        recheck_s: float = 5.0,
        failure_backoff_s: float = 10.0,
        refresher_for: RefresherFor | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.session_factory = session_factory
        self.clock = clock
        self._sync = sync
        self._recheck_s = recheck_s
        self._failure_backoff_s = failure_backoff_s
        self._refresher_for = refresher_for
        #: Calls made to the token endpoint's refresh grant (for tests and metrics).
        self.refresh_count = 0
        self._cache: dict[str, tuple[TokenRecord, float]] = {}
        self._inflight: dict[str, asyncio.Task[TokenRecord]] = {}
        self._dead: dict[str, bytes] = {}
        self._backoff_until: dict[str, float] = {}
        self._reported_corrupt = ""

    def __repr__(self) -> str:
        return f"TokenManager(store={self.store!r}, refresh_count={self.refresh_count})"

    # -- reading --

    def _remember(self, record: TokenRecord) -> None:
        self._cache[record.provider_id] = (record, self.clock())

    async def _read(self, provider_id: str) -> TokenRecord | None:
        """The stored record; an unreadable token file is this login's authentication failure (the caller
        fails over to the next candidate), logged once per distinct problem with the path and the fix."""
        try:
            record = await self.store.get(provider_id)
        except TokenFileCorrupt as exc:
            self._cache.pop(provider_id, None)
            if str(exc) != self._reported_corrupt:
                self._reported_corrupt = str(exc)
                log.error("OAuth logins cannot be read: %s", exc)
            raise AuthenticationFailed(f"the OAuth login for '{provider_id}' cannot be read: {exc}") from None
        self._reported_corrupt = ""
        return record

    async def _load(self, provider_id: str) -> TokenRecord | None:
        hit = self._cache.get(provider_id)
        if hit is not None and self.clock() - hit[1] < self._recheck_s:
            return hit[0]
        record = await self._read(provider_id)
        if record is None:
            self._cache.pop(provider_id, None)
        else:
            self._remember(record)
        return record

    def _no_login(self, provider_id: str) -> AuthenticationFailed:
        return AuthenticationFailed(f"no OAuth login for '{provider_id}'; {login_hint(provider_id)}")

    def _dead_login(self, provider_id: str, why: str = "") -> AuthenticationFailed:
        detail = f" ({why})" if why else ""
        return AuthenticationFailed(
            f"the OAuth login for '{provider_id}' has expired or was revoked{detail}; {login_hint(provider_id)}"
        )

    # -- public API --

    async def get_access_token(self, provider_id: str) -> str:
        """A usable access token, refreshed first when it is within ``refresh_skew_s`` of expiry."""
        record = await self._load(provider_id)
        if record is None:
            raise self._no_login(provider_id)
        now = self.clock()
        if not record.needs_refresh(now, self.settings.refresh_skew_s):
            return record.access_token.reveal()
        if not record.is_expired(now) and now < self._backoff_until.get(provider_id, 0.0):
            return record.access_token.reveal()
        try:
            record = await self._single_flight(provider_id, None)
        except UpstreamError:
            if not record.is_expired(self.clock()):
                log.warning("refresh of '%s' failed; its current token is still valid, using it", provider_id)
                return record.access_token.reveal()
            raise
        return record.access_token.reveal()

    async def force_refresh(self, provider_id: str, rejected_token: str) -> str:
        """After the upstream rejected ``rejected_token`` (401): a newer token, refreshing only if the stored
        access token is still the rejected one. Call at most once per request, then give up."""
        hit = self._cache.get(provider_id)
        if (
            hit is not None
            and not hit[0].access_token.matches(rejected_token)
            and not hit[0].needs_refresh(self.clock(), self.settings.refresh_skew_s)
        ):
            return hit[0].access_token.reveal()
        record = await self._single_flight(provider_id, rejected_token)
        if record.access_token.matches(rejected_token):
            # We joined a flight that had nothing to do; run one that knows the token was rejected.
            record = await self._single_flight(provider_id, rejected_token)
        return record.access_token.reveal()

    async def status(self) -> list[dict[str, Any]]:
        """One row per login: no secrets, only expiry facts."""
        now = self.clock()
        rows: list[dict[str, Any]] = []
        for record in await self.store.all():
            rows.append(
                {
                    "provider_id": record.provider_id,
                    "expires_at": format_rfc3339(record.expires_at),
                    "expires_in_s": int(record.expires_in(now)),
                    "is_expired": record.is_expired(now),
                    "needs_refresh": record.needs_refresh(now, self.settings.refresh_skew_s),
                    "has_api_key": record.api_key is not None,
                    "source": record.source,
                }
            )
        return rows

    async def save_login(self, provider_id: str, tokens: TokenSet, *, api_key: Secret | None = None) -> TokenRecord:
        """Store a fresh login (replacing any previous one for ``provider_id``)."""
        record = TokenRecord.from_token_set(provider_id, tokens, self.clock(), api_key=api_key)
        await self.save_record(record)
        return record

    async def save_record(self, record: TokenRecord) -> None:
        """Store a complete record (an import), replacing any previous one."""
        async with self.store.locked():
            await self.store.put(record)
        self._remember(record)
        self._dead.pop(record.provider_id, None)
        self._backoff_until.pop(record.provider_id, None)

    async def delete(self, provider_id: str) -> bool:
        """Forget a login; ``False`` if there was none."""
        async with self.store.locked():
            removed = await self.store.delete(provider_id)
        self._cache.pop(provider_id, None)
        self._dead.pop(provider_id, None)
        return removed

    # -- refreshing --

    async def _single_flight(self, provider_id: str, rejected: str | None) -> TokenRecord:
        task = self._inflight.get(provider_id)
        if task is None:
            task = asyncio.create_task(self._refresh_locked(provider_id, rejected), name="oauth-refresh")
            self._inflight[provider_id] = task
            task.add_done_callback(partial(self._flight_done, provider_id))
        # shield: a caller that goes away must not cancel a refresh whose reply would rotate the token.
        return await asyncio.shield(task)

    def _flight_done(self, provider_id: str, task: asyncio.Task[TokenRecord]) -> None:
        if self._inflight.get(provider_id) is task:
            del self._inflight[provider_id]
        if not task.cancelled():
            task.exception()  # retrieved, even if every waiter left

    async def _refresh_locked(self, provider_id: str, rejected: str | None) -> TokenRecord:
        async with self.store.locked():
            record = await self._read(provider_id)
            if record is None:
                self._cache.pop(provider_id, None)
                raise self._no_login(provider_id)
            self._remember(record)
            now = self.clock()
            is_rejected = rejected is not None and record.access_token.matches(rejected)
            if not is_rejected and not record.needs_refresh(now, self.settings.refresh_skew_s):
                return record  # someone (maybe another process) already refreshed
            if self._sync is not None:
                newer = await self._sync.newer(record)
                if newer is not None:  # refreshing our stale copy would be a reuse and could revoke both
                    log.info("using the newer tokens of '%s' from %s", provider_id, newer.source)
                    await self.store.put(newer)
                    self._remember(newer)
                    record = newer
                    if not record.needs_refresh(now, self.settings.refresh_skew_s):
                        return record
            if self._dead.get(provider_id) == _digest(record.refresh_token):
                raise self._dead_login(provider_id)
            return await self._refresh(record)

    async def _refresh(self, record: TokenRecord) -> TokenRecord:
        provider_id = record.provider_id
        self.refresh_count += 1
        try:
            refresh: Refresher = refresh_tokens
            if self._refresher_for is not None:
                refresh = self._refresher_for(record, refresh_tokens)
            tokens = await refresh(self.session_factory(), self.settings, record.refresh_token.reveal())
        except TokenEndpointError as exc:
            if exc.invalid_grant:
                return await self._recover(record, exc)
            self._backoff_until[provider_id] = self.clock() + self._failure_backoff_s
            raise UpstreamError(f"could not refresh the OAuth login for '{provider_id}': {exc.message}") from None
        new = record.refreshed(tokens, self.clock())
        try:
            await self.store.put(new)
        except OSError as exc:
            log.error("could not save refreshed tokens for '%s' (%s); keeping them in memory", provider_id, exc)
        self._remember(new)
        self._backoff_until.pop(provider_id, None)
        log.info("refreshed OAuth login '%s'; new token expires %s", provider_id, format_rfc3339(new.expires_at))
        if self._sync is not None:
            try:
                await self._sync.after_refresh(record, new)
            except Exception as exc:  # the refresh itself succeeded; the mirror is best effort
                log.warning("could not write rotated tokens of '%s' back: %s", provider_id, type(exc).__name__)
        return new

    async def _recover(self, record: TokenRecord, exc: TokenEndpointError) -> TokenRecord:
        provider_id = record.provider_id
        fresh = await self.store.get(provider_id)
        if fresh is not None and not fresh.refresh_token.matches(record.refresh_token):
            log.info("refresh token of '%s' was rotated elsewhere; using the stored one", provider_id)
            self._remember(fresh)
            return fresh
        if self._sync is not None:
            recovered = await self._sync.newer(record)
            if recovered is not None and not recovered.is_expired(self.clock()):
                log.info("picked up a newer login for '%s' from %s", provider_id, recovered.source)
                await self.store.put(recovered)
                self._remember(recovered)
                return recovered
        self._dead[provider_id] = _digest(record.refresh_token)
        log.warning("OAuth login '%s' is dead: %s", provider_id, exc.message)
        raise self._dead_login(provider_id, exc.description) from None
