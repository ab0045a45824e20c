"""A value that never shows itself: masked ``repr``/``str``, revealed only on purpose."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field

# Known token prefixes are safe to show and help tell an access token from a refresh token or a key.
_PREFIX = re.compile(r"^(sk-ant-[a-z]{3}\d{2}-)")


def mask(value: str) -> str:
    """A display form of a secret: its well-known prefix at most, never any random part."""
    if not value:
        return "<empty>"
    m = _PREFIX.match(value)
    return f"{m.group(1) if m else ''}***({len(value)})"


@dataclass(frozen=True, slots=True)
class Secret:
    """A token, key, code or verifier. ``repr``, ``str`` and ``format`` are masked; use :meth:`reveal`."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """The real value, for the one place that must send it."""
        return self._value

    def matches(self, other: str | Secret | None) -> bool:
        """Constant-time comparison with a plain string or another secret."""
        if other is None:
            return False
        raw = other.reveal() if isinstance(other, Secret) else other
        return hmac.compare_digest(self._value.encode(), raw.encode())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({mask(self._value)})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)


def redact(text: str, *secrets: str | Secret | None) -> str:
    """Replace every occurrence of the given secrets in ``text`` (for messages built from server replies)."""
    for s in secrets:
        raw = s.reveal() if isinstance(s, Secret) else s
        if raw and len(raw) >= 4:
            text = text.replace(raw, "[redacted]")
    return text
