"""Outbound proxies against a real proxy server (Debian's tinyproxy, started per test on a loopback port).

http:// upstreams go to the proxy in absolute form, https:// ones through a CONNECT tunnel with TLS verified
against the upstream host; proxy credentials go out as Basic auth and never show in errors or logs; a proxy that
refuses fails the attempt with a ConnectFailed naming the proxy; NO_PROXY and ``proxy = "none"`` go direct.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anthropic
import httpx
import pytest
import trustme

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import MemoryStore, TokenRecord
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.auth.wiring import LazySession
from claude_code_mux.config.load import parse_config
from claude_code_mux.errors import ConfigError, ConnectFailed
from claude_code_mux.providers.http1 import Http1Pool
from claude_code_mux.providers.proxy import Proxy, bypassed, parse_proxy, proxy_env, proxy_for
from claude_code_mux.runtime import Runtime
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic
from tests.mocks.oauth import MockOAuthServer

TINYPROXY = shutil.which("tinyproxy")
needs_tinyproxy = pytest.mark.skipif(
    TINYPROXY is None and not os.environ.get("CCM_REQUIRE_E2E"), reason="tinyproxy is not installed"
)
T = {"connect_timeout": 5.0, "read_timeout": 10.0}
REQ = {"model": "main", "max_tokens": 20, "messages": [{"role": "user", "content": "Reply with exactly: PX-1"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TinyProxy:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """The request lines the proxy logged ("POST http://…", "CONNECT host:port")."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if "]: Request (file descriptor" in line:
                out.append(line.split("): ", 1)[1])
        return out


@contextlib.asynccontextmanager
async def tinyproxy(
    tmp_path: Path, *, connect_ports: tuple[int, ...] = (), auth: tuple[str, str] | None = None
) -> AsyncIterator[TinyProxy]:
    """tinyproxy in the foreground with a generated config, on an ephemeral loopback port."""
    assert TINYPROXY is not None, "tinyproxy is required (CCM_REQUIRE_E2E is set)"
    port = free_port()
    conf = tmp_path / f"tinyproxy-{port}.conf"
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 30", "Allow 127.0.0.1", "LogLevel Connect"]
    lines += ["DisableViaHeader Yes", "MaxClients 50"]
    lines += [f"ConnectPort {p}" for p in connect_ports]
    if auth is not None:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    conf.write_text("\n".join(lines) + "\n")
    log = tmp_path / f"tinyproxy-{port}.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(TINYPROXY, "-d", "-c", str(conf), stdout=out, stderr=out)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            await asyncio.sleep(0.02)
        else:
            raise RuntimeError("tinyproxy did not start: " + log.read_text())
        yield TinyProxy(port, log)
    finally:
        proc.terminate()
        await proc.wait()


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ssl.SSLContext, ssl.SSLContext]]:
    """A test CA trusted by default contexts (SSL_CERT_FILE) and a server context for ``localhost``."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    yield server_ctx, client_ctx


def config(url: str, proxy: str | None) -> str:
    text = anthropic_provider("up", url)
    if proxy is not None:
        text += f'proxy = "{proxy}"\n'
    return '[router]\ndefault = "main"\n' + text + model_block("main", [("up", "m1")])


# ---- settings (no proxy process) ----------------------------------------------------------------------------


def test_parse_proxy_keeps_credentials_out_of_repr_and_errors() -> None:
    p = parse_proxy("http://al%40ce:s3cr%3At@proxy.corp:3128")
    assert (p.host, p.port, p.display) == ("proxy.corp", 3128, "http://proxy.corp:3128")
    assert p.authorization == "Basic YWxAY2U6czNjcjp0"  # base64("al@ce:s3cr:t")
    assert "s3cr" not in repr(p) and "YWx" not in repr(p)
    with pytest.raises(ConfigError) as exc:
        parse_proxy("socks5://u:hunter2@h:1080")
    assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("api.anthropic.com", 443, "*", True),
        ("api.anthropic.com", 443, "anthropic.com", True),
        ("api.anthropic.com", 443, ".anthropic.com", True),
        ("anthropic.com", 443, ".anthropic.com", True),
        ("notanthropic.com", 443, "anthropic.com", False),
        ("127.0.0.1", 8080, "127.0.0.0/8", True),
        ("10.1.2.3", 443, "localhost, 127.0.0.1", False),
        ("localhost", 8080, "localhost:8080", True),
        ("localhost", 8081, "localhost:8080", False),
        ("API.Example.COM", 443, "example.com", True),
    ],
)
def test_no_proxy_rules(host: str, port: int, no_proxy: str, bypass: bool) -> None:
    assert bypassed(host, port, no_proxy) is bypass


def test_proxy_for_env_setting_and_none() -> None:
    env = proxy_env({"HTTPS_PROXY": "http://p:1", "http_proxy": "http://q:2", "NO_PROXY": "internal"})
    assert proxy_for("https://api.x.com/v1", None, env) == Proxy("p", 1, url="http://p:1")
    assert proxy_for("http://api.x.com/v1", None, env) == Proxy("q", 2, url="http://q:2")
    assert proxy_for("https://svc.internal/v1", None, env) is None
    assert proxy_for("https://api.x.com/v1", "none", env) is None
    assert proxy_for("https://svc.internal/v1", "http://r:3", env) == Proxy("r", 3, url="http://r:3")
    assert proxy_for("https://api.x.com/v1", None, {}) is None
    socks = proxy_env({"HTTPS_PROXY": "socks5://u:hunter2@h:1080", "ALL_PROXY": "socks5://h:1"})
    assert proxy_for("http://api.x.com/v1", None, socks) is None  # ALL_PROXY is not ours to use
    with pytest.raises(ConfigError, match="HTTPS_PROXY") as exc:
        proxy_for("https://api.x.com/v1", None, socks)
    assert "hunter2" not in str(exc.value)


def test_config_proxy_field_is_secret_and_validated() -> None:
    cfg = parse_config(config("http://127.0.0.1:1", "http://u:hunter2@127.0.0.1:3128"))
    assert "hunter2" not in repr(cfg.providers[0])
    with pytest.raises(ConfigError) as exc:
        parse_config(config("http://127.0.0.1:1", "ftp://u:hunter2@h:21"))
    assert "proxy" in str(exc.value) and "hunter2" not in str(exc.value)


# ---- through tinyproxy --------------------------------------------------------------------------------------


@needs_tinyproxy
async def test_http_upstream_through_the_proxy(tmp_path: Path) -> None:
    async with (
        tinyproxy(tmp_path) as px,
        MockAnthropic(name="up") as mock,
        run_router(config(mock.url, px.url), tmp_path / "home") as router,
    ):
        client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
        for _ in range(2):
            msg = await client.messages.create(**REQ)  # type: ignore[arg-type]
            assert msg.content[0].text == "PX-1"  # type: ignore[union-attr]
        async with client.messages.stream(**REQ) as s:  # type: ignore[arg-type]
            assert (await s.get_final_message()).content[0].text == "PX-1"  # type: ignore[union-attr]
        seen = px.requests()
        assert seen.count(f"POST http://127.0.0.1:{mock.port}/v1/messages HTTP/1.1") == 3
        assert len(mock.messages_requests()) == 3


@needs_tinyproxy
async def test_https_upstream_through_a_connect_tunnel(
    tmp_path: Path, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, _ = tls
    mock = MockAnthropic(name="up")
    await mock.start(ssl_context=server_ctx)
    try:
        async with (
            tinyproxy(tmp_path, connect_ports=(mock.port,)) as px,
            run_router(config(mock.url, px.url), tmp_path / "home") as router,
        ):
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            for _ in range(2):
                async with client.messages.stream(**REQ) as s:  # type: ignore[arg-type]
                    assert (await s.get_final_message()).content[0].text == "PX-1"  # type: ignore[union-attr]
            # One tunnel, kept alive and reused for the second request.
            assert px.requests() == [f"CONNECT localhost:{mock.port} HTTP/1.1"]
            assert len(mock.messages_requests()) == 2
    finally:
        await mock.stop()


@needs_tinyproxy
async def test_tls_through_the_tunnel_is_verified_against_the_upstream(
    tmp_path: Path, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, _ = tls
    mock = MockAnthropic(name="up")
    await mock.start(ssl_context=server_ctx)
    try:
        async with tinyproxy(tmp_path, connect_ports=(mock.port,)) as px:
            untrusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, but trusts only another CA
            untrusting.load_verify_locations(cadata=trustme.CA().cert_pem.bytes().decode())  # another CA
            pool = Http1Pool(proxy=parse_proxy(px.url), ssl_context=untrusting)
            with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await pool.request("POST", mock.url + "/v1/messages", headers={}, body=b"{}", **T)
            pool.close()
        assert mock.messages_requests() == []
    finally:
        await mock.stop()


@needs_tinyproxy
async def test_proxy_authentication(tmp_path: Path, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    mock = MockAnthropic(name="up")
    await mock.start(ssl_context=server_ctx)
    body = b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
    hdrs = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    try:
        async with (
            tinyproxy(tmp_path, connect_ports=(mock.port,), auth=("alice", "pr0xy-s3cret")) as px,
            MockAnthropic(name="plain") as plain,
        ):
            good = parse_proxy(f"http://alice:pr0xy-s3cret@127.0.0.1:{px.port}")
            bad = parse_proxy(f"http://alice:wrong-s3cret@127.0.0.1:{px.port}")
            for target in (mock.url, plain.url):  # CONNECT for https, absolute form for http
                pool = Http1Pool(proxy=good, ssl_context=client_ctx)
                resp = await pool.request("POST", target + "/v1/messages", headers=hdrs, body=body, **T)
                assert resp.status == 200 and b'"type":"message"' in await resp.read()
                pool.close()
            none = Http1Pool(proxy=parse_proxy(px.url), ssl_context=client_ctx)
            with pytest.raises(ConnectFailed, match=rf"proxy http://127.0.0.1:{px.port} refused .*407"):
                await none.request("POST", mock.url + "/v1/messages", headers=hdrs, body=body, **T)
            none.close()
            pool = Http1Pool(proxy=bad, ssl_context=client_ctx)
            with pytest.raises(ConnectFailed) as exc:
                await pool.request("POST", mock.url + "/v1/messages", headers=hdrs, body=body, **T)
            text = str(exc.value)  # tinyproxy answers wrong credentials with 401
            assert "HTTP 40" in text and f"http://127.0.0.1:{px.port}" in text and "s3cret" not in text
            resp = await pool.request("POST", plain.url + "/v1/messages", headers=hdrs, body=body, **T)
            assert resp.status in (401, 407)  # a forward proxy answers for the upstream: the dialect fails over
            resp.close()
            pool.close()

            # Through the router: the credentials never reach its log.
            cfg = config(mock.url, f"http://alice:pr0xy-s3cret@127.0.0.1:{px.port}")
            async with run_router(cfg, tmp_path / "home") as router, httpx.AsyncClient() as http:
                r = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "k"})
                assert r.status_code == 200 and "PX-1" in r.text
            cfg = config(mock.url, f"http://alice:wrong-s3cret@127.0.0.1:{px.port}")
            async with run_router(cfg, tmp_path / "home2") as router, httpx.AsyncClient() as http:
                r = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "k"})
                assert r.status_code == 502, r.text
                assert "s3cret" not in r.text and "s3cret" not in router.log.getvalue()
                assert f"proxy http://127.0.0.1:{px.port} refused the tunnel" in r.json()["error"]["message"]
    finally:
        await mock.stop()


@needs_tinyproxy
async def test_a_proxy_that_refuses_the_tunnel(tmp_path: Path, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    mock = MockAnthropic(name="up")
    await mock.start(ssl_context=server_ctx)
    try:
        async with tinyproxy(tmp_path, connect_ports=(mock.port + 1,)) as px:  # CONNECT to our port is denied
            pool = Http1Pool(proxy=parse_proxy(px.url), ssl_context=client_ctx)
            with pytest.raises(ConnectFailed, match=rf"proxy http://127.0.0.1:{px.port} refused the tunnel.*403"):
                await pool.request("POST", mock.url + "/v1/messages", headers={}, body=b"{}", **T)
            pool.close()
        dead = free_port()  # and a proxy that is not there at all
        pool = Http1Pool(proxy=parse_proxy(f"http://127.0.0.1:{dead}"), ssl_context=client_ctx)
        with pytest.raises(ConnectFailed, match=f"through proxy http://127.0.0.1:{dead}"):
            await pool.request("POST", mock.url + "/v1/messages", headers={}, body=b"{}", **T)
        pool.close()
        assert mock.messages_requests() == []
    finally:
        await mock.stop()


@needs_tinyproxy
@pytest.mark.parametrize("how", ["env", "no_proxy", "none"])
async def test_environment_proxy_no_proxy_and_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    async with tinyproxy(tmp_path) as px, MockAnthropic(name="up") as mock:
        monkeypatch.setenv("HTTP_PROXY", px.url)
        monkeypatch.setenv("https_proxy", px.url)
        if how == "no_proxy":
            monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
        async with (
            run_router(config(mock.url, "none" if how == "none" else None), tmp_path / "home") as router,
            httpx.AsyncClient(trust_env=False) as http,
        ):
            r = await http.post(router.url + "/v1/messages", json=REQ, headers={"x-api-key": "k"})
            assert r.status_code == 200 and "PX-1" in r.text
        proxied = [x for x in px.requests() if f"127.0.0.1:{mock.port}/v1/messages" in x]
        assert len(proxied) == (1 if how == "env" else 0)


@needs_tinyproxy
async def test_cold_client_takes_the_providers_proxy(tmp_path: Path) -> None:
    async with tinyproxy(tmp_path) as px, MockAnthropic(name="up") as mock:
        rt = await Runtime.create(parse_config(config(mock.url, px.url)), environ={})
        try:
            client = rt.cold_client("up")
            assert rt.cold_client("up") is client  # one per provider
            r = await client.get(mock.url + "/v1/models", headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
            assert r.status_code == 200
            assert f"GET http://127.0.0.1:{mock.port}/v1/models HTTP/1.1" in px.requests()
        finally:
            await rt.close()
        assert client.is_closed


@needs_tinyproxy
async def test_oauth_refresh_goes_through_the_environment_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tinyproxy(tmp_path) as px, MockOAuthServer() as oauth:
        monkeypatch.setenv("HTTP_PROXY", px.url)
        monkeypatch.setenv("HTTPS_PROXY", px.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        family = oauth.issue_tokens()
        record = TokenRecord(
            provider_id="claude-max",
            access_token=Secret(family["access_token"]),
            refresh_token=Secret(family["refresh_token"]),
            expires_at=datetime.now(UTC) + timedelta(seconds=60),  # inside the refresh margin
        )
        http = LazySession()
        try:
            tm = TokenManager(MemoryStore([record]), oauth.settings(), http)
            token = await tm.get_access_token("claude-max")
        finally:
            await http.close()
        assert token != family["access_token"] and oauth.access_valid(token)
        assert tm.refresh_count == 1
        assert f"POST {oauth.url}/v1/oauth/token HTTP/1.1" in px.requests()
        assert oauth.requests[-1].headers["User-Agent"].startswith("claude-code-mux/")
