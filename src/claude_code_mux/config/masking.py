"""How secrets look when the admin API shows or takes back a config: one mask, one rule for header names.

Kept apart from :mod:`claude_code_mux.config.edit` so reading the config (admin views) does not load the
comment-preserving TOML writer.
"""

from __future__ import annotations

MASK = "********"
_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "password")


def is_secret_header(name: str) -> bool:
    """Whether a header's value is a credential (shown masked, kept when the mask comes back)."""
    low = name.lower()
    return any(w in low for w in _SECRET_HEADER_WORDS)
