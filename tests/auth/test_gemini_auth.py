"""Google credentials for Gemini: google-auth against the mock token endpoint, and the Gemini CLI login.

- Vertex: a fresh RSA service-account key, signed JWTs verified by the mock; ADC through
  ``GOOGLE_APPLICATION_CREDENTIALS``; workload identity federation (``external_account``) through the mock STS;
  caching until near expiry; a forced refresh after a 401.
- Gemini CLI: ``ccm login gemini``'s browser flow (PKCE, loopback callback, onboarding polled to done), the import
  of ``~/.gemini/oauth_creds.json``, refresh with the old refresh token kept, a dead login.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import stat
import time
from pathlib import Path

import httpx
import pytest

from claude_code_mux.auth.gemini_cli import SOURCE, GeminiCliSettings, import_gemini_cli
from claude_code_mux.auth.gemini_tokens import GeminiCliTokens
from claude_code_mux.auth.google import GoogleCredentials
from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import TOKEN_FILE_NAME, FileStore, MemoryStore, TokenRecord
from claude_code_mux.cli import gemini_login
from claude_code_mux.errors import AuthenticationFailed
from tests.mocks.gemini import MockGemini, generate_service_account


def settings_for(mock: MockGemini) -> GeminiCliSettings:
    return GeminiCliSettings(
        authorize_url=mock.url + "/o/oauth2/v2/auth",
        token_url=mock.url + "/token",
        code_assist_url=mock.url,
        onboard_poll_s=0.01,
    )


def sa_file(mock: MockGemini, tmp_path: Path) -> Path:
    info, public = generate_service_account(mock.url + "/token")
    mock.register_service_account(info["client_email"], public)
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path


async def test_service_account_jwt_is_signed_exchanged_and_cached(tmp_path: Path) -> None:
    now = [time.time()]
    async with MockGemini() as mock:
        creds = GoogleCredentials(str(sa_file(mock, tmp_path)), clock=lambda: now[0])
        token = await creds.token()
        assert token in mock.access_tokens and creds.project_id == "mock-project"
        assert await creds.token() == token and creds.refresh_count == 1
        claims = mock.jwt_claims[0]
        assert claims["iss"].endswith("iam.gserviceaccount.com") and "cloud-platform" in claims["scope"]
        now[0] += 3600 - 200  # inside the five-minute skew: refreshed ahead of expiry
        assert await creds.token() != token and creds.refresh_count == 2
        now[0] = time.time()
        rejected = await creds.token()
        assert await creds.force_refresh(rejected) != rejected and creds.refresh_count == 3
        assert "ya29" not in repr(creds)


async def test_concurrent_callers_share_one_refresh(tmp_path: Path) -> None:
    async with MockGemini() as mock:
        creds = GoogleCredentials(str(sa_file(mock, tmp_path)))
        tokens = await asyncio.gather(*(creds.token() for _ in range(8)))
        assert len(set(tokens)) == 1 and len(mock.jwt_claims) == 1


async def test_application_default_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with MockGemini() as mock:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_file(mock, tmp_path)))
        creds = GoogleCredentials(None)
        assert await creds.token() in mock.access_tokens


async def test_workload_identity_federation(tmp_path: Path) -> None:
    async with MockGemini() as mock:
        subject = tmp_path / "oidc-token"
        subject.write_text("oidc-subject-token-1")
        mock.subject_tokens.add("oidc-subject-token-1")
        config = {
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": mock.url + "/token",
            "credential_source": {"file": str(subject)},
        }
        path = tmp_path / "wif.json"
        path.write_text(json.dumps(config))
        creds = GoogleCredentials(str(path))
        assert await creds.token() in mock.access_tokens


async def test_unusable_credentials_are_a_clear_401(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "service_account"}')
    with pytest.raises(AuthenticationFailed, match="not usable"):
        await GoogleCredentials(str(bad)).token()
    with pytest.raises(AuthenticationFailed, match=r"cannot read|not usable"):
        await GoogleCredentials(str(tmp_path / "missing.json")).token()


async def test_browser_login_onboards_and_stores_the_project(tmp_path: Path) -> None:
    async with MockGemini(onboarded=False) as mock:
        args = argparse.Namespace(provider_id="gemini", no_browser=False, project=None, home=str(tmp_path))
        out = io.StringIO()

        async def browser() -> None:
            while "http" not in out.getvalue():
                await asyncio.sleep(0.01)
            url = re.search(r"(http://\S+)", out.getvalue()).group(1)  # type: ignore[union-attr]
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as s:
                r = await s.get(url)
                assert r.status_code == 200, r.text

        record, _ = await asyncio.gather(
            gemini_login.login(args, settings_for(mock), (18765, 18795), io.StringIO(), out, open_browser=False),
            browser(),
        )
        assert record.project_id == mock.code_assist_project and record.source == SOURCE
        assert mock.token_grants == ["authorization_code"]
        assert [r.path for r in mock.requests if "v1internal" in r.path] == [
            "/v1internal:loadCodeAssist",
            "/v1internal:onboardUser",
            "/v1internal:onboardUser",
        ]
        auth_url = out.getvalue()
        assert "code_challenge_method=S256" in auth_url and "access_type=offline" in auth_url
        path = tmp_path / TOKEN_FILE_NAME
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        stored = await FileStore(path).get("gemini")
        assert stored is not None and stored.project_id == mock.code_assist_project
        assert stored.access_token.reveal() not in out.getvalue()


async def test_import_then_refresh_keeps_the_refresh_token(tmp_path: Path) -> None:
    async with MockGemini() as mock:
        refresh = mock.mint_refresh_token()
        creds = tmp_path / "oauth_creds.json"
        creds.write_text(json.dumps({"access_token": "ya29.old", "refresh_token": refresh, "expiry_date": 1000}))
        record = import_gemini_cli("gemini", creds)
        assert record.source == SOURCE and record.is_expired(time.time())
        store = MemoryStore()
        await store.put(record)
        tokens = GeminiCliTokens(store, "gemini", settings_for(mock))
        try:
            token, project = await tokens.credentials()
            assert token in mock.access_tokens and project == mock.code_assist_project
            assert await tokens.credentials() == (token, project) and tokens.refresh_count == 1
            token2, _ = await tokens.credentials(rejected=token)
            assert token2 != token and tokens.refresh_count == 2
        finally:
            await tokens.close()
        saved = await store.get("gemini")
        assert saved is not None and saved.refresh_token.reveal() == refresh and saved.project_id == project
        assert mock.token_grants == ["refresh_token", "refresh_token"]


async def test_a_revoked_login_is_a_401_with_the_fix(tmp_path: Path) -> None:
    async with MockGemini() as mock:
        store = MemoryStore()
        await store.put(
            TokenRecord("gemini", Secret("ya29.x"), Secret("1//revoked"), time.time() - 5, source=SOURCE)  # type: ignore[arg-type]
        )
        tokens = GeminiCliTokens(store, "gemini", settings_for(mock))
        try:
            with pytest.raises(AuthenticationFailed, match="ccm login gemini"):
                await tokens.credentials()
        finally:
            await tokens.close()


def test_import_refuses_a_file_without_refresh_token(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"access_token": "ya29.secret-value"}))
    with pytest.raises(Exception, match="no refresh token") as info:
        import_gemini_cli("gemini", path)
    assert "ya29.secret-value" not in str(info.value)


async def test_ccm_login_import_and_tokens_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from claude_code_mux.cli.common import resolve_paths
    from claude_code_mux.cli.main import build_parser

    async def ccm(*argv: str) -> tuple[int, str]:
        args = build_parser().parse_args(list(argv))
        resolve_paths(args)
        rc = await asyncio.to_thread(args.func, args)
        captured = capsys.readouterr()
        return rc, captured.out + captured.err

    async with MockGemini() as mock:
        monkeypatch.setenv("CCM_GEMINI_OAUTH_BASE_URL", mock.url)
        monkeypatch.setenv("CCM_GEMINI_CODE_ASSIST_URL", mock.url)
        refresh = mock.mint_refresh_token()
        creds = tmp_path / "oauth_creds.json"
        creds.write_text(json.dumps({"access_token": "ya29.imported", "refresh_token": refresh, "expiry_date": 5}))
        home = str(tmp_path / "home")
        rc, out = await ccm("login", "--import-gemini-cli", str(creds), "--home", home)
        assert rc == 0 and "as 'gemini'" in out and "terms" in out and refresh not in out
        rc, out = await ccm("tokens", "refresh", "gemini", "--home", home)
        assert rc == 0 and "Refreshed 'gemini'" in out, out
        assert mock.token_grants == ["refresh_token"]
        stored = await FileStore(Path(home) / TOKEN_FILE_NAME).get("gemini")
        assert stored is not None and stored.access_token.reveal() in mock.access_tokens
        assert stored.project_id == mock.code_assist_project
        rc, out = await ccm("login", "--import-gemini-cli", str(tmp_path / "nope.json"), "--home", home)
        assert rc == 1 and "cannot read" in out
