"""Router configs for the three Gemini auth modes against :class:`tests.mocks.gemini.MockGemini`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from claude_code_mux.auth.gemini_cli import BASE_URL_ENV, SOURCE
from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import TOKEN_FILE_NAME, FileStore, TokenRecord
from tests.harness import model_block
from tests.mocks.gemini import MockGemini, generate_service_account

MODES = ("key", "vertex", "cli")
API_KEY = "gm-secret-key-1"
MODEL = "gemini-2.5-pro"


def key_provider(name: str, url: str) -> str:
    return (
        f'[[providers]]\nname = "{name}"\nprovider_type = "gemini"\nbase_url = "{url}/v1beta"\napi_key = "{API_KEY}"\n'
    )


async def provider_block(mode: str, mock: MockGemini, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``[[providers]]`` table named ``g`` for ``mode``, with its credentials set up in ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    if mode == "key":
        mock.api_key = API_KEY
        return key_provider("g", mock.url)
    if mode == "vertex":
        info, public = generate_service_account(mock.url + "/token")
        mock.register_service_account(info["client_email"], public)
        path = home / "sa.json"
        path.write_text(json.dumps(info))
        path.chmod(0o600)
        return (
            f'[[providers]]\nname = "g"\nprovider_type = "vertex-ai"\nbase_url = "{mock.url}"\n'
            f'project = "mock-project"\nlocation = "global"\ncredentials_file = "{path}"\n'
        )
    assert mode == "cli"
    monkeypatch.setenv(BASE_URL_ENV, mock.url)
    record = TokenRecord(
        provider_id="gemini",
        access_token=Secret("ya29.stale-token"),
        refresh_token=Secret(mock.mint_refresh_token()),
        expires_at=time.time() - 10,  # type: ignore[arg-type]
        source=SOURCE,
    )
    await FileStore(home / TOKEN_FILE_NAME).put(record)
    return f'[[providers]]\nname = "g"\nprovider_type = "gemini-cli"\nbase_url = "{mock.url}"\n'


async def router_config(mode: str, mock: MockGemini, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return (
        '[router]\ndefault = "main"\nauto_map = true\n'
        + await provider_block(mode, mock, home, monkeypatch)
        + model_block("main", [("g", MODEL)])
    )
