"""Token storage: the :class:`TokenRecord` value, the :class:`TokenStore` protocol and two stores.

:class:`FileStore` keeps the original claude-code-mux file, ``~/.claude-code-mux/oauth_tokens.json``: a
JSON object ``provider_id -> {provider_id, access_token, refresh_token, expires_at (RFC 3339 UTC),
enterprise_url, project_id?}``. It writes atomically with mode 0600 and guards read-modify-write with a
cross-process file lock (``oauth_tokens.json.lock``), exposed as ``async with store.locked():`` — re-read
inside it. Entries and fields it does not know are kept as they are. :class:`MemoryStore` is the test
double; both pass the same contract test.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import filelock
import orjson

from claude_code_mux.auth import sealing
from claude_code_mux.auth.atomic import remove_stale_temps, write_private
from claude_code_mux.auth.oauth import TokenSet
from claude_code_mux.auth.secret import Secret
from claude_code_mux.errors import HttpError, OAuthError

log = logging.getLogger(__name__)

TOKEN_FILE_NAME = "oauth_tokens.json"
DEFAULT_SKEW_S = 300.0
# Optional keys we write only when set; absent means "remove".
_OPTIONAL_KEYS = ("project_id", "api_key", "source")


class TokenFileCorrupt(OAuthError, HttpError):
    """The token file exists but cannot be read as logins; the message names the file and the fix.

    A request's candidate that needs a login turns this into its authentication failure (and fails over); an
    admin call that lists or changes logins answers it as 503 with this message rather than an opaque 500.
    """

    status = 503
    error_type = "api_error"


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$CCM_HOME`` or ``~/.claude-code-mux``."""
    env = os.environ if environ is None else environ
    return Path(env["CCM_HOME"]).expanduser() if env.get("CCM_HOME") else Path.home() / ".claude-code-mux"


def format_rfc3339(moment: datetime) -> str:
    """UTC, ``Z`` suffix, fractional seconds only when present (chrono's ``DateTime<Utc>`` form)."""
    utc = moment.astimezone(UTC)
    text = utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 (``Z`` or offset, any number of fractional digits); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_datetime(now: float | datetime) -> datetime:
    if isinstance(now, datetime):
        return now if now.tzinfo else now.replace(tzinfo=UTC)
    return datetime.fromtimestamp(now, UTC)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One stored login. Secrets are :class:`Secret`, so ``repr`` is safe to log."""

    provider_id: str
    access_token: Secret
    refresh_token: Secret
    expires_at: datetime
    enterprise_url: str | None = None
    project_id: str | None = None
    # Ours, not the original's: a key made by a console-mode login, and where the login came from.
    api_key: Secret | None = None
    source: str | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expires_at", _as_datetime(self.expires_at).astimezone(UTC))

    def expires_in(self, now: float | datetime) -> float:
        """Seconds until expiry (negative once expired)."""
        return (self.expires_at - _as_datetime(now)).total_seconds()

    def is_expired(self, now: float | datetime) -> bool:
        return self.expires_in(now) <= 0

    def needs_refresh(self, now: float | datetime, skew: float | timedelta = DEFAULT_SKEW_S) -> bool:
        """True within ``skew`` (default 5 minutes) of expiry."""
        seconds = skew.total_seconds() if isinstance(skew, timedelta) else float(skew)
        return self.expires_in(now) <= seconds

    @classmethod
    def from_token_set(
        cls, provider_id: str, tokens: TokenSet, now: float, *, api_key: Secret | None = None
    ) -> TokenRecord:
        if tokens.refresh_token is None:
            raise OAuthError("the login returned no refresh token")
        return cls(
            provider_id=provider_id,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=_as_datetime(now + tokens.expires_in),
            api_key=api_key,
        )

    def refreshed(self, tokens: TokenSet, now: float) -> TokenRecord:
        """This login after a refresh; keeps the old refresh token when none came back."""
        return replace(
            self,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or self.refresh_token,
            expires_at=_as_datetime(now + tokens.expires_in),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "provider_id": self.provider_id,
            "access_token": self.access_token.reveal(),
            "refresh_token": self.refresh_token.reveal(),
            "expires_at": format_rfc3339(self.expires_at),
            "enterprise_url": self.enterprise_url,
        }
        if self.project_id is not None:
            data["project_id"] = self.project_id
        if self.api_key is not None:
            data["api_key"] = self.api_key.reveal()
        if self.source is not None:
            data["source"] = self.source
        return data

    @classmethod
    def from_json(cls, provider_id: str, data: Any) -> TokenRecord:
        """Parse one entry; raises ``ValueError`` (without quoting values) if it is malformed."""
        if not isinstance(data, dict):
            raise ValueError("entry is not an object")
        access, refresh, expires = data.get("access_token"), data.get("refresh_token"), data.get("expires_at")
        if not isinstance(access, str) or not isinstance(refresh, str) or not isinstance(expires, str):
            raise ValueError("entry lacks access_token, refresh_token or expires_at")

        def opt(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        api_key = opt("api_key")
        return cls(
            provider_id=str(data.get("provider_id") or provider_id),
            access_token=Secret(access),
            refresh_token=Secret(refresh),
            expires_at=parse_rfc3339(expires),
            enterprise_url=opt("enterprise_url"),
            project_id=opt("project_id"),
            api_key=Secret(api_key) if api_key else None,
            source=opt("source"),
        )


class TokenStore(Protocol):
    """Where logins live. ``locked()`` serialises read-modify-write across tasks (and processes, for files);
    it is re-entrant for the task holding it. Re-read inside it before deciding anything."""

    async def get(self, provider_id: str) -> TokenRecord | None: ...

    async def all(self) -> list[TokenRecord]: ...

    async def put(self, record: TokenRecord) -> None: ...

    async def delete(self, provider_id: str) -> bool: ...

    def locked(self) -> AbstractAsyncContextManager[None]: ...


class _TaskLock:
    """An asyncio lock the holding task may re-enter."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[Any] | None = None

    def held_here(self) -> bool:
        return self.owner is not None and self.owner is asyncio.current_task()


