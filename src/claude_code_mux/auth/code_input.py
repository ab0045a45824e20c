"""Parse what a user pastes after authorizing: ``code#state``, a callback URL, a query or a bare code."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from claude_code_mux.errors import OAuthError

# Bracketed-paste markers and other terminal junk that a paste can carry.
_JUNK = re.compile(r"\x1b\[[0-9;]*[~A-Za-z]|[\x00-\x1f\x7f]")
# What a code may look like: anything printable without separators (codes are base64url-like).
_CODE_OK = re.compile(r"^[A-Za-z0-9._~+/=-]+$")


@dataclass(frozen=True, slots=True)
class CallbackInput:
    """The authorization code and the state it came with (``None`` when the paste had no state)."""

    code: str = field(repr=False)
    state: str | None = field(default=None, repr=False)


def _first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0].strip() if values and values[0].strip() else None


def _from_params(params: dict[str, list[str]]) -> CallbackInput:
    error = _first(params, "error")
    if error:
        desc = _first(params, "error_description") or ""
        raise OAuthError(f"authorization was refused: {error}{': ' + desc[:200] if desc else ''}")
    code = _first(params, "code")
    if not code:
        raise OAuthError("the pasted text has no 'code' parameter; paste the code shown after authorizing")
    return CallbackInput(code, _first(params, "state"))


def parse_callback(text: str) -> CallbackInput:
    """Split a paste into code and state. Raises :class:`OAuthError` (never quoting the input) if unusable."""
    cleaned = _JUNK.sub("", text).strip().strip("'\"").strip()
    if not cleaned:
        raise OAuthError("no authorization code was entered")
    if "://" in cleaned:
        parts = urlsplit(cleaned)
        params = parse_qs(parts.query)
        for key, values in parse_qs(parts.fragment).items():
            params.setdefault(key, values)
        result = _from_params(params)
    elif cleaned.startswith("?") or "code=" in cleaned or "error=" in cleaned:
        result = _from_params(parse_qs(cleaned.lstrip("?")))
    elif "#" in cleaned:
        code, _, state = cleaned.partition("#")
        result = CallbackInput(code.strip(), state.strip() or None)
    elif len(cleaned.split()) == 2:
        code, state = cleaned.split()
        result = CallbackInput(code, state)
    else:
        result = CallbackInput(cleaned, None)
    if not result.code or not _CODE_OK.match(result.code):
        raise OAuthError(
            "that does not look like an authorization code; paste the whole 'code#state' value shown "
            "after authorizing, or the full callback URL"
        )
    return result


def check_state(received: str | None, expected: str | None) -> None:
    """Reject a code that belongs to another login attempt. A paste without a state is accepted."""
    if received is None or expected is None:
        return
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise OAuthError(
            "state mismatch: this code belongs to a different login attempt. Start the login again and "
            "paste the code from the newest browser window"
        )


def parse_code_input(text: str, expected_state: str | None) -> str:
    """The authorization code from a paste, after checking its state against ``expected_state``."""
    parsed = parse_callback(text)
    check_state(parsed.state, expected_state)
    return parsed.code
