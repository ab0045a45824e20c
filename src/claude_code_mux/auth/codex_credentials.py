"""The Codex CLI's ChatGPT login (``$CODEX_HOME/auth.json``, default ``~/.codex/auth.json``): import and write-back.

Shape: ``{"OPENAI_API_KEY": null|str, "tokens": {"id_token", "access_token", "refresh_token", "account_id"},
"last_refresh": RFC 3339, "auth_mode"?: "chatgpt"}``. Refresh tokens rotate, so after we refresh an imported
login the new tokens are written back (only while the file still holds the ones we rotated; only
``access_token``, ``refresh_token`` and ``last_refresh`` change; every other field and the file mode are kept),
and when the Codex CLI rotated them itself we take its copy instead of reusing a dead token.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from claude_code_mux.auth.atomic import write_private
from claude_code_mux.auth.chatgpt import IMPORT_PREFIX
from claude_code_mux.auth.chatgpt_claims import expiry_from_token
from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import TokenRecord, format_rfc3339
from claude_code_mux.auth.tokens import CredentialSync
from claude_code_mux.errors import OAuthError


def default_codex_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = Path(env["CODEX_HOME"]).expanduser() if env.get("CODEX_HOME") else Path.home() / ".codex"
    return base / "auth.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise OAuthError(
            f"no Codex CLI login at {path}; log in with `codex login` first, or use `ccm login chatgpt`"
        ) from None
    try:
        blob = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise OAuthError(f"{path} is not valid JSON") from None
    if not isinstance(blob, dict):
        raise OAuthError(f"{path} does not hold a JSON object")
    return blob


def _tokens(blob: dict[str, Any], path: Path) -> tuple[str, str]:
    tokens = blob.get("tokens")
    if not isinstance(tokens, dict):
        raise OAuthError(f"{path} holds no ChatGPT login (only an API key?)")
    access, refresh = tokens.get("access_token"), tokens.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh, str):
        raise OAuthError(f"{path}: the ChatGPT login lacks an access_token")
    return access, refresh


def _expiry(access: str) -> datetime:
    exp = expiry_from_token(access)
    # Without an exp claim, treat it as due: the first use refreshes it.
    return datetime.fromtimestamp(exp if exp is not None else time.time(), UTC)


async def import_codex(provider_id: str, path: Path | None = None) -> TokenRecord:
    """A :class:`TokenRecord` for ``provider_id`` from the Codex CLI's login (not stored yet)."""
    where = (path or default_codex_path()).expanduser().absolute()
    blob = await asyncio.to_thread(_read, where)
    access, refresh = _tokens(blob, where)
    return TokenRecord(
        provider_id=provider_id,
        access_token=Secret(access),
        refresh_token=Secret(refresh),
        expires_at=_expiry(access),
        source=f"{IMPORT_PREFIX}{where}",
    )


def _path_of(record: TokenRecord) -> Path | None:
    if record.source and record.source.startswith(IMPORT_PREFIX):
        return Path(record.source[len(IMPORT_PREFIX) :])
    return None


def _write_back_sync(path: Path, old: TokenRecord, new: TokenRecord) -> bool:
    try:
        blob = _read(path)
        access, refresh = _tokens(blob, path)
    except OAuthError:
        return False
    if not (old.refresh_token.matches(refresh) or old.access_token.matches(access)):
        return False  # the file holds another login now: leave it alone
    tokens = blob["tokens"]
    tokens["access_token"] = new.access_token.reveal()
    tokens["refresh_token"] = new.refresh_token.reveal()
    blob["last_refresh"] = format_rfc3339(datetime.now(UTC))
    write_private(path, orjson.dumps(blob, option=orjson.OPT_INDENT_2), mode=stat.S_IMODE(os.stat(path).st_mode))
    return True


class CodexSync:
    """The :class:`CredentialSync` for imported Codex CLI logins (records with ``source = codex:<path>``)."""

    def __repr__(self) -> str:
        return "CodexSync()"

    async def after_refresh(self, old: TokenRecord, new: TokenRecord) -> None:
        path = _path_of(old)
        if path is not None:
            await asyncio.to_thread(_write_back_sync, path, old, new)

    async def newer(self, record: TokenRecord) -> TokenRecord | None:
        path = _path_of(record)
        if path is None:
            return None
        try:
            blob = await asyncio.to_thread(_read, path)
            access, refresh = _tokens(blob, path)
        except OAuthError:
            return None
        if not refresh or record.refresh_token.matches(refresh):
            return None
        return replace(record, access_token=Secret(access), refresh_token=Secret(refresh), expires_at=_expiry(access))


class SyncChain:
    """Several :class:`CredentialSync` hooks as one: every ``after_refresh`` runs, the first ``newer`` wins."""

    def __init__(self, syncs: Sequence[CredentialSync]) -> None:
        self._syncs = tuple(syncs)

    def __repr__(self) -> str:
        return f"SyncChain({list(self._syncs)!r})"

    async def after_refresh(self, old: TokenRecord, new: TokenRecord) -> None:
        for sync in self._syncs:
            await sync.after_refresh(old, new)

    async def newer(self, record: TokenRecord) -> TokenRecord | None:
        for sync in self._syncs:
            found = await sync.newer(record)
            if found is not None:
                return found
        return None
