"""No token, code or verifier in any captured log line, exception text or repr across every flow."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from pathlib import Path

import httpx
import pytest

from claude_code_mux.auth.claude_credentials import ClaudeCodeSync
from claude_code_mux.auth.login import CallbackServer, PendingLogins
from claude_code_mux.auth.oauth import refresh_tokens
from claude_code_mux.auth.store import FileStore
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.errors import CcmError
from tests.auth._support import free_range
from tests.mocks.oauth import MockOAuthServer


async def test_nothing_secret_is_logged_or_raised(
    mock: MockOAuthServer, session: httpx.AsyncClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = mock.settings()
    store = FileStore(tmp_path / "oauth_tokens.json")
    tm = TokenManager(store, settings, lambda: session, sync=ClaudeCodeSync(tmp_path / "claude.json"))
    pending = PendingLogins(tm)
    texts: list[str] = []
    extra_secrets: list[str] = []

    def verifier_of(state: str) -> str:
        v = pending._pending[state].verifier.reveal()
        extra_secrets.append(v)
        return v

    # The browser steps use a client that logs nothing (httpcore's debug trace would show the callback URL,
    # which a browser, not the router, fetches): urllib without proxies, in a thread, following redirects.
    # The token calls under test go through ``session`` (httpx).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def fetch(url: str, accept: str = "text/html") -> tuple[int, bytes]:
        with opener.open(urllib.request.Request(url, headers={"Accept": accept}), timeout=10) as resp:
            return int(resp.status), bytes(resp.read())

    async def shown(url: str) -> str:
        _, body = await asyncio.to_thread(fetch, url, "application/json")
        return str(json.loads(body)["code"])

    # paste login, then replaying the same code
    info = pending.start("max", "a")
    verifier_of(info["state"])
    code = await shown(info["url"])
    rec = await pending.complete(code, info["state"])
    texts.append(repr(rec))
    info2 = pending.start("max", "a")
    verifier_of(info2["state"])
    with pytest.raises(CcmError) as e1:  # stale paste for the new attempt: state mismatch
        await pending.complete(code, info2["state"])
    texts += [str(e1.value), repr(e1.value)]

    # console login with an API key
    info3 = pending.start("console", "c")
    verifier_of(info3["state"])
    rec_c = await pending.complete(await shown(info3["url"]), info3["state"])
    assert rec_c.api_key is not None
    extra_secrets.append(rec_c.api_key.reveal())
    texts.append(repr(rec_c))

    # loopback login
    lo, hi = free_range(2)
    server = await CallbackServer.start((lo, hi))
    assert server is not None
    try:
        info4 = pending.start("max", "loop", server.redirect_uri)
        server.expected_state = info4["state"]
        verifier_of(info4["state"])
        status, _ = await asyncio.to_thread(fetch, info4["url"])
        assert status == 200
        await pending.complete(await server.wait(5), info4["state"])
    finally:
        await server.close()

    # refresh, forced refresh, then a dead login and a network failure
    token = await tm.get_access_token("a")
    new = await tm.force_refresh("a", token)
    texts.append(repr(tm))
    stored = await store.get("a")
    assert stored is not None
    mock.revoke_refresh(stored.refresh_token.reveal())
    with pytest.raises(CcmError) as e2:
        await tm.force_refresh("a", new)
    texts += [str(e2.value), repr(e2.value)]
    with pytest.raises(CcmError) as e3:
        await refresh_tokens(session, mock.settings(token_url="http://127.0.0.1:9/t"), stored.refresh_token.reveal())
    texts += [str(e3.value), repr(e3.value)]
    texts.append(repr(await tm.status()))
    texts.append(caplog.text)
    texts += [r.getMessage() for r in caplog.records]

    everything = "\n".join(texts)
    secrets = [*mock.secrets_issued(), *extra_secrets]
    assert len(secrets) > 15
    for secret in secrets:
        assert secret not in everything
    assert "refreshed OAuth login 'a'" in caplog.text  # logging did happen
