"""Who may use the admin API: loopback by default, ``server.admin_key`` beyond it, and no CSRF.

* When the server listens beyond loopback (``server.host`` at start, or the socket the request came in
  on), every ``/api/`` call needs ``server.admin_key`` as ``x-admin-key`` or ``Authorization: Bearer``; without a
  configured key the admin API is off (403). A configured key is always required.
* Without a key, a request must name a loopback host in ``Host`` (defeats DNS rebinding).
* State-changing calls need ``Content-Type: application/json`` (a cross-site form cannot send it) and, when
  the browser sends ``Origin`` or ``Referer``, it must name this server's own host (403 otherwise).
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from claude_code_mux.errors import HttpError, PermissionDenied
from claude_code_mux.server.state import HOLDER

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
# server.host as the server started with it (a host changed in the file applies only at the next start).
BOUND_HOST: web.AppKey[str] = web.AppKey("admin_bound_host", str)


class UnsupportedMediaType(HttpError):
    status = 415
    error_type = "invalid_request_error"


def is_loopback_host(host: str) -> bool:
    h = host.strip().strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _hostname(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def listens_beyond_loopback(request: web.Request) -> bool:
    cfg_host = request.app.get(BOUND_HOST) or request.app[HOLDER].current.config.server.host
    if not is_loopback_host(cfg_host):
        return True
    sock = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if isinstance(sock, tuple) and sock and isinstance(sock[0], str):
        return not is_loopback_host(sock[0])
    return False


def _presented_key(request: web.Request) -> str | None:
    key = request.headers.get("x-admin-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def check_access(request: web.Request) -> None:
    """Raise 403 unless this caller may use the admin API at all."""
    admin_key = request.app[HOLDER].current.config.server.admin_key
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
    if host and not is_loopback_host(_hostname(host)):
        raise PermissionDenied(
            f"the admin API answers only to a loopback Host when server.admin_key is not set (got Host: {host[:100]!r})"
        )


def check_write(request: web.Request) -> None:
    """Raise unless a state-changing call is JSON and same-origin."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "state-changing admin calls must send Content-Type: application/json "
            f"(got {request.content_type or 'none'!r})"
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


def guard(request: web.Request) -> None:
    check_access(request)
    if request.method in WRITE_METHODS:
        check_write(request)
