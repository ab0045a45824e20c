"""PendingLogins (paste and loopback flows, console mode) and the loopback callback server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from claude_code_mux.auth import pkce
from claude_code_mux.auth.login import CallbackServer, PendingLogins
from claude_code_mux.auth.oauth import CallbackInput, TokenEndpointError
from claude_code_mux.auth.store import MemoryStore
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.errors import OAuthError
from tests.auth._support import FakeClock, free_range, occupied
from tests.mocks.oauth import MockOAuthServer


@pytest.fixture
def pending(settings: OAuthSettings, session: httpx.AsyncClient, clock: FakeClock) -> PendingLogins:
    return PendingLogins(TokenManager(MemoryStore(), settings, lambda: session, clock=clock))


async def approve(session: httpx.AsyncClient, url: str) -> str:
    """The browser step against the mock's hosted page: returns the ``code#state`` shown to the user."""
    resp = await session.get(url, headers={"Accept": "application/json"})
    assert resp.status_code == 200, resp.text
    return str((resp.json())["code"])


def test_start_returns_no_secret(pending: PendingLogins, settings: OAuthSettings) -> None:
    info = pending.start("max", "claude-max")
    assert set(info) == {"url", "state", "instructions"}
    q = {k: v[0] for k, v in parse_qs(urlsplit(info["url"]).query).items()}
    assert q["state"] == info["state"] and q["redirect_uri"] == settings.redirect_uri
    verifier = pending._pending[info["state"]].verifier.reveal()
    assert verifier not in repr(info) and verifier != info["state"]
    assert q["code_challenge"] == pkce.challenge(verifier)
    assert "code#state" in info["instructions"]
    assert "verifier" not in repr(pending) and verifier not in repr(pending._pending)


async def test_paste_flow(pending: PendingLogins, mock: MockOAuthServer, session: httpx.AsyncClient) -> None:
    info = pending.start("max", "claude-max")
    shown = await approve(session, info["url"])
    record = await pending.complete(f"  {shown}\n", info["state"])
    assert record.provider_id == "claude-max" and record.api_key is None
    assert mock.access_valid(record.access_token.reveal())
    assert await pending.manager.store.get("claude-max") == record
    body = mock.requests[-1].json()
    assert body["state"] == info["state"] and body["code_verifier"] != info["state"]
    # the attempt is used up
    with pytest.raises(OAuthError, match="unknown or has expired"):
        await pending.complete(shown, info["state"])


async def test_paste_without_state_argument(pending: PendingLogins, session: httpx.AsyncClient) -> None:
    info = pending.start("max", "p1")
    shown = await approve(session, info["url"])
    assert (await pending.complete(shown)).provider_id == "p1"


async def test_wrong_state_is_rejected_and_attempt_kept(pending: PendingLogins, session: httpx.AsyncClient) -> None:
    a = pending.start("max", "a")
    b = pending.start("max", "b")
    shown_b = await approve(session, b["url"])
    with pytest.raises(OAuthError, match="state mismatch"):
        await pending.complete(shown_b, a["state"])
    assert pending.is_pending(a["state"]) and pending.is_pending(b["state"])
    assert (await pending.complete(shown_b, b["state"])).provider_id == "b"


async def test_bare_code_needs_a_single_attempt(pending: PendingLogins, session: httpx.AsyncClient) -> None:
    a = pending.start("max", "a")
    pending.start("max", "b")
    code = (await approve(session, a["url"])).split("#")[0]
    with pytest.raises(OAuthError, match="code#state"):
        await pending.complete(code)
    assert (await pending.complete(code, a["state"])).provider_id == "a"


async def test_expired_attempt(pending: PendingLogins, session: httpx.AsyncClient, clock: FakeClock) -> None:
    info = pending.start("max", "a")
    shown = await approve(session, info["url"])
    clock.advance(601)
    with pytest.raises(OAuthError, match="expired"):
        await pending.complete(shown, info["state"])


async def test_exchange_failure_is_clear(
    pending: PendingLogins, mock: MockOAuthServer, session: httpx.AsyncClient
) -> None:
    mock.config.code_lifetime_s = 0
    info = pending.start("max", "a")
    shown = await approve(session, info["url"])
    with pytest.raises(TokenEndpointError, match="expired, was already used") as err:
        await pending.complete(shown, info["state"])
    assert shown.split("#")[0] not in str(err.value)


