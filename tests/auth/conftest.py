"""Fixtures for the auth tests: the mock OAuth server, a client session, settings and a fake clock."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for entry in (ROOT / "src", ROOT):  # the package may not be installed; the mocks live under tests/
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from collections.abc import AsyncIterator  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

from claude_code_mux.config.oauth_schema import OAuthSettings  # noqa: E402
from tests.auth._support import FakeClock  # noqa: E402
from tests.mocks.oauth import MockOAuthServer  # noqa: E402


@pytest.fixture
async def mock() -> AsyncIterator[MockOAuthServer]:
    async with MockOAuthServer() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as s:
        yield s


@pytest.fixture
def settings(mock: MockOAuthServer) -> OAuthSettings:
    return mock.settings()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
