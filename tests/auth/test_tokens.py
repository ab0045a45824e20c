"""TokenManager: refresh ahead of expiry, single flight, forced refresh on 401, dead logins, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import FileStore, MemoryStore, TokenRecord, TokenStore
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.errors import AuthenticationFailed, UpstreamError
from tests.mocks.oauth import MockConfig, MockOAuthServer

PID = "claude-max"


def seed(mock: MockOAuthServer, *, expires_in: float, pid: str = PID) -> TokenRecord:
    """A real token family at the mock, stored with the given local expiry."""
    family = mock.issue_tokens()
    return TokenRecord(
        provider_id=pid,
        access_token=Secret(family["access_token"]),
        refresh_token=Secret(family["refresh_token"]),
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
    )


async def call_messages(session: httpx.AsyncClient, mock: MockOAuthServer, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "anthropic-beta": "oauth-2025-04-20"}
    body = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    resp = await session.post(f"{mock.url}/v1/messages?beta=true", json=body, headers=headers)
    return resp.status_code


StoreFactory = Callable[[Path], TokenStore]


@pytest.fixture(params=["memory", "file"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "memory":
        return lambda _: MemoryStore()
    return lambda tmp: FileStore(tmp / "oauth_tokens.json")


def manager(store: TokenStore, settings: OAuthSettings, session: httpx.AsyncClient, **kw: Any) -> TokenManager:
    return TokenManager(store, settings, lambda: session, **kw)


async def test_valid_token_is_served_without_refresh(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    rec = seed(mock, expires_in=3600)
    tm = manager(MemoryStore([rec]), settings, session)
    for _ in range(5):
        assert await tm.get_access_token(PID) == rec.access_token.reveal()
    assert tm.refresh_count == 0 and mock.refresh_calls == 0


async def test_expiry_within_five_minutes_refreshes_exactly_once(
    mock: MockOAuthServer,
    settings: OAuthSettings,
    session: httpx.AsyncClient,
    make_store: StoreFactory,
    tmp_path: Path,
) -> None:
    rec = seed(mock, expires_in=290)
    store = make_store(tmp_path)
    await store.put(rec)
    tm = manager(store, settings, session)
    token = await tm.get_access_token(PID)
    assert token != rec.access_token.reveal()
    for _ in range(5):
        assert await tm.get_access_token(PID) == token
    assert tm.refresh_count == 1 and mock.refresh_calls == 1
    assert await call_messages(session, mock, token) == 200
    stored = await store.get(PID)
    assert stored is not None and stored.access_token.reveal() == token
    assert mock.refresh_valid(stored.refresh_token.reveal())  # the rotated refresh token was kept
    assert stored.expires_in(datetime.now(UTC)) > 28000


async def test_six_minutes_left_does_not_refresh(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    tm = manager(MemoryStore([seed(mock, expires_in=360)]), settings, session)
    await tm.get_access_token(PID)
    assert mock.refresh_calls == 0


async def test_fifty_concurrent_requests_one_refresh(
    mock: MockOAuthServer,
    settings: OAuthSettings,
    session: httpx.AsyncClient,
    make_store: StoreFactory,
    tmp_path: Path,
) -> None:
    mock.config.refresh_delay_s = 0.1
    store = make_store(tmp_path)
    await store.put(seed(mock, expires_in=-60))
    tm = manager(store, settings, session)
    tokens = await asyncio.gather(*(tm.get_access_token(PID) for _ in range(50)))
    assert len(set(tokens)) == 1
    assert mock.refresh_calls == 1 and tm.refresh_count == 1
    assert await call_messages(session, mock, tokens[0]) == 200


async def test_cancelled_caller_does_not_lose_the_rotated_token(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient, tmp_path: Path
) -> None:
    mock.config.refresh_delay_s = 0.2
    store = FileStore(tmp_path / "oauth_tokens.json")
    old = seed(mock, expires_in=-1)
    await store.put(old)
    tm = manager(store, settings, session)
    task = asyncio.create_task(tm.get_access_token(PID))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.4)
    stored = await store.get(PID)
    assert stored is not None and stored.refresh_token != old.refresh_token
    assert mock.refresh_valid(stored.refresh_token.reveal())
    assert await tm.get_access_token(PID) == stored.access_token.reveal()
    assert mock.refresh_calls == 1


async def test_revoked_access_token_forces_one_refresh_and_retry(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    rec = seed(mock, expires_in=3600)
    tm = manager(MemoryStore([rec]), settings, session)
    token = await tm.get_access_token(PID)
    mock.revoke_access(token)
    assert await call_messages(session, mock, token) == 401
    # what dispatch does: one forced refresh, one retry, never a loop
    new = await tm.force_refresh(PID, token)
    assert new != token and await call_messages(session, mock, new) == 200
    assert mock.refresh_calls == 1
    # many requests that were rejected with the same old token all get the new one without new refreshes
    again = await asyncio.gather(*(tm.force_refresh(PID, token) for _ in range(10)))
    assert set(again) == {new} and mock.refresh_calls == 1


async def test_concurrent_forced_refreshes_single_flight(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient, tmp_path: Path
) -> None:
    mock.config.refresh_delay_s = 0.05
    rec = seed(mock, expires_in=3600)
    store = FileStore(tmp_path / "t.json")
    await store.put(rec)
    tm = manager(store, settings, session)
    tokens = await asyncio.gather(*(tm.force_refresh(PID, rec.access_token.reveal()) for _ in range(20)))
    assert len(set(tokens)) == 1 and mock.refresh_calls == 1


async def test_revoked_refresh_token_is_a_clear_401_without_loop(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    rec = seed(mock, expires_in=3600)
    tm = manager(MemoryStore([rec]), settings, session)
    token = await tm.get_access_token(PID)
    mock.revoke_access(token)
    mock.revoke_refresh(rec.refresh_token.reveal())
    with pytest.raises(AuthenticationFailed) as info:
        await tm.force_refresh(PID, token)
    err = info.value
    assert err.status == 401 and err.error_type == "authentication_error"
    assert f"run: ccm login {PID}" in err.message
    assert token not in err.message and rec.refresh_token.reveal() not in err.message
    assert mock.refresh_calls == 1
    for _ in range(3):  # the dead refresh token is never sent again
        with pytest.raises(AuthenticationFailed, match="ccm login"):
            await tm.force_refresh(PID, token)
    assert mock.refresh_calls == 1


async def test_expired_with_dead_refresh_token(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    rec = seed(mock, expires_in=-5)
    mock.revoke_refresh(rec.refresh_token.reveal())
    tm = manager(MemoryStore([rec]), settings, session)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed, match="run: ccm login claude-max"):
            await tm.get_access_token(PID)
    assert mock.refresh_calls == 1


async def test_new_login_revives_a_dead_one(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    rec = seed(mock, expires_in=-5)
    mock.revoke_refresh(rec.refresh_token.reveal())
    tm = manager(MemoryStore([rec]), settings, session)
    with pytest.raises(AuthenticationFailed):
        await tm.get_access_token(PID)
    fresh = seed(mock, expires_in=3600)
    await tm.save_record(fresh)
    assert await tm.get_access_token(PID) == fresh.access_token.reveal()


async def test_missing_login(settings: OAuthSettings, session: httpx.AsyncClient) -> None:
    tm = manager(MemoryStore(), settings, session)
    with pytest.raises(AuthenticationFailed, match="no OAuth login for 'work'; run: ccm login work"):
        await tm.get_access_token("work")
    with pytest.raises(AuthenticationFailed, match="run: ccm login work"):
        await tm.force_refresh("work", "x")


async def test_invalid_grant_after_rotation_elsewhere_is_recovered(
    settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    """A writer outside our lock rotates the token while our refresh is in flight."""
    async with MockOAuthServer(MockConfig(strict_reuse=False)) as mock:
        settings = mock.settings()
        rec = seed(mock, expires_in=-1)
        store = MemoryStore([rec])
        tm = manager(store, settings, session)
        rotated: dict[str, Any] = {}
        started: list[bool] = []

        async def other_process(presented: str) -> None:
            if started:  # only the first refresh (ours) is interleaved with the other writer
                return
            started.append(True)
            resp = await session.post(
                f"{mock.url}/v1/oauth/token",
                json={
                    "grant_type": "refresh_token",
                    "refresh_token": presented,
                    "client_id": settings.client_id,
                },
            )
            rotated.update(resp.json())
            await store.put(
                TokenRecord(
                    provider_id=PID,
                    access_token=Secret(rotated["access_token"]),
                    refresh_token=Secret(rotated["refresh_token"]),
                    expires_at=datetime.now(UTC) + timedelta(hours=8),
                )
            )

        mock.before_refresh = other_process
        token = await tm.get_access_token(PID)
        assert token == rotated["access_token"]
        assert await call_messages(session, mock, token) == 200
        assert tm.refresh_count == 1


async def test_transient_failure_keeps_a_still_valid_token(mock: MockOAuthServer, session: httpx.AsyncClient) -> None:
    settings = mock.settings(token_url="http://127.0.0.1:9/v1/oauth/token")
    rec = seed(mock, expires_in=120)
    tm = manager(MemoryStore([rec]), settings, session)
    assert await tm.get_access_token(PID) == rec.access_token.reveal()
    assert await tm.get_access_token(PID) == rec.access_token.reveal()  # backoff: no second attempt
    assert tm.refresh_count == 1
    expired = seed(mock, expires_in=-1, pid="other")
    await tm.store.put(expired)
    with pytest.raises(UpstreamError, match="could not reach"):
        await tm.get_access_token("other")


async def test_status_has_no_secrets(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    a, b, c = (
        seed(mock, expires_in=3600, pid="a"),
        seed(mock, expires_in=100, pid="b"),
        seed(mock, expires_in=-5, pid="c"),
    )
    tm = manager(MemoryStore([a, b, c]), settings, session)
    rows = await tm.status()
    assert [(r["provider_id"], r["is_expired"], r["needs_refresh"]) for r in rows] == [
        ("a", False, False),
        ("b", False, True),
        ("c", True, True),
    ]
    assert all(r["expires_at"].endswith("Z") for r in rows)
    text = repr(rows)
    for rec in (a, b, c):
        assert rec.access_token.reveal() not in text and rec.refresh_token.reveal() not in text


async def test_save_login_and_delete(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient, clock: Any
) -> None:
    from claude_code_mux.auth.oauth import refresh_tokens

    tm = manager(MemoryStore(), settings, session, clock=clock)
    ts = await refresh_tokens(session, settings, mock.issue_tokens()["refresh_token"])
    rec = await tm.save_login("x", ts)
    assert rec.expires_in(clock()) == pytest.approx(28800)
    assert await tm.get_access_token("x") == ts.access_token.reveal()
    assert await tm.delete("x") is True and await tm.delete("x") is False
    with pytest.raises(AuthenticationFailed):
        await tm.get_access_token("x")


async def test_fake_clock_drives_refresh(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient, clock: Any
) -> None:
    rec = seed(mock, expires_in=3600)
    tm = manager(MemoryStore([rec]), settings, session, clock=clock)
    assert await tm.get_access_token(PID) == rec.access_token.reveal()
    clock.advance(3600 - 299)
    new = await tm.get_access_token(PID)
    assert new != rec.access_token.reveal() and mock.refresh_calls == 1