async def test_console_mode_creates_and_stores_an_api_key(
    pending: PendingLogins, mock: MockOAuthServer, session: httpx.AsyncClient
) -> None:
    info = pending.start("console", "console-login")
    assert urlsplit(info["url"]).path == "/console/oauth/authorize"
    record = await pending.complete(await approve(session, info["url"]), info["state"])
    assert record.api_key is not None and record.api_key.reveal().startswith("sk-ant-api03-")
    assert mock.requests[-1].path == "/api/oauth/claude_cli/create_api_key"
    stored = await pending.manager.store.get("console-login")
    assert stored is not None and stored.api_key == record.api_key
    assert record.api_key.reveal() not in repr(record)


# -- loopback --


async def test_loopback_flow(pending: PendingLogins, mock: MockOAuthServer, session: httpx.AsyncClient) -> None:
    lo, hi = free_range(3)
    with occupied(lo):
        server = await CallbackServer.start((lo, hi))
    assert server is not None and server.port == lo + 1  # the first port was taken
    try:
        info = pending.start("max", "claude-max", server.redirect_uri)
        assert server.redirect_uri == f"http://localhost:{server.port}/callback"
        server.expected_state = info["state"]
        assert "completes by itself" in info["instructions"]
        resp = await session.get(info["url"], follow_redirects=True)  # the browser follows the mock's 302 to our server
        page = resp.text
        assert resp.status_code == 200 and "Login complete" in page
        callback = await server.wait(5)
        record = await pending.complete(callback, info["state"])
        assert mock.access_valid(record.access_token.reveal())
        assert mock.requests[-1].json()["redirect_uri"] == server.redirect_uri
    finally:
        await server.close()


async def test_callback_server_rejects_and_escapes(session: httpx.AsyncClient) -> None:
    lo, hi = free_range(2)
    server = await CallbackServer.start((lo, hi))
    assert server is not None
    server.expected_state = "good"
    base = f"http://127.0.0.1:{server.port}/callback"
    try:
        resp = await session.get(base, params={"code": "c"})
        assert resp.status_code == 400
        resp = await session.get(base, params={"code": "c", "state": "bad"})
        assert resp.status_code == 400 and "different login attempt" in resp.text
        assert not server.result.done()
        resp = await session.get(base, params={"error": "<script>x</script>", "error_description": "a&b"})
        text = resp.text
        assert resp.status_code == 400 and "<script>" not in text and "&lt;script&gt;" in text and "a&amp;b" in text
        with pytest.raises(OAuthError, match="refused"):
            await server.wait(1)
    finally:
        await server.close()


async def test_callback_server_timeout_and_no_free_port() -> None:
    lo, hi = free_range(1)
    server = await CallbackServer.start((lo, hi))
    assert server is not None
    try:
        with pytest.raises(TimeoutError):
            await server.wait(0.05)
        assert await CallbackServer.start((lo, hi)) is None
    finally:
        await server.close()


async def test_callback_server_bounds_the_request_head_and_keeps_ctrl_c(session: httpx.AsyncClient) -> None:
    lo, hi = free_range(1)
    sigint = signal.getsignal(signal.SIGINT)
    server = await CallbackServer.start((lo, hi))
    assert server is not None
    try:
        await asyncio.sleep(0.05)  # uvicorn is serving by now
        assert signal.getsignal(signal.SIGINT) is sigint  # Ctrl-C still aborts the login, not just the listener
        base = f"http://127.0.0.1:{server.port}/callback"
        resp = await session.get(base, params={"code": "c" * 20_000, "state": "s"})
        assert resp.status_code == 414 and not server.result.done()
        # More than one read's worth of head (over httpx's URL limit, so by hand): h11 gives up on it unfinished.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /callback?state=s&code=" + b"c" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        with contextlib.suppress(ConnectionError):  # the server may close while we are still sending
            await writer.drain()
        try:
            status = (await asyncio.wait_for(reader.readline(), 5)).split(b" ")[1]
        except ConnectionResetError:  # the answer can be lost to the reset that unread request bytes cause
            status = b"reset"
        writer.close()
        assert status in (b"400", b"431", b"reset") and not server.result.done()
        resp = await session.get(f"http://127.0.0.1:{server.port}/elsewhere", params={"code": "c", "state": "s"})
        assert resp.status_code == 404 and not server.result.done()
    finally:
        await server.close()
    again = await CallbackServer.start((lo, hi))  # closing frees the port
    assert again is not None
    await again.close()


async def test_callback_server_answers_on_ipv6_localhost_and_a_custom_path() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    lo, hi = free_range(1)
    server = await CallbackServer.start((lo, hi), path="/auth/callback")
    assert server is not None and server.redirect_uri == f"http://localhost:{lo}/auth/callback"
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            resp = await client.get(f"http://[::1]:{lo}/auth/callback", params={"code": "c6", "state": "s6"})
        assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
        assert resp.headers["content-type"].startswith("text/html")
        assert await server.wait(1) == CallbackInput("c6", "s6")
    finally:
        await server.close()
