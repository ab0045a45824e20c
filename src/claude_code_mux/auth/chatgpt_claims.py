"""Read the claims of a ChatGPT (OpenAI auth) JWT: the account id, the plan and the expiry.

The token is not verified here: it came from the token endpoint over TLS and the upstream verifies it. We only
read what the protocol requires us to send back (``chatgpt-account-id``) or show (plan, expiry).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

AUTH_CLAIM = "https://api.openai.com/auth"


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT as a dict ({} when ``token`` is not a JWT)."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 64 * 1024:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        data = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _auth(token: str) -> dict[str, Any]:
    auth = jwt_claims(token).get(AUTH_CLAIM)
    return auth if isinstance(auth, dict) else {}


def account_id_from_token(token: str) -> str | None:
    """``["https://api.openai.com/auth"].chatgpt_account_id`` of an access or id token."""
    value = _auth(token).get("chatgpt_account_id")
    return value if isinstance(value, str) and value else None


def plan_from_token(token: str) -> str | None:
    value = _auth(token).get("chatgpt_plan_type")
    return value if isinstance(value, str) and value else None


def expiry_from_token(token: str) -> float | None:
    """The ``exp`` claim (epoch seconds), if any."""
    value = jwt_claims(token).get("exp")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
