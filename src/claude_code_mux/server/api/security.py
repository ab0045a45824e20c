"""Who may call the router from a browser: Host, Origin and content-type checks, and CORS.

Plain functions over a lower-cased header mapping and the config, so the client API and the admin guard apply
the same rules:

* ``Host`` must name a loopback host or one of ``server.allowed_hosts``. When the server listens beyond
  loopback (where ``server.api_key`` is required anyway), IP literals and — without ``allowed_hosts`` — any name
  are accepted. This defeats DNS rebinding: a page on ``evil.example`` re-pointed at 127.0.0.1 still sends
  ``Host: evil.example``.
* ``Origin`` (sent by browsers, never by Claude Code or the SDKs) must be one of ``[server.cors]
  allow_origins``, or this server's own origin. Any web page could otherwise use the local router, and through
  it the user's subscription, with a CORS "simple request" that needs no preflight.
* JSON endpoints refuse ``text/*`` and form content types: the bodies a page can send without a preflight.
* Preflight ``OPTIONS`` is answered here, never forwarded upstream.

Every refusal is a 403 ``permission_error`` that says what to configure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from claude_code_mux.config.schema import ServerConfig
from claude_code_mux.errors import PermissionDenied

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "authorization, x-api-key, content-type, anthropic-version, anthropic-beta, "
    "anthropic-dangerous-direct-browser-access, x-provider, x-request-id"
)
EXPOSE_HEADERS = "x-ccm-route, x-ccm-provider, x-ccm-model, x-ccm-attempts, x-ccm-request-id, request-id, retry-after"


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost`` or a loopback address (IPv4, IPv6, IPv4-mapped)."""
    h = host.strip().strip("[]").lower().rstrip(".")
    if h == "localhost" or h.endswith(".localhost"):
        return True
    ip = _ip(h)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _ip(h: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return None


def hostname_of(host_header: str) -> str:
    """The host name of a ``Host`` header value (port and IPv6 brackets removed), lower-cased."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


# Verdicts of host_allowed by (Host header, bound host, allowed_hosts): clients send the same Host on every
# request, and parsing it (``ipaddress``) cost more than the rest of the caller's checks. Bounded: a value too
# long to be a host name is never stored, and the whole cache is dropped when it fills (random Host headers
# cost what they cost without it).
_HOST_CACHE_MAX = 256
_HOST_MAX_LEN = 300
_host_verdicts: dict[tuple[str, str, tuple[str, ...]], bool] = {}


def host_allowed(host_header: str, s: ServerConfig, bound_host: str) -> bool:
    """Whether a request with this ``Host`` may be answered (cached per header value and configuration)."""
    key = (host_header, bound_host, s.allowed_hosts)
    verdict = _host_verdicts.get(key)
    if verdict is None:
        verdict = _host_allowed(host_header, s.allowed_hosts, bound_host)
        if len(host_header) <= _HOST_MAX_LEN and len(bound_host) <= _HOST_MAX_LEN:
            if len(_host_verdicts) >= _HOST_CACHE_MAX:
                _host_verdicts.clear()
            _host_verdicts[key] = verdict
    return verdict


def _host_allowed(host_header: str, allowed_hosts: tuple[str, ...], bound_host: str) -> bool:
    name = hostname_of(host_header).rstrip(".")
    if not name:
        return False
    if is_loopback_host(name) or name in (h.lower().rstrip(".") for h in allowed_hosts):
        return True
    if is_loopback_host(bound_host):
        return False
    # Listening beyond loopback: an address is never a rebinding name; names are checked only when listed.
    return _ip(name) is not None or not allowed_hosts


def check_host(headers: Mapping[str, str], s: ServerConfig, bound_host: str) -> None:
    host = headers.get("host", "")
    if not host_allowed(host, s, bound_host):
        raise PermissionDenied(
            f"claude-code-mux answers only to a loopback Host or one listed in server.allowed_hosts "
            f"(got Host: {host[:100]!r}); add the name to server.allowed_hosts if it is yours"
        )


def _origin_key(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def configured_origin(origin: str, s: ServerConfig) -> bool:
    allowed = {_origin_key(o) for o in s.cors.allow_origins}
    return "*" in allowed or _origin_key(origin) in allowed


def check_origin(headers: Mapping[str, str], s: ServerConfig) -> str | None:
    """Raise unless the request's ``Origin`` may call; returns the origin to echo in CORS headers (or None)."""
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin != "null" and configured_origin(origin, s):
        return origin
    netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
    if netloc and netloc == headers.get("host", "").lower():
        return None  # this server's own page (the admin UI): same-origin, no CORS headers needed
    raise PermissionDenied(
        f"cross-origin request refused: Origin {origin[:200]!r} is not allowed; "
        "list it in [server.cors] allow_origins to let that web page use the router"
    )


# The content types a web page may POST cross-origin without a preflight (the Fetch standard's "CORS-safelisted
# request-header" values): the only bodies a page can push at the router without asking first.
_SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


def check_json_content_type(headers: Mapping[str, str]) -> None:
    """JSON endpoints: refuse the body types a web page can send without a preflight (text/plain, forms).

    Other labels (none, ``application/json``, a client library's ``application/octet-stream``) cannot come from
    a page without a preflight, which the router refuses for origins not configured.
    """
    ctype = headers.get("content-type")
    if ctype is None:
        return
    media = ctype.split(";", 1)[0].strip().lower()
    if media in _SIMPLE_TYPES or media.startswith("text/"):
        raise PermissionDenied(f"this endpoint takes JSON: send Content-Type: application/json (got {ctype[:100]!r})")


def cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    """Headers that let the allowed ``origin`` read a response."""
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
        (b"vary", b"origin"),
    ]


def preflight(headers: Mapping[str, str], s: ServerConfig) -> list[tuple[bytes, bytes]]:
    """The headers of a 204 answer to ``OPTIONS``; raises 403 for an origin that is not allowed."""
    origin = headers.get("origin")
    if origin is None or headers.get("access-control-request-method") is None:
        return [(b"allow", ALLOW_METHODS.encode())]  # a plain OPTIONS: what this resource allows
    if origin == "null" or not configured_origin(origin, s):
        raise PermissionDenied(
            f"CORS preflight refused: Origin {origin[:200]!r} is not listed in [server.cors] allow_origins"
        )
    return [
        *cors_headers(origin),
        (b"access-control-allow-methods", ALLOW_METHODS.encode()),
        (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
        (b"access-control-max-age", str(s.cors.max_age_s).encode()),
    ]
