"""Tokens at rest: the token file sealed with authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256).

An encrypted ``oauth_tokens.json`` is a JSON envelope ``{"ccm_sealed": 1, "scheme": "fernet", "key_source":
"keyring" | "keyfile", "data": "<Fernet token>"}`` whose plaintext is the original file format. The key lives
either in the OS keyring (through the ``keyring`` package, under the service ``claude-code-mux``) or in a
0600 key file beside the token file (``oauth_tokens.key``). The file says how it is sealed, so it is always
read and rewritten the same way; ``ccm tokens encrypt`` / ``decrypt`` change it. A file that cannot be
opened (wrong or missing key) raises a clear :class:`OAuthError` and is never overwritten: no login is lost.

Why Fernet: it is the well-kept, misuse-resistant authenticated-encryption recipe of ``cryptography``; the key
never leaves this machine, so a password-derived key would add a prompt and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from claude_code_mux.auth.atomic import write_private
from claude_code_mux.errors import OAuthError

SOURCES = ("keyring", "keyfile")
SERVICE = "claude-code-mux"


def is_sealed(data: Any) -> bool:
    return isinstance(data, dict) and data.get("ccm_sealed") == 1


def key_file(store_path: Path) -> Path:
    return store_path.with_name(store_path.stem + ".key")


def _keyring_user(store_path: Path) -> str:
    return f"token-store:{store_path.expanduser().resolve()}"


def load_key(source: str, store_path: Path, *, create: bool) -> bytes:
    """The store's key from ``source``; made (and kept) when ``create`` and none exists yet."""
    from cryptography.fernet import Fernet  # imported when a sealed store is used: ~7 MB a plain one never needs

    if source == "keyfile":
        path = key_file(store_path)
        try:
            key = path.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                raise OAuthError(
                    f"{store_path} is encrypted with a key file, but {path} is missing; restore that file "
                    "(the token file is left untouched)"
                ) from None
            key = Fernet.generate_key()
            write_private(path, key + b"\n")
        return key
    if source == "keyring":
        try:
            import keyring
            from keyring.errors import KeyringError
        except ImportError:  # pragma: no cover - keyring is a dependency
            raise OAuthError('the keyring package is not installed; use store_encryption = "keyfile"') from None
        try:
            stored = keyring.get_password(SERVICE, _keyring_user(store_path))
            if stored is None:
                if not create:
                    raise OAuthError(
                        f"{store_path} is encrypted with a key in the OS keyring, but the keyring has no entry "
                        f"{SERVICE}/{_keyring_user(store_path)}; restore it (the token file is left untouched)"
                    )
                stored = Fernet.generate_key().decode()
                keyring.set_password(SERVICE, _keyring_user(store_path), stored)
        except KeyringError as exc:
            raise OAuthError(
                f'no usable OS keyring here ({type(exc).__name__}); use store_encryption = "keyfile" instead'
            ) from None
        return stored.encode()
    raise OAuthError(f"unknown token-store encryption {source!r} (use one of: none, keyring, keyfile)")


def seal(data: dict[str, Any], source: str, store_path: Path) -> bytes:
    """The envelope for ``data`` (the plain token map), sealed with the key from ``source``."""
    from cryptography.fernet import Fernet

    f = Fernet(load_key(source, store_path, create=True))
    token = f.encrypt(orjson.dumps(data)).decode()
    envelope = {"ccm_sealed": 1, "scheme": "fernet", "key_source": source, "data": token}
    return orjson.dumps(envelope, option=orjson.OPT_INDENT_2) + b"\n"


def unseal(envelope: dict[str, Any], store_path: Path) -> dict[str, Any]:
    """The plain token map inside an envelope; a clear error (naming the fix) when it cannot be opened."""
    from cryptography.fernet import Fernet, InvalidToken

    source = envelope.get("key_source")
    if envelope.get("scheme") != "fernet" or source not in SOURCES:
        raise OAuthError(f"{store_path} is sealed in a way this version does not know; upgrade claude-code-mux")
    token = envelope.get("data")
    if not isinstance(token, str):
        raise OAuthError(f"{store_path} is sealed but holds no data; restore it from a backup")
    key = load_key(str(source), store_path, create=False)
    try:
        plain = Fernet(key).decrypt(token.encode())
    except (InvalidToken, ValueError):
        where = key_file(store_path) if source == "keyfile" else f"the OS keyring entry {SERVICE}"
        raise OAuthError(
            f"cannot decrypt {store_path} with the key from {where} (wrong key?); restore the key that sealed it "
            "— the token file is left untouched, no login is lost"
        ) from None
    data = orjson.loads(plain)
    if not isinstance(data, dict):
        raise OAuthError(f"{store_path} decrypts to something other than a token map")
    return data
