"""Tokens at rest: the sealed token file survives refresh and kill -9, migrates both ways, and a wrong key loses
nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from claude_code_mux.auth.store import FileStore, TokenRecord
from claude_code_mux.errors import OAuthError
from tests.auth.test_store import HERE, ROOT, record


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("CCM_TEST_KEYRING", str(path))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.auth.filekeyring.FileKeyring")
    import keyring
    import keyring.core

    keyring.set_keyring(keyring.core.load_keyring("tests.auth.filekeyring.FileKeyring"))
    return path


@pytest.mark.parametrize("source", ["keyfile", "keyring"])
async def test_sealed_store_round_trip_and_no_plain_secret_on_disk(
    tmp_path: Path, source: str, keyring_file: Path
) -> None:
    path = tmp_path / "home" / "oauth_tokens.json"
    store = FileStore(path, seal=source)
    await store.put(record("max-work", 1))
    await store.put(record("max-home", 2))
    raw = path.read_bytes()
    assert b"sk-ant-oat01" not in raw and b"sk-ant-ort01" not in raw
    env = orjson.loads(raw)
    assert env["ccm_sealed"] == 1 and env["key_source"] == source
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    if source == "keyfile":
        assert oct((path.parent / "oauth_tokens.key").stat().st_mode & 0o777) == "0o600"
    # A store opened without the seal setting reads it (the file says how it is sealed) and keeps it sealed.
    plain_cfg = FileStore(path)
    got = await plain_cfg.get("max-home")
    assert got is not None and got.access_token.reveal() == "sk-ant-oat01-access-2"
    await plain_cfg.put(record("max-home", 3))
    assert b"sk-ant" not in path.read_bytes()
    assert (await FileStore(path).get("max-home")).access_token.reveal() == "sk-ant-oat01-access-3"  # type: ignore[union-attr]


async def test_wrong_key_is_a_clear_error_and_the_file_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "oauth_tokens.json"
    await FileStore(path, seal="keyfile").put(record())
    before = path.read_bytes()
    (tmp_path / "oauth_tokens.key").write_bytes(b"A" * 43 + b"=\n")  # another valid-looking key
    with pytest.raises(OAuthError) as ei:
        await FileStore(path).get("claude-max")
    assert "cannot decrypt" in str(ei.value) and "no login is lost" in str(ei.value)
    with pytest.raises(OAuthError):
        await FileStore(path).put(record("other"))  # a write never replaces what it could not read
    assert path.read_bytes() == before
    (tmp_path / "oauth_tokens.key").unlink()
    with pytest.raises(OAuthError) as ei:
        await FileStore(path).all()
    assert "oauth_tokens.key is missing" in str(ei.value)


async def test_kill_9_during_sealed_writes_leaves_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "oauth_tokens.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    for delay in (0.02, 0.08):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "_writer_child.py"),
            str(path),
            "keyfile",
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).strip() == b"started"
        await asyncio.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        records = await FileStore(path).all()
        assert {r.provider_id for r in records} == {f"p{i}" for i in range(20)}
        assert b"sk-ant" not in path.read_bytes()


def _ccm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CCM_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("source", ["keyfile", "keyring"])
async def test_cli_encrypt_then_decrypt_keeps_every_login(tmp_path: Path, source: str, keyring_file: Path) -> None:
    path = tmp_path / "oauth_tokens.json"
    store = FileStore(path)
    for i in range(3):
        await store.put(record(f"acc{i}", i))
    before = {r.provider_id: r.access_token.reveal() for r in await store.all()}
    out = _ccm(tmp_path, "tokens", "encrypt", f"--{source}")
    assert out.returncode == 0, out.stderr
    assert "3 login(s) kept" in out.stdout and b"sk-ant" not in path.read_bytes()
    listing = _ccm(tmp_path, "tokens")
    assert listing.returncode == 0 and "acc2" in listing.stdout and "sk-ant" not in listing.stdout
    out = _ccm(tmp_path, "tokens", "decrypt")
    assert out.returncode == 0, out.stderr
    data = orjson.loads(path.read_bytes())
    assert {k: v["access_token"] for k, v in data.items()} == before  # the original format again
    assert all(TokenRecord.from_json(k, v) for k, v in data.items())
