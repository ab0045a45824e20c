"""PKCE (RFC 7636, S256) verifier and challenge, and an independent random ``state``."""

from __future__ import annotations

import base64
import hashlib
import secrets

# 64 random bytes -> 86 characters, like Claude Code and opencode (RFC 7636 allows 43..128).
_VERIFIER_BYTES = 64


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_verifier(nbytes: int = _VERIFIER_BYTES) -> str:
    """A fresh code verifier: ``nbytes`` (32..96) random bytes, base64url without padding."""
    if not 32 <= nbytes <= 96:
        raise ValueError("a PKCE verifier needs 32..96 random bytes (43..128 characters)")
    return _b64url(secrets.token_bytes(nbytes))


def challenge(verifier: str) -> str:
    """The S256 code challenge: base64url-nopad(SHA-256(ASCII verifier))."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def generate_state() -> str:
    """A random ``state``, independent of the verifier (state == verifier leaks the verifier into the URL)."""
    return secrets.token_urlsafe(32)
