"""Authorize URL, code input parsing, and exchange/refresh/create_api_key against the mock."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_code_mux.auth import pkce
from claude_code_mux.auth.oauth import (
    TokenEndpointError,
    build_authorize_url,
    create_api_key,
    exchange_code,
    parse_callback,
    parse_code_input,
    refresh_tokens,
)
from claude_code_mux.auth.secret import Secret, mask, redact
from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.errors import OAuthError
from tests.mocks.oauth import MockOAuthServer

# -- settings defaults --


def test_defaults_are_the_current_endpoints() -> None:
    s = OAuthSettings()
    assert s.authorize_url_max == "https://claude.ai/oauth/authorize"
    assert s.authorize_url_console == "https://platform.claude.com/oauth/authorize"
    assert s.token_url == "https://platform.claude.com/v1/oauth/token"
    assert s.redirect_uri == "https://platform.claude.com/oauth/code/callback"
    assert "user:inference" in s.scopes.split() and "org:create_api_key" in s.scopes.split()
    assert "console.anthropic.com" not in s.model_dump_json()


# -- authorize URL --


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(
    ("mode", "base"),
    [
        ("max", "https://claude.ai/oauth/authorize"),
        ("console", "https://platform.claude.com/oauth/authorize"),
    ],
)
def test_authorize_url(mode: str, base: str) -> None:
    s = OAuthSettings()
    verifier, state = pkce.generate_verifier(), pkce.generate_state()
    url = build_authorize_url(s, mode=mode, challenge=pkce.challenge(verifier), state=state)  # type: ignore[arg-type]
    assert url.startswith(base + "?code=true&client_id=")
    q = _query(url)
    assert q == {
        "code": "true",
        "client_id": s.client_id,
        "response_type": "code",
        "redirect_uri": s.redirect_uri,
        "scope": s.scopes,
        "code_challenge": pkce.challenge(verifier),
        "code_challenge_method": "S256",
        "state": state,
    }
    assert "scope=org%3Acreate_api_key+user%3Aprofile" in url  # spaces as '+'
    assert verifier not in url


def test_authorize_url_loopback_redirect() -> None:
    url = build_authorize_url(
        OAuthSettings(), mode="max", challenge="c", state="s", redirect_uri="http://localhost:8765/callback"
    )
    assert _query(url)["redirect_uri"] == "http://localhost:8765/callback"


# -- code input --

STATE = "expected-state_123"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("abc123#expected-state_123", "abc123"),
        ("  abc123#expected-state_123 \n", "abc123"),
        ("\x1b[200~abc123#expected-state_123\x1b[201~", "abc123"),
        ("'abc123#expected-state_123'", "abc123"),
        ("abc123", "abc123"),
        ("abc123#", "abc123"),
        ("abc123 expected-state_123", "abc123"),
        ("https://platform.claude.com/oauth/code/callback?code=abc123&state=expected-state_123", "abc123"),
        ("http://localhost:8765/callback?code=abc123&state=expected-state_123", "abc123"),
        ("http://localhost:8765/callback?code=abc123", "abc123"),
        ("https://x.example/cb#code=abc123&state=expected-state_123", "abc123"),
        ("code=abc123&state=expected-state_123", "abc123"),
        ("?code=abc123&state=expected-state_123", "abc123"),
        ("state=expected-state_123&code=abc123", "abc123"),
        ("a-b_c.d~e#expected-state_123", "a-b_c.d~e"),
    ],
)
def test_parse_code_input_accepts(text: str, code: str) -> None:
    assert parse_code_input(text, STATE) == code
    assert parse_code_input(text, None) == code


@pytest.mark.parametrize(
    "text",
    [
        "abc123#other-state",
        "http://localhost:8765/callback?code=abc123&state=other",
        "code=abc123&state=other",
        "abc123 other",
    ],
)
def test_parse_code_input_rejects_state_mismatch(text: str) -> None:
    with pytest.raises(OAuthError, match="state mismatch") as info:
        parse_code_input(text, STATE)
    assert "abc123" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no authorization code"),
        ("   \n", "no authorization code"),
        ("https://x.example/callback?state=s", "no 'code'"),
        (
            "http://localhost:1/callback?error=access_denied&error_description=User+denied",
            "refused: access_denied",
        ),
        ("abc def ghi", "does not look like"),
        ("#state-only", "does not look like"),
    ],
)
def test_parse_code_input_errors(text: str, match: str) -> None:
    with pytest.raises(OAuthError, match=match):
        parse_code_input(text, None)


def test_parse_callback_keeps_state() -> None:
    parsed = parse_callback("abc#st")
    assert (parsed.code, parsed.state) == ("abc", "st")
    assert "abc" not in repr(parsed)


@given(
    code=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1),
    state=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1),
    pad=st.sampled_from(["", " ", "\n", "\t ", "\r\n"]),
)
def test_parse_roundtrip_property(code: str, state: str, pad: str) -> None:
    assert parse_code_input(f"{pad}{code}#{state}{pad}", state) == code
    assert parse_code_input(f"http://localhost:9/callback?code={code}&state={state}", state) == code


# -- secrets --


def test_secret_is_masked_everywhere() -> None:
    raw = "sk-ant-oat01-" + "x" * 40
    s = Secret(raw)
    percent = "%s" % (s,)  # noqa: UP031 - old-style formatting must be masked too
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", percent, repr([s])):
        assert raw not in shown
        assert "sk-ant-oat01-" in shown
    assert s.reveal() == raw and s.matches(raw) and s.matches(Secret(raw)) and not s.matches("nope")
    assert mask("") == "<empty>"
    assert redact(f"bad token {raw} here", s) == "bad token [redacted] here"


# -- exchange --


async def _code(mock: MockOAuthServer, settings: OAuthSettings) -> tuple[str, str, str]:
    verifier, state = pkce.generate_verifier(), pkce.generate_state()
    code = mock.mint_code(verifier=verifier, redirect_uri=settings.redirect_uri, state=state)
    return code, state, verifier


async def test_exchange_success(mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient) -> None:
    code, state, verifier = await _code(mock, settings)
    ts = await exchange_code(
        session, settings, code=code, state=state, verifier=verifier, redirect_uri=settings.redirect_uri
    )
    assert ts.access_token.reveal().startswith("sk-ant-oat01-")
    assert ts.refresh_token is not None and ts.refresh_token.reveal().startswith("sk-ant-ort01-")
    assert ts.expires_in == 28800 and "user:inference" in ts.scope
    assert ts.account_email == "user@example.com"
    body = mock.requests[-1].json()
    assert list(body) == ["code", "state", "grant_type", "client_id", "redirect_uri", "code_verifier"]
    assert mock.requests[-1].headers["Content-Type"] == "application/json"
    assert mock.requests[-1].headers["User-Agent"] == settings.token_user_agent
    assert ts.access_token.reveal() not in repr(ts)


async def test_exchange_reused_code(mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient) -> None:
    code, state, verifier = await _code(mock, settings)
    kw = {"code": code, "state": state, "verifier": verifier, "redirect_uri": settings.redirect_uri}
    await exchange_code(session, settings, **kw)
    with pytest.raises(TokenEndpointError) as info:
        await exchange_code(session, settings, **kw)
    err = info.value
    assert err.invalid_grant and err.status == 400 and not err.transient
    assert "expired, was already used" in str(err) and "start the login again" in str(err).lower()
    for secret in (code, verifier):
        assert secret not in str(err)


async def test_exchange_expired_code(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    mock.config.code_lifetime_s = 0
    code, state, verifier = await _code(mock, settings)
    with pytest.raises(TokenEndpointError, match="expired, was already used"):
        await exchange_code(
            session, settings, code=code, state=state, verifier=verifier, redirect_uri=settings.redirect_uri
        )


async def test_exchange_redirect_mismatch(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    code, state, verifier = await _code(mock, settings)
    with pytest.raises(TokenEndpointError, match="redirect_uri"):
        await exchange_code(
            session,
            settings,
            code=code,
            state=state,
            verifier=verifier,
            redirect_uri=settings.redirect_uri + "x",
        )


async def test_exchange_wrong_verifier(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    code, state, _ = await _code(mock, settings)
    other = pkce.generate_verifier()
    with pytest.raises(TokenEndpointError) as info:
        await exchange_code(
            session, settings, code=code, state=state, verifier=other, redirect_uri=settings.redirect_uri
        )
    assert info.value.invalid_grant and other not in str(info.value)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_network_failure_is_transient_and_clear(session: httpx.AsyncClient) -> None:
    port = _dead_port()
    s = OAuthSettings(token_url=f"http://127.0.0.1:{port}/v1/oauth/token", token_url_fallbacks=())
    with pytest.raises(TokenEndpointError) as info:
        await refresh_tokens(session, s, "sk-ant-ort01-secretvalue")
    assert info.value.transient and info.value.status is None
    assert f"127.0.0.1:{port}" in str(info.value) and "could not reach" in str(info.value)
    assert "secretvalue" not in str(info.value)


async def test_token_url_fallback_on_404(mock: MockOAuthServer, session: httpx.AsyncClient) -> None:
    s = mock.settings(token_url=f"{mock.url}/gone/v1/oauth/token", token_url_fallbacks=(f"{mock.url}/v1/oauth/token",))
    family = mock.issue_tokens()
    ts = await refresh_tokens(session, s, family["refresh_token"])
    assert ts.access_token
    assert [r.path for r in mock.requests] == ["/gone/v1/oauth/token", "/v1/oauth/token"]
    only_gone = mock.settings(token_url=f"{mock.url}/gone/v1/oauth/token")
    with pytest.raises(TokenEndpointError, match="404; it may have moved"):
        await refresh_tokens(session, only_gone, ts.refresh_token.reveal() if ts.refresh_token else "")


# -- refresh --


async def test_refresh_rotates_and_sends_exactly_three_fields(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    family = mock.issue_tokens()
    ts = await refresh_tokens(session, settings, family["refresh_token"])
    assert mock.requests[-1].json() == {
        "grant_type": "refresh_token",
        "refresh_token": family["refresh_token"],
        "client_id": settings.client_id,
    }
    assert ts.refresh_token is not None and ts.refresh_token.reveal() != family["refresh_token"]
    assert not mock.refresh_valid(family["refresh_token"])
    with pytest.raises(TokenEndpointError) as info:
        await refresh_tokens(session, settings, family["refresh_token"])
    assert info.value.invalid_grant
    assert "Refresh token not found or invalid" in str(info.value)
    assert family["refresh_token"] not in str(info.value)


async def test_refresh_expired_and_empty(
    mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient
) -> None:
    mock.config.refresh_lifetime_s = 0
    family = mock.issue_tokens()
    with pytest.raises(TokenEndpointError, match="Refresh token expired"):
        await refresh_tokens(session, settings, family["refresh_token"])
    with pytest.raises(TokenEndpointError) as info:
        await refresh_tokens(session, settings, "")
    assert info.value.invalid_grant and mock.refresh_calls == 1  # an empty token is never sent


async def test_rate_limit_and_ua_filter(mock: MockOAuthServer, session: httpx.AsyncClient) -> None:
    mock.config.ua_filter = True
    family = mock.issue_tokens()
    with pytest.raises(TokenEndpointError) as info:
        await refresh_tokens(session, mock.settings(token_user_agent="claude-code/2.0"), family["refresh_token"])
    assert info.value.status == 429 and info.value.transient
    with pytest.raises(TokenEndpointError, match="404"):
        await refresh_tokens(session, mock.settings(token_user_agent="claude-cli/1.0"), family["refresh_token"])
    ts = await refresh_tokens(session, mock.settings(), family["refresh_token"])  # our own UA passes
    assert ts.access_token


# -- create_api_key --


async def test_create_api_key(mock: MockOAuthServer, settings: OAuthSettings, session: httpx.AsyncClient) -> None:
    with_scope = mock.issue_tokens(scope="org:create_api_key user:profile user:inference")
    key = await create_api_key(session, settings, with_scope["access_token"])
    assert key.startswith("sk-ant-api03-")
    req = mock.requests[-1]
    assert req.body == b"" and req.headers["Authorization"] == f"Bearer {with_scope['access_token']}"
    without = mock.issue_tokens(scope="user:inference")
    with pytest.raises(OAuthError, match="org:create_api_key") as info:
        await create_api_key(session, settings, without["access_token"])
    assert without["access_token"] not in str(info.value)
