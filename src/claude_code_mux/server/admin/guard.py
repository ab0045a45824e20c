"""Who may use the admin surfaces: loopback by default, ``server.admin_key`` beyond it, and no CSRF.

* When the server listens beyond loopback (``server.host`` at start, or the socket the request came in
  on), every ``/api/`` call needs ``server.admin_key`` as ``x-admin-key`` or ``Authorization: Bearer``; without a
  configured key the admin API is off (403). A configured key is always required.
* Without a key, a request must name a loopback host in ``Host`` (defeats DNS rebinding).
* State-changing calls that carry a body need ``Content-Type: application/json`` (a cross-site form cannot send
  it); a call without a body (``DELETE``, ``POST /api/reload``) needs no content type. When the browser sends
  ``Origin`` or ``Referer``, it must name this server's own host (403 otherwise).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from claude_code_mux.errors import HttpError, PermissionDenied
from claude_code_mux.server.admin.context import holder_of
from claude_code_mux.server.api.security import hostname_of, is_loopback_host

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class UnsupportedMediaType(HttpError):
    status = 415
    error_type = "invalid_request_error"


def listens_beyond_loopback(request: Request) -> bool:
    """Whether this server may be reached beyond loopback: bound there, configured to be (``server.host``,
    which applies at the next start), or the request came in on a non-loopback socket."""
    holder = holder_of(request)
    if not is_loopback_host(holder.bound_host) or not is_loopback_host(holder.current.config.server.host):
        return True
    sock = request.scope.get("server")
    if isinstance(sock, tuple | list) and sock and isinstance(sock[0], str):
        return not is_loopback_host(sock[0])
    return False


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-admin-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def check_access(request: Request) -> None:
    """Raise 403 unless this caller may use the admin API at all."""
    admin_key = holder_of(request).current.config.server.admin_key
    if admin_key is not None:
        got = _presented_key(request)
        want = admin_key.get_secret_value()
        if got is None or not hmac.compare_digest(got.encode(), want.encode()):
            raise PermissionDenied(
                "the admin API needs server.admin_key: send it as x-admin-key or Authorization: Bearer"
            )
        return
    if listens_beyond_loopback(request):
        raise PermissionDenied(
            "the admin API is off because the server listens beyond loopback and server.admin_key is "
            "not set; set server.admin_key (and send it as x-admin-key) or bind to 127.0.0.1"
        )
    host = request.headers.get("host", "")
    if host and not is_loopback_host(hostname_of(host)):
        raise PermissionDenied(
            f"the admin API answers only to a loopback Host when server.admin_key is not set (got Host: {host[:100]!r})"
        )


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def has_body(request: Request) -> bool:
    """Whether the request announces a body (a non-zero Content-Length, or any Transfer-Encoding)."""
    if "transfer-encoding" in request.headers:
        return True
    length = request.headers.get("content-length", "").strip()
    return bool(length) and length != "0"


def check_write(request: Request) -> None:
    """Raise unless a state-changing call is same-origin, and JSON when it has a body."""
    ctype = media_type(request)
    if ctype != "application/json" and (ctype or has_body(request)):
        raise UnsupportedMediaType(
            f"state-changing admin calls with a body must send Content-Type: application/json (got {ctype or 'none'!r})"
        )
    host = (request.headers.get("host") or "").lower()
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value is None:
            continue
        netloc = urlsplit(value).netloc.lower() if value != "null" else ""
        if not netloc or netloc != host:
            raise PermissionDenied(
                f"cross-origin admin call refused: {header.title()} {value[:200]!r} does not match Host {host!r}"
            )


def guard(request: Request) -> None:
    check_access(request)
    if request.method in WRITE_METHODS:
        check_write(request)
