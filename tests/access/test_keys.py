"""Virtual keys: ``ccm keys`` through the real CLI, the store on disk, ``authenticate`` and ``check_model``."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claude_code_mux.access.identity import (
    Identity,
    KeyRing,
    KeySnapshot,
    authenticate,
    check_model,
    model_allowed,
    rate_limit,
)
from claude_code_mux.access.keystore import KeyStore, parse_budget, parse_duration
from claude_code_mux.errors import AuthenticationFailed, KeyStoreError, PermissionDenied

DAY = 86400.0


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ccm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", "--home", str(home), "keys", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keys_create_list_rotate_revoke_through_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = ccm(
        home, "create", "alice", "--budget", "5/day", "--models", "sonnet,haiku", "--rps", "2", "--expires", "30d"
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("ccm-") and len(key) == 47 and "\n" not in key  # stdout is the key alone
    assert "shown only now" in made.stderr
    db = home / "keys.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert key.encode() not in db.read_bytes() and key[4:].encode() not in db.read_bytes()  # only the hash

    dup = ccm(home, "create", "alice")
    assert dup.returncode == 2 and "ccm keys rotate alice" in dup.stderr

    listed = ccm(home, "list")
    assert listed.returncode == 0
    assert key not in listed.stdout and f"ccm-…{key[-4:]}" in listed.stdout
    row = next(ln for ln in listed.stdout.splitlines() if ln.startswith("alice"))
    assert "active" in row and "sonnet,haiku" in row and "$5/day" in row

    rotated = ccm(home, "rotate", "alice")
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new.startswith("ccm-") and new != key
    keys = json.loads(ccm(home, "list", "--all", "--json").stdout)
    assert [(k["name"], k["state"]) for k in keys] == [("alice", "revoked"), ("alice", "active")]
    assert keys[1]["models"] == ["sonnet", "haiku"] and keys[1]["budget_usd"] == 5.0 and keys[1]["rps"] == 2.0
    assert key not in json.dumps(keys) and new not in json.dumps(keys)

    ring = KeyRing(KeyStore(db))
    ring.load()
    with pytest.raises(AuthenticationFailed, match="revoked"):
        ring.authenticate({"x-api-key": key}, None)
    ident = ring.authenticate({"x-api-key": new}, None)
    assert ident is not None and ident.name == "alice" and ident.budget == (5.0, "day")

    gone = ccm(home, "revoke", "alice")
    assert gone.returncode == 0 and "revoked key 'alice'" in gone.stdout
    assert ring.load()  # the file changed: reloaded
    with pytest.raises(AuthenticationFailed, match="'alice' was revoked"):
        ring.authenticate({"authorization": f"Bearer {new}"}, None)
    assert ccm(home, "list").stdout.startswith("no keys")
    assert ccm(home, "revoke", "alice").returncode == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "bad name!"), "key name"),
        (("create", "bob", "--budget", "lots"), "--budget: use e.g. 50/month"),
        (("create", "bob", "--expires", "soon"), "--expires: use e.g."),
        (("create", "bob", "--rps", "0"), "--rps must be greater than 0"),
        (("rotate", "nobody"), "no active key named 'nobody'"),
    ],
)
def test_keys_cli_errors_say_what_to_write(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = ccm(tmp_path, *args)
    assert out.returncode == 2 and message in out.stderr


def test_parsers() -> None:
    assert parse_budget("50/month") == (50.0, "month")
    assert parse_budget("$2.5 / day") == (2.5, "day")
    assert parse_duration("30d") == 30 * DAY
    assert parse_duration("12h") == 12 * 3600
    with pytest.raises(KeyStoreError):
        parse_budget("0/day")


def _store(tmp_path: Path, clock: Clock) -> KeyStore:
    return KeyStore(tmp_path / "keys.db", clock=clock)


def test_authenticate_table(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    good, _ = store.create("alice", models=("sonnet",), rps=3)
    short, _ = store.create("temp", expires_in=DAY)
    old, _ = store.create("old")
    store.revoke("old")
    snap = KeySnapshot.of(store.all())
    now = clock()

    def auth(headers: dict[str, str], router_key: str | None = None, at: float = now) -> Identity | None:
        return authenticate(headers, snap, router_key, at)

    # open router (no server.api_key): no key is fine, a foreign key is ignored (passthrough credentials)
    assert auth({}) is None
    assert auth({"x-api-key": "sk-ant-users-own"}) is None
    # the shared router key, in either header
    assert auth({"x-api-key": "rk-1"}, "rk-1") == Identity("router-key", "router-key")
    assert auth({"authorization": "Bearer rk-1"}, "rk-1") == Identity("router-key", "router-key")
    # a virtual key, also next to the user's own Anthropic key in the other header
    ident = auth({"x-api-key": "sk-ant-users-own", "authorization": f"Bearer {good}"}, "rk-1")
    assert ident == Identity("alice", "key", ("sonnet",), 3.0, None)
    assert ident.client == "key:alice"
    # expiry follows the injected clock
    assert auth({"x-api-key": short}) is not None
    with pytest.raises(AuthenticationFailed, match="'temp' expired on"):
        auth({"x-api-key": short}, at=now + DAY + 1)
    with pytest.raises(AuthenticationFailed, match="'old' was revoked on"):
        auth({"x-api-key": old})
    with pytest.raises(AuthenticationFailed, match="unknown claude-code-mux key") as unknown:
        auth({"x-api-key": good[:-1] + ("A" if good[-1] != "A" else "B")})
    assert good[4:10] not in unknown.value.message  # nothing of a key in the error
    # with server.api_key set: nothing, or a wrong key, is a 401
    with pytest.raises(AuthenticationFailed, match="invalid or missing API key"):
        auth({}, "rk-1")
    with pytest.raises(AuthenticationFailed):
        auth({"x-api-key": "rk-2"}, "rk-1")
    assert AuthenticationFailed("x").status == 401


@pytest.mark.parametrize(
    ("pattern", "model", "ok"),
    [
        ("sonnet", "claude-sonnet-4-5-20250929", True),
        ("sonnet", "sonnet", True),
        ("haiku", "claude-sonnet-4-5", False),
        ("sonnet-4-5", "claude-sonnet-4-5-20250929", True),
        ("sonnet-4", "claude-sonnet-4-5", True),
        ("son", "claude-sonnet-4-5", False),  # whole words only
        ("glm-*", "glm-4.6", True),
        ("glm-*", "z-ai/glm-4.6", False),  # a glob matches the whole name
        ("*/glm-*", "z-ai/glm-4.6", True),
        ("fast", "Fast", True),
    ],
)
def test_model_allowed(pattern: str, model: str, ok: bool) -> None:
    assert model_allowed(pattern, model) is ok


def test_check_model_names_the_allowed_models() -> None:
    ident = Identity("alice", "key", ("sonnet", "haiku"))
    check_model(ident, "claude-haiku-4-5")
    check_model(None, "anything")
    check_model(Identity("router-key", "router-key"), "anything")
    with pytest.raises(PermissionDenied) as exc:
        check_model(ident, "claude-opus-4-8")
    assert exc.value.status == 403 and exc.value.error_type == "permission_error"
    assert (
        exc.value.message == "claude-code-mux key 'alice' may not use model 'claude-opus-4-8'; allowed: sonnet, haiku"
    )


def test_rate_limit_of_a_key() -> None:
    assert rate_limit(None) is None
    assert rate_limit(Identity("a", "key")) is None
    assert rate_limit(Identity("a", "key", rps=2.5)) == ("key:a", 2.5, 3)


async def test_keyring_picks_up_changes_without_a_restart(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    ring = KeyRing(store)
    assert await ring.refresh() is False  # no file yet, nothing to load
    key, _ = store.create("carol")
    assert await ring.refresh() is True
    assert ring.authenticate({"x-api-key": key}, None) == Identity("carol", "key")
    assert await ring.refresh() is False  # unchanged: not re-read
    store.revoke("carol")
    await ring.refresh()
    with pytest.raises(AuthenticationFailed):
        ring.authenticate({"x-api-key": key}, None)


def test_identity_and_records_hold_no_secret(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    key, rec = store.create("dave")
    assert key not in repr(rec) and key[4:] not in repr(rec)
    ident = KeyRing(store)
    ident.load()
    assert key not in repr(ident.snapshot)


def test_admin_functions_show_a_key_once(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from claude_code_mux.access.admin import KeyCreate, create_key, list_keys, revoke_key, rotate_key

    store = KeyStore(tmp_path / "keys.db")
    made = create_key(store, KeyCreate(name="ci", budget="5/day", models=["haiku"], rps=1, expires="7d"))
    assert made["key"].startswith("ccm-") and made["budget_usd"] == 5.0 and made["models"] == ["haiku"]
    listed = list_keys(store)
    assert [k["name"] for k in listed] == ["ci"] and "key" not in listed[0]
    new = rotate_key(store, "ci")
    assert new["key"] != made["key"] and new["models"] == ["haiku"]
    assert revoke_key(store, "ci")["state"] == "revoked"
    assert list_keys(store) == [] and len(list_keys(store, include_inactive=True)) == 2
    with pytest.raises(KeyStoreError, match="--budget"):
        create_key(store, KeyCreate(name="x", budget="much"))
    with pytest.raises(ValidationError):
        KeyCreate.model_validate({"name": "x", "admin": True})


def test_keyring_concurrent_loads_never_restore_an_older_snapshot(tmp_path: Path) -> None:
    """Regression: the watch task's load and an admin call's refresh run in two threads; the slower one read the
    store before a revoke and must not put that snapshot back over the newer one."""
    import threading

    from claude_code_mux.access.identity import KeyRing

    store = KeyStore(tmp_path / "keys.db")
    key, _ = store.create("alice")
    reading = threading.Event()
    release = threading.Event()

    class SlowFirstRead(KeyStore):
        calls = 0

        def all(self) -> list[Any]:
            SlowFirstRead.calls += 1
            rows = super().all()
            if SlowFirstRead.calls == 1:  # the watch's read: it has the old rows, then stalls
                reading.set()
                release.wait(5)
            return rows

    ring = KeyRing(SlowFirstRead(tmp_path / "keys.db"))
    watch = threading.Thread(target=ring.load)
    watch.start()
    assert reading.wait(5)
    store.revoke("alice")
    admin = threading.Thread(target=ring.load)  # the admin call's refresh, after the revoke
    admin.start()
    admin.join(0.5)  # without the lock it finishes here, before the stalled watch read
    release.set()
    watch.join(5)
    admin.join(5)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        ring.authenticate({"x-api-key": key}, None)
