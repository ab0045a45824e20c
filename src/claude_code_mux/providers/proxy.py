"""Outbound proxies: which proxy a provider's traffic takes, and the CONNECT tunnel through it.

A provider's ``proxy`` setting decides: ``"none"`` means direct; an ``http://[user:pass@]host:port`` URL is used as
given; unset means the environment (``HTTPS_PROXY`` / ``HTTP_PROXY`` and lower-case forms, with ``NO_PROXY``
honoured), read once when the runtime is built. ``https://`` upstreams are tunnelled with ``CONNECT`` (TLS is
then started over the tunnel, verified against the upstream host); ``http://`` upstreams are sent to the proxy in
absolute form. Credentials from the URL's userinfo go out as ``Proxy-Authorization: Basic`` and are never shown:
:attr:`Proxy.display` and ``repr`` name only the proxy's host and port.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

from claude_code_mux.errors import ConfigError, ConnectFailed, UpstreamClosed

MAX_PROXY_HEAD: Final = 16 * 1024  # the proxy's answer to CONNECT
_ENV_NAMES: Final = ("https_proxy", "http_proxy", "no_proxy")


@dataclass(frozen=True, slots=True)
class Proxy:
    """One http proxy. ``authorization`` is the whole ``Proxy-Authorization`` value, or ""."""

    host: str
    port: int
    authorization: str = field(default="", repr=False)
    url: str = field(default="", repr=False)  # as configured, credentials included (for httpx on cold paths)

    @property
    def display(self) -> str:
        """``http://host:port``: safe for logs and errors (no credentials)."""
        return f"http://{self.host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """An ``http://[user:pass@]host[:port]`` URL as a :class:`Proxy` (a ConfigError without the URL's secrets)."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        shown = f"{parts.scheme}://{parts.hostname or ''}"
        raise ConfigError(
            f"proxy {shown!r} is not supported", key="proxy", fix='use "http://[user:pass@]host:port" or "none"'
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise ConfigError("proxy port is not a number", key="proxy") from None
    auth = ""
    if parts.username is not None:
        cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = "Basic " + base64.b64encode(cred).decode("ascii")
    return Proxy(parts.hostname, port, auth, url if "://" in url else "http://" + url)


def proxy_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables of an environment, names lower-cased (a lower-case name wins over upper case)."""
    out: dict[str, str] = {}
    for name in _ENV_NAMES:
        val = environ.get(name) or environ.get(name.upper())
        if val:
            out[name] = val
    return out


def proxy_for(url: str, setting: str | None, env: Mapping[str, str]) -> Proxy | None:
    """The proxy for requests to ``url``: the provider's ``setting`` ("none", a URL, or None for ``env``)."""
    if setting is not None:
        return None if setting.strip().lower() == "none" else parse_proxy(setting)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    chosen = env.get(f"{scheme}_proxy")
    if not chosen or not parts.hostname:
        return None
    no_proxy = env.get("no_proxy", "")
    if no_proxy:
        port = parts.port or (443 if scheme == "https" else 80)
        if bypassed(parts.hostname, port, no_proxy):
            return None
    try:
        return parse_proxy(chosen)
    except ConfigError as exc:
        raise ConfigError(
            exc.message,
            key=f"{scheme.upper()}_PROXY (environment)",
            fix='use an http:// proxy, add the host to NO_PROXY, or set proxy = "none" for the provider',
        ) from None


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` exempts a host: ``*``, exact names, domain suffixes (``.corp``/``corp``), ``host:port``,
    IP addresses and CIDR networks, comma- or space-separated, case-insensitive."""
    host = host.lower().strip("[]")
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        addr = None
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, want_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if want_port and (not want_port.isdigit() or port is None or int(want_port) != port):
            continue
        name = name.strip("[]")
        if addr is not None:
            try:
                if addr in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip(".").removeprefix("*.")
        if host == name or host.endswith("." + name):
            return True
    return False


class _TunnelHead(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT (a status line and headers, bounded) and nothing more."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.buf = bytearray()
        self.head: asyncio.Future[bytes] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        if self.head.done():
            return
        start = max(0, len(self.buf) - 3)
        self.buf += data
        end = self.buf.find(b"\r\n\r\n", start)
        if end != -1:
            self.head.set_result(bytes(self.buf[:end]))
        elif len(self.buf) > MAX_PROXY_HEAD:
            self.head.set_exception(ConnectFailed(f"proxy answer to CONNECT over {MAX_PROXY_HEAD} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(UpstreamClosed("proxy closed the connection during CONNECT"))


async def open_tunnel(proxy: Proxy, host: str, port: int) -> asyncio.Transport:
    """A TCP connection to ``proxy`` tunnelled to ``host:port`` with CONNECT; raises ConnectFailed if refused.

    The caller starts TLS over the returned transport (its protocol is a placeholder until then).
    """
    loop = asyncio.get_running_loop()
    transport, head = await loop.create_connection(lambda: _TunnelHead(loop), proxy.host, proxy.port)
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        req = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if proxy.authorization:
            req += f"Proxy-Authorization: {proxy.authorization}\r\n"
        transport.write((req + "\r\n").encode("latin-1"))
        raw = await head.head
        status_line = raw.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if not parts[0].startswith("HTTP/1.") or not 200 <= status < 300:
            why = {
                401: "proxy credentials refused",
                407: "proxy authentication required",
                403: "forbidden",
                502: "bad gateway",
            }.get(status, "")
            detail = f"HTTP {status}" + (f" ({why})" if why else "") if status else "not an HTTP answer"
            raise ConnectFailed(f"proxy {proxy.display} refused the tunnel to {authority}: {detail}")
    except BaseException:
        transport.abort()
        raise
    transport.pause_reading()
    return transport