class MemoryStore:
    """In-memory :class:`TokenStore` for tests."""

    def __init__(self, records: list[TokenRecord] | None = None) -> None:
        self._records: dict[str, TokenRecord] = {r.provider_id: r for r in records or []}
        self._tl = _TaskLock()

    async def get(self, provider_id: str) -> TokenRecord | None:
        return self._records.get(provider_id)

    async def all(self) -> list[TokenRecord]:
        return [self._records[k] for k in sorted(self._records)]

    async def put(self, record: TokenRecord) -> None:
        self._records[record.provider_id] = record

    async def delete(self, provider_id: str) -> bool:
        return self._records.pop(provider_id, None) is not None

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        if self._tl.held_here():
            yield
            return
        async with self._tl.lock:
            self._tl.owner = asyncio.current_task()
            try:
                yield
            finally:
                self._tl.owner = None


class FileStore:
    """The JSON token file, written 0600 and atomically, with a cross-process lock."""

    def __init__(self, path: Path | str, *, lock_timeout: float = 65.0, seal: str | None = None) -> None:
        self.path = Path(path).expanduser()
        # How a new file is sealed ("keyring" / "keyfile", see auth/sealing.py); an existing file keeps its own.
        self.seal = seal
        self._sealed_as: str | None = None
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_timeout = lock_timeout
        self._flock = filelock.FileLock(self.lock_path, mode=0o600, thread_local=False)
        self._tl = _TaskLock()

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    # -- blocking helpers (run in a thread) --

    def _read_map(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        if not raw.strip():
            return {}
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise TokenFileCorrupt(
                f"{self.path} is not valid JSON (fix: repair it, or move it away and log in again with `ccm login`)"
            ) from None
        if not isinstance(data, dict):
            raise TokenFileCorrupt(
                f"{self.path} must hold a JSON object keyed by provider id "
                "(fix: repair it, or move it away and log in again with `ccm login`)"
            )
        if sealing.is_sealed(data):
            self._sealed_as = str(data.get("key_source"))
            return sealing.unseal(data, self.path)
        self._sealed_as = None
        return data

    def _parse(self, provider_id: str, entry: Any) -> TokenRecord | None:
        try:
            return TokenRecord.from_json(provider_id, entry)
        except ValueError as exc:
            log.warning("ignoring malformed token entry %r in %s: %s", provider_id, self.path, exc)
            return None

    def _get_sync(self, provider_id: str) -> TokenRecord | None:
        entry = self._read_map().get(provider_id)
        return None if entry is None else self._parse(provider_id, entry)

    def _all_sync(self) -> list[TokenRecord]:
        data = self._read_map()
        records = (self._parse(k, data[k]) for k in sorted(data))
        return [r for r in records if r is not None]

    def _write_map(self, data: dict[str, Any], *, sealed_as: str | bool | None = True) -> None:
        """Write the map, sealed the way the file was (``sealed_as=True``) or as given (a source or None)."""
        remove_stale_temps(self.path)
        if sealed_as is True:
            sealed_as = self._sealed_as if self.path.exists() else self.seal
        if isinstance(sealed_as, str):
            payload = sealing.seal(data, sealed_as, self.path)
        else:
            payload = orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"
        write_private(self.path, payload)
        self._sealed_as = sealed_as or None

    async def reseal(self, source: str | None) -> int:
        """Rewrite the file sealed with ``source`` ("keyring" / "keyfile") or in plain JSON (None).

        Reads (and so checks) everything first, under the lock; returns the number of logins kept.
        """

        def run() -> int:
            data = self._read_map()
            self._write_map(data, sealed_as=source)
            check = self._read_map()
            if check != data:  # pragma: no cover - a write that does not read back is a bug
                raise OAuthError(f"{self.path} did not read back the same after re-sealing")
            return len(data)

        async with self.locked():
            return await asyncio.to_thread(run)

    def sealed_as(self) -> str | None:
        """How the file is sealed now ("keyring" / "keyfile"), None for plain JSON or no file."""
        self._read_map()
        return self._sealed_as

    def _put_sync(self, record: TokenRecord) -> None:
        data = self._read_map()
        old = data.get(record.provider_id)
        entry: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
        for key in _OPTIONAL_KEYS:
            entry.pop(key, None)
        new = record.to_json()
        # Known keys first, in the original order, then whatever else the entry carried.
        data[record.provider_id] = {**new, **{k: v for k, v in entry.items() if k not in new}}
        self._write_map(data)

    def _delete_sync(self, provider_id: str) -> bool:
        data = self._read_map()
        if provider_id not in data:
            return False
        del data[provider_id]
        self._write_map(data)
        return True

    # -- the TokenStore protocol --

    async def get(self, provider_id: str) -> TokenRecord | None:
        return await asyncio.to_thread(self._get_sync, provider_id)

    async def all(self) -> list[TokenRecord]:
        return await asyncio.to_thread(self._all_sync)

    async def put(self, record: TokenRecord) -> None:
        async with self.locked():
            await asyncio.to_thread(self._put_sync, record)

    async def delete(self, provider_id: str) -> bool:
        async with self.locked():
            return await asyncio.to_thread(self._delete_sync, provider_id)

    async def _acquire_file_lock(self) -> None:
        await asyncio.to_thread(self.path.parent.mkdir, mode=0o700, parents=True, exist_ok=True)
        task = asyncio.ensure_future(asyncio.to_thread(self._flock.acquire, timeout=self._lock_timeout))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # The thread may still win the lock; give it back as soon as it does.
            def undo(done: asyncio.Future[Any]) -> None:
                if not done.cancelled() and done.exception() is None:
                    self._flock.release()

            task.add_done_callback(undo)
            raise
        except filelock.Timeout:
            raise OAuthError(
                f"timed out after {self._lock_timeout:.0f}s waiting for {self.lock_path}; another ccm "
                "process may be stuck"
            ) from None

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        if self._tl.held_here():
            yield
            return
        async with self._tl.lock:
            await self._acquire_file_lock()
            self._tl.owner = asyncio.current_task()
            try:
                yield
            finally:
                self._tl.owner = None
                # Unlocking an flock never blocks, so do it inline: the asyncio lock must not be free first.
                self._flock.release()
