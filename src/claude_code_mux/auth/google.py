"""Google Cloud credentials for Vertex AI, through Google's own ``google-auth`` library.

Three sources, all handled by ``google-auth``: Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``,
the gcloud user login, the metadata server of GCE/GKE/Cloud Run: workload identity), or an explicit JSON file
(a service-account key, an ``authorized_user`` file, or an ``external_account`` workload-identity-federation
config). ``google-auth`` signs service-account JWTs and exchanges them at the key's ``token_uri``.

Its refresh is blocking (``requests``), so it runs in a worker thread; the token is cached until five minutes
before expiry and refreshes are single-flight. A 401 from Vertex forces one refresh.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claude_code_mux.auth.secret import Secret
from claude_code_mux.errors import AuthenticationFailed

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_SKEW_S = 300.0


def _from_info(info: dict[str, Any]) -> tuple[Any, str | None]:
    """Credentials of the one type the file declares, with that type's own loader."""
    kind = info.get("type")
    project = info.get("project_id") if isinstance(info.get("project_id"), str) else None
    if kind == "service_account":
        from google.oauth2 import service_account

        sa = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(SCOPES)
        )
        return sa, project
    if kind == "authorized_user":
        from google.oauth2 import credentials

        user = credentials.Credentials.from_authorized_user_info(info, scopes=list(SCOPES))  # type: ignore[no-untyped-call]
        return user, info.get("quota_project_id")
    if kind == "external_account":  # workload identity federation
        if info.get("credential_source", {}).get("environment_id", "").startswith("aws"):
            from google.auth import aws

            return aws.Credentials.from_info(info, scopes=list(SCOPES)), project  # type: ignore[no-untyped-call]
        if "executable" in info.get("credential_source", {}):
            from google.auth import pluggable

            return pluggable.Credentials.from_info(info, scopes=list(SCOPES)), project  # type: ignore[no-untyped-call]
        from google.auth import identity_pool

        return identity_pool.Credentials.from_info(info, scopes=list(SCOPES)), project  # type: ignore[no-untyped-call]
    raise AuthenticationFailed(
        f"unsupported Google credentials type {str(kind)[:40]!r} (service_account, authorized_user or external_account)"
    )


def _load(credentials_file: str | None) -> tuple[Any, str | None]:
    """(credentials, project id or None) from a file or ADC; raises ``AuthenticationFailed``."""
    import google.auth
    import google.auth.exceptions

    try:
        if credentials_file:
            info = json.loads(Path(credentials_file).expanduser().read_bytes())
            if not isinstance(info, dict):
                raise AuthenticationFailed("the Google credentials file does not hold a JSON object")
            return _from_info(info)
        loaded: tuple[Any, str | None] = google.auth.default(scopes=list(SCOPES))
        return loaded
    except ValueError as exc:  # JSON errors and google-auth's "missing field" errors
        raise AuthenticationFailed(f"the Google credentials file is not usable: {_safe(exc)}") from None
    except google.auth.exceptions.DefaultCredentialsError as exc:
        where = credentials_file or "Application Default Credentials"
        raise AuthenticationFailed(f"Google credentials ({where}) are not usable: {exc}") from None
    except OSError as exc:
        raise AuthenticationFailed(f"cannot read the Google credentials file: {exc.strerror or exc}") from None


def _expiry_ts(expiry: dt.datetime | None) -> float:
    if expiry is None:
        return time.time() + 3600.0
    # google-auth keeps naive UTC datetimes.
    return expiry.replace(tzinfo=dt.UTC).timestamp() if expiry.tzinfo is None else expiry.timestamp()


class GoogleCredentials:
    """Access tokens for one Vertex AI provider. ``repr`` shows no secret."""

    def __init__(
        self,
        credentials_file: str | None = None,
        *,
        loader: Callable[[str | None], tuple[Any, str | None]] = _load,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._file = credentials_file
        self._loader = loader
        self._clock = clock
        self._creds: Any = None
        self.project_id: str | None = None
        self._token: Secret | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        #: Calls to google-auth's refresh (for tests).
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"GoogleCredentials(file={self._file!r}, cached={self._token is not None})"

    async def token(self) -> str:
        """A bearer token valid for at least the refresh skew."""
        if self._token is not None and self._clock() < self._expires_at - REFRESH_SKEW_S:
            return self._token.reveal()
        return await self._refresh(None)

    async def force_refresh(self, rejected: str) -> str:
        """After a 401: a new token, unless another request already replaced ``rejected``."""
        return await self._refresh(rejected)

    async def _refresh(self, rejected: str | None) -> str:
        async with self._lock:
            fresh = self._token is not None and self._clock() < self._expires_at - REFRESH_SKEW_S
            if fresh and self._token is not None and (rejected is None or not self._token.matches(rejected)):
                return self._token.reveal()
            token, expires_at = await asyncio.to_thread(self._refresh_blocking)
            self._token, self._expires_at = Secret(token), expires_at
            return token

    def _refresh_blocking(self) -> tuple[str, float]:
        import google.auth.exceptions
        import google.auth.transport.requests

        if self._creds is None:
            self._creds, self.project_id = self._loader(self._file)
        self.refresh_count += 1
        try:
            self._creds.refresh(google.auth.transport.requests.Request())
        except google.auth.exceptions.GoogleAuthError as exc:
            raise AuthenticationFailed(f"could not get a Google access token: {_safe(exc)}") from None
        token = getattr(self._creds, "token", None)
        if not isinstance(token, str) or not token:
            raise AuthenticationFailed("Google credentials returned no access token")
        return token, _expiry_ts(getattr(self._creds, "expiry", None))


def _safe(exc: BaseException) -> str:
    """The error's first line, cut short (google-auth messages quote the server's reply, never our secrets)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
