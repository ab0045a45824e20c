"""Claude Code's own login (``~/.claude/.credentials.json``, key ``claudeAiOauth``): import and write-back.

Refresh tokens rotate, so once we refresh an imported login Claude Code's copy is dead unless we write the
new tokens back. :class:`ClaudeCodeSync` does that, only when the file still holds the tokens we just rotated
(so it never overwrites a different login), changing only ``accessToken``, ``refreshToken`` and ``expiresAt``
and keeping every other field and the file's mode. It also recovers when Claude Code rotated them itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from claude_code_mux.auth.atomic import write_private
from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import TokenRecord
from claude_code_mux.errors import OAuthError

log = logging.getLogger(__name__)

SOURCE_PREFIX = "claude-code:"
_KEY = "claudeAiOauth"


def default_credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$CLAUDE_CONFIG_DIR/.credentials.json`` or ``~/.claude/.credentials.json``."""
    env = os.environ if environ is None else environ
    base = Path(env["CLAUDE_CONFIG_DIR"]).expanduser() if env.get("CLAUDE_CONFIG_DIR") else Path.home() / ".claude"
    return base / ".credentials.json"


@dataclass(frozen=True, slots=True)
class ClaudeCredentials:
    """The ``claudeAiOauth`` entry. An empty ``refresh_token`` means Claude Code renews it some other way."""

    access_token: Secret
    refresh_token: Secret
    expires_at: datetime
    scopes: tuple[str, ...] = ()
    subscription_type: str | None = None


def _read_blob(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise OAuthError(
            f"no Claude Code credentials at {path}; log in with `claude` first (on macOS Claude Code keeps "
            "them in the Keychain, which cannot be imported; use `ccm login` instead)"
        ) from None
    try:
        blob = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise OAuthError(f"{path} is not valid JSON") from None
    if not isinstance(blob, dict):
        raise OAuthError(f"{path} does not hold a JSON object")
    return blob


def _parse(blob: dict[str, Any], path: Path) -> ClaudeCredentials:
    entry = blob.get(_KEY)
    if not isinstance(entry, dict):
        raise OAuthError(f"{path} has no '{_KEY}' login (only Claude subscription logins can be imported)")
    access, refresh, expires = entry.get("accessToken"), entry.get("refreshToken", ""), entry.get("expiresAt")
    if not isinstance(access, str) or not access or not isinstance(refresh, str):
        raise OAuthError(f"{path}: '{_KEY}' lacks an accessToken")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise OAuthError(f"{path}: '{_KEY}' lacks a numeric expiresAt")
    scopes = entry.get("scopes")
    sub = entry.get("subscriptionType")
    return ClaudeCredentials(
        access_token=Secret(access),
        refresh_token=Secret(refresh),
        expires_at=datetime.fromtimestamp(expires / 1000, UTC),
        scopes=tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else (),
        subscription_type=sub if isinstance(sub, str) else None,
    )


async def read_claude_credentials(path: Path | None = None) -> ClaudeCredentials:
    """Read Claude Code's login. Raises :class:`OAuthError` with a hint when there is none."""
    where = path or default_credentials_path()
    blob = await asyncio.to_thread(_read_blob, where)
    return _parse(blob, where)


async def import_claude_code(provider_id: str, path: Path | None = None) -> TokenRecord:
    """A :class:`TokenRecord` for ``provider_id`` made from Claude Code's login (not stored yet)."""
    where = (path or default_credentials_path()).expanduser().absolute()
    creds = await read_claude_credentials(where)
    if not creds.refresh_token:
        log.warning("Claude Code stored no refresh token; the imported login cannot be refreshed")
    return TokenRecord(
        provider_id=provider_id,
        access_token=creds.access_token,
        refresh_token=creds.refresh_token,
        expires_at=creds.expires_at,
        source=f"{SOURCE_PREFIX}{where}",
    )


def _write_back_sync(path: Path, old: TokenRecord, new: TokenRecord) -> bool:
    try:
        blob = _read_blob(path)
    except OAuthError:
        return False
    entry = blob.get(_KEY)
    if not isinstance(entry, dict):
        return False
    ours = old.refresh_token.matches(str(entry.get("refreshToken") or "")) or old.access_token.matches(
        str(entry.get("accessToken") or "")
    )
    if not ours:
        return False
    entry["accessToken"] = new.access_token.reveal()
    entry["refreshToken"] = new.refresh_token.reveal()
    entry["expiresAt"] = int(new.expires_at.timestamp() * 1000)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    write_private(path, orjson.dumps(blob), mode=mode)
    return True


async def write_back(path: Path, old: TokenRecord, new: TokenRecord) -> bool:
    """Put rotated tokens into Claude Code's file if it still holds ``old``; ``True`` if written."""
    return await asyncio.to_thread(_write_back_sync, path, old, new)


class ClaudeCodeSync:
    """The :class:`~claude_code_mux.auth.tokens.CredentialSync` for Claude Code's credentials file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = (path or default_credentials_path()).expanduser()

    def __repr__(self) -> str:
        return f"ClaudeCodeSync({str(self.path)!r})"

    def _path_for(self, record: TokenRecord) -> Path:
        if record.source and record.source.startswith(SOURCE_PREFIX):
            return Path(record.source[len(SOURCE_PREFIX) :])
        return self.path

    async def after_refresh(self, old: TokenRecord, new: TokenRecord) -> None:
        path = self._path_for(old)
        if await write_back(path, old, new):
            log.info("wrote rotated tokens of '%s' back to %s", new.provider_id, path)

    async def newer(self, record: TokenRecord) -> TokenRecord | None:
        """If the login was imported and Claude Code has rotated it since, take Claude Code's tokens."""
        if not (record.source and record.source.startswith(SOURCE_PREFIX)):
            return None
        try:
            creds = await read_claude_credentials(self._path_for(record))
        except OAuthError:
            return None
        if creds.refresh_token.matches(record.refresh_token) or not creds.refresh_token:
            return None
        return replace(
            record,
            access_token=creds.access_token,
            refresh_token=creds.refresh_token,
            expires_at=creds.expires_at,
        )
