"""The exception tree and the one place errors are formatted as Anthropic error envelopes.

Every error we raise on purpose is a :class:`CcmError`::

    CcmError
    ├── HttpError                 leaves the server as an Anthropic envelope with its status
    │   ├── InvalidRequest        400
    │   ├── AuthenticationFailed  401
    │   ├── PermissionDenied      403
    │   ├── NotFound              404
    │   ├── RequestTooLarge       413
    │   ├── RateLimited           429
    │   └── UpstreamError         the last upstream failure, passed through (502 by default)
    ├── ConfigError               a located configuration mistake
    ├── OAuthError                login, exchange or refresh failed
    ├── UpstreamFailure           one attempt at one candidate failed (the dispatcher may fail over)
    └── TransportError            raised at the upstream transport seam, nothing else crosses it
        ├── ConnectFailed         refused, DNS, TLS, or the outbound proxy refused the tunnel
        ├── TransportTimeout      (also a TimeoutError) connect or read took too long
        ├── RemoteProtocolError   broken HTTP/1.1, oversized head, too many headers, body over the limit
        └── UpstreamClosed        the connection closed before the answer was complete
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

# status -> Anthropic error type, as the real API uses them.
_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type_for_status(status: int) -> str:
    """The Anthropic error ``type`` that matches an HTTP status."""
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(error_type: str, message: str) -> bytes:
    """Serialise an Anthropic error envelope."""
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


def error_event(error_type: str, message: str) -> bytes:
    """An SSE ``event: error`` frame carrying an Anthropic error envelope."""
    return b"event: error\ndata: " + error_body(error_type, message) + b"\n\n"


class CcmError(Exception):
    """Base of every error we raise on purpose."""


class HttpError(CcmError):
    """An error that leaves the server as an Anthropic envelope with ``status``."""

    status: int = 500
    error_type: str = "api_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
            self.error_type = error_type or error_type_for_status(status)
        elif error_type is not None:
            self.error_type = error_type
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> bytes:
        return error_body(self.error_type, self.message)


class InvalidRequest(HttpError):
    status = 400
    error_type = "invalid_request_error"


class AuthenticationFailed(HttpError):
    status = 401
    error_type = "authentication_error"


class PermissionDenied(HttpError):
    status = 403
    error_type = "permission_error"


class NotFound(HttpError):
    status = 404
    error_type = "not_found_error"


class RequestTooLarge(HttpError):
    status = 413
    error_type = "request_too_large"


class RateLimited(HttpError):
    status = 429
    error_type = "rate_limit_error"


class UpstreamError(HttpError):
    """The last upstream failure, passed through to the client when no candidate is left."""

    status = 502
    error_type = "api_error"


class RequestTimeout(HttpError):
    """The client stopped sending its request (head or body) for longer than allowed."""

    status = 408
    error_type = "timeout_error"


class ClientGone(CcmError):
    """The client closed its connection before the request was answered."""


class ConfigError(CcmError):
    """A configuration mistake, located by file, line and key, with the fix."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None, key: str = "", fix: str = "") -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.key:
            text += f"{self.key}: "
        text += self.message
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class KeyStoreError(CcmError):
    """A virtual-key operation that cannot be done (unknown name, duplicate, bad argument); the message says why."""


class ConfigProblems(ConfigError):
    """Every problem found in one config file; reads as the first one (with a count), ``problems`` has them all."""

    def __init__(self, problems: list[ConfigError]) -> None:
        first = problems[0]
        more = len(problems) - 1
        message = first.message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
        super().__init__(message, path=first.path, line=first.line, key=first.key, fix=first.fix)
        self.problems = list(problems)


class OAuthError(CcmError):
    """A failure in the OAuth login, exchange or refresh flow; the message is safe to show."""


class TransportError(CcmError):
    """The upstream could not be reached or its answer could not be read (raised at the transport seam)."""


class ConnectFailed(TransportError):
    """No connection: refused, DNS, TLS, or the outbound proxy refused the tunnel."""


class TransportTimeout(TransportError, TimeoutError):
    """Connecting, or waiting for the next bytes, took longer than allowed."""


class RemoteProtocolError(TransportError):
    """The upstream broke HTTP/1.1 (bad framing, oversized or too many headers, a body over the limit)."""


class UpstreamClosed(TransportError):
    """The upstream closed the connection before the answer was complete."""


class UpstreamFailure(CcmError):
    """An attempt failed. ``retryable`` decides whether the dispatcher moves to the next candidate."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retryable: bool = True,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.retryable = retryable
        self.error_type = error_type

    @property
    def retry_after(self) -> float | None:
        val = self.headers.get("retry-after")
        if val is None:
            return None
        try:
            return max(float(val), 0.0)
        except ValueError:
            return None
