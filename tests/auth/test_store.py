"""The token store: one contract for every store, the original file format, 0600 always, crash safety."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import stat
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import (
    FileStore,
    MemoryStore,
    TokenRecord,
    TokenStore,
    format_rfc3339,
    parse_rfc3339,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def record(pid: str = "claude-max", n: int = 1, *, expires_in: float = 3600, **kw: Any) -> TokenRecord:
    return TokenRecord(
        provider_id=pid,
        access_token=Secret(f"sk-ant-oat01-access-{n}"),
        refresh_token=Secret(f"sk-ant-ort01-refresh-{n}"),
        expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in),
        **kw,
    )


@pytest.fixture(params=["memory", "file"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TokenStore]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield FileStore(tmp_path / "home" / "oauth_tokens.json")


# -- the contract --


async def test_contract_crud(store: TokenStore) -> None:
    assert await store.get("claude-max") is None
    assert await store.all() == []
    a, b = record("b-id", 1, project_id="proj"), record("a-id", 2)
    await store.put(a)
    await store.put(b)
    assert await store.get("b-id") == a
    assert [r.provider_id for r in await store.all()] == ["a-id", "b-id"]
    a2 = record("b-id", 3)
    await store.put(a2)
    assert await store.get("b-id") == a2
    assert await store.delete("b-id") is True
    assert await store.delete("b-id") is False
    assert await store.get("b-id") is None
    assert await store.all() == [b]


async def test_contract_lock_excludes_other_tasks(store: TokenStore) -> None:
    inside = 0
    peak = 0

    async def worker(i: int) -> None:
        nonlocal inside, peak
        async with store.locked():
            inside += 1
            peak = max(peak, inside)
            current = await store.get("p")
            await asyncio.sleep(0.005)
            n = int(current.access_token.reveal().rsplit("-", 1)[1]) if current else 0
            await store.put(record("p", n + 1))
            inside -= 1

    await asyncio.gather(*(worker(i) for i in range(10)))
    assert peak == 1
    got = await store.get("p")
    assert got is not None and got.access_token.reveal().endswith("-10")  # no lost update


async def test_contract_lock_is_reentrant_for_its_task(store: TokenStore) -> None:
    async with store.locked(), store.locked():
        await store.put(record())
        assert await store.delete("claude-max")
    async with store.locked():  # released properly
        pass


async def test_contract_record_semantics(store: TokenStore) -> None:
    r = record(expires_in=200)
    await store.put(r)
    got = await store.get(r.provider_id)
    assert got is not None
    now = datetime.now(UTC)
    assert 190 < got.expires_in(now) <= 200
    assert got.needs_refresh(now) and not got.is_expired(now)
    assert not got.needs_refresh(now, skew=60) and not got.needs_refresh(now.timestamp(), timedelta(seconds=60))
    assert got.is_expired(now + timedelta(seconds=201))
    assert got.expires_at.tzinfo is UTC


def test_record_repr_is_masked() -> None:
    r = record(api_key=Secret("sk-ant-api03-supersecretkey"))
    text = repr(r) + str(r)
    for secret in ("access-1", "refresh-1", "supersecretkey"):
        assert secret not in text
    assert "claude-max" in text


# -- the original file format --


def test_rfc3339() -> None:
    assert format_rfc3339(datetime(2025, 11, 20, 12, 0, tzinfo=UTC)) == "2025-11-20T12:00:00Z"
    assert format_rfc3339(datetime(2025, 11, 20, 12, 0, 0, 5, tzinfo=UTC)) == "2025-11-20T12:00:00.000005Z"
    assert parse_rfc3339("2025-11-20T12:34:56.123456789Z") == datetime(2025, 11, 20, 12, 34, 56, 123456, tzinfo=UTC)
    assert parse_rfc3339("2025-11-20T14:34:56+02:00") == datetime(2025, 11, 20, 12, 34, 56, tzinfo=UTC)


async def test_file_format_matches_original(tmp_path: Path) -> None:
    path = tmp_path / "oauth_tokens.json"
    original: dict[str, dict[str, Any]] = {
        "claude-max": {
            "provider_id": "claude-max",
            "access_token": "sk-ant-oat01-old",
            "refresh_token": "sk-ant-ort01-old",
            "expires_at": "2025-11-20T12:34:56.123456789Z",
            "enterprise_url": None,
        },
        "gemini": {
            "provider_id": "gemini",
            "access_token": "ya29.x",
            "refresh_token": "1//y",
            "expires_at": "2025-11-20T12:34:56Z",
            "enterprise_url": None,
            "project_id": "my-proj",
            "future_field": 7,
        },
        "broken": {"provider_id": "broken"},
    }
    path.write_bytes(orjson.dumps(original, option=orjson.OPT_INDENT_2))
    store = FileStore(path)
    got = await store.get("claude-max")
    assert got is not None and got.access_token.reveal() == "sk-ant-oat01-old"
    assert got.expires_at == datetime(2025, 11, 20, 12, 34, 56, 123456, tzinfo=UTC)
    assert await store.get("broken") is None
    assert [r.provider_id for r in await store.all()] == ["claude-max", "gemini"]

    await store.put(record("claude-max", 9))
    data = orjson.loads(path.read_bytes())
    assert list(data["claude-max"]) == [
        "provider_id",
        "access_token",
        "refresh_token",
        "expires_at",
        "enterprise_url",
    ]
    assert data["claude-max"]["expires_at"].endswith("Z")
    assert data["claude-max"]["enterprise_url"] is None
    assert data["gemini"] == original["gemini"]  # untouched, unknown field kept
    assert data["broken"] == original["broken"]  # never drop what we cannot parse
    await store.put(TokenRecord.from_json("gemini", {**original["gemini"], "access_token": "ya29.new"}))
    assert orjson.loads(path.read_bytes())["gemini"]["future_field"] == 7


async def test_corrupt_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "oauth_tokens.json"
    path.write_text("{not json")
    store = FileStore(path)
    with pytest.raises(Exception, match="not valid JSON"):
        await store.get("x")
    with pytest.raises(Exception, match="not valid JSON"):
        await store.put(record())
    assert path.read_text() == "{not json"


# -- permissions --


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _modes(directory: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in os.listdir(directory):
        with contextlib.suppress(FileNotFoundError):  # a temp file may vanish between listdir and lstat
            out[name] = stat.S_IMODE(os.lstat(directory / name).st_mode)
    return out


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
async def test_file_and_lock_are_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        home = tmp_path / "home"
        store = FileStore(home / "oauth_tokens.json")
        await store.put(record())
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700 & ~umask
    assert _modes(home) == {"oauth_tokens.json": 0o600, "oauth_tokens.json.lock": 0o600}


async def test_existing_wide_file_becomes_0600(tmp_path: Path) -> None:
    path = tmp_path / "oauth_tokens.json"
    path.write_text("{}")
    path.chmod(0o644)
    await FileStore(path).put(record())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_no_file_is_ever_wider_than_0600(
    tmp_path: Path, umask_zero: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    created: list[tuple[str, int]] = []
    real_open = os.open

    def spy_open(path: Any, flags: int, mode: int = 0o777, *args: Any, **kw: Any) -> int:
        if flags & os.O_CREAT and str(path).startswith(str(home)):
            created.append((os.path.basename(str(path)), mode))
        return real_open(path, flags, mode, *args, **kw)

    monkeypatch.setattr(os, "open", spy_open)
    seen_wide: list[tuple[str, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for name, mode in _modes(home).items():
                if mode & 0o077:
                    seen_wide.append((name, mode))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        store = FileStore(home / "oauth_tokens.json")
        for n in range(60):
            await store.put(record(f"p{n % 5}", n))
    finally:
        stop.set()
        watcher.join()
    assert not seen_wide
    assert created and all(mode == 0o600 for _, mode in created), created
    assert any(name.endswith(".tmp") for name, _ in created)
    assert sorted(os.listdir(home)) == ["oauth_tokens.json", "oauth_tokens.json.lock"]  # no temp files left


async def test_stale_temp_files_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "oauth_tokens.json"
    stale = tmp_path / ".oauth_tokens.json.deadbeef.tmp"
    stale.write_text("partial")
    await FileStore(path).put(record())
    assert not stale.exists()


# -- crash safety --


async def test_kill_9_during_writes_leaves_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "oauth_tokens.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    rng = random.Random(1234)
    for _ in range(3):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "_writer_child.py"), str(path), stdout=asyncio.subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).strip() == b"started"
        await asyncio.sleep(rng.uniform(0.01, 0.15))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        data = orjson.loads(path.read_bytes())  # always complete JSON
        assert set(data) == {f"p{i}" for i in range(20)}
        for pid, entry in data.items():
            TokenRecord.from_json(pid, entry)
        for name, mode in _modes(tmp_path).items():
            assert mode & 0o077 == 0, (name, oct(mode))
    # the next writer takes the lock (a killed holder's flock is gone) and cleans leftovers
    await asyncio.wait_for(FileStore(path).put(record()), 10)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
