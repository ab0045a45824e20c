"""``ccm logout`` offers to remove the [[models]] entries that only used that login."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import FileStore, TokenRecord

CONFIG = """# keep me
[router]
default = "keep"
[[providers]]
name = "max"
provider_type = "anthropic"
auth_type = "oauth"
oauth_provider = "claude-max"
[[providers]]
name = "key"
provider_type = "anthropic"
api_key = "k"
[[models]]
name = "keep"
[[models.mappings]]
provider = "key"
actual_model = "a"
[[models]]
name = "max-only"
[[models.mappings]]
provider = "max"
actual_model = "claude-sonnet-4-5"
"""


def login(home: Path) -> None:
    rec = TokenRecord(
        provider_id="claude-max",
        access_token=Secret("at_test_access_token"),
        refresh_token=Secret("rt_test_refresh_token"),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    asyncio.run(FileStore(home / "oauth_tokens.json").put(rec))


def ccm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_logout_suggests_then_removes_models(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG)
    login(tmp_path)
    r = ccm(tmp_path, "logout", "claude-max")
    assert r.returncode == 0, r.stderr
    assert "max-only" in r.stdout and "--remove-models" in r.stdout
    assert 'name = "max-only"' in (tmp_path / "config.toml").read_text()
    login(tmp_path)
    r = ccm(tmp_path, "logout", "claude-max", "--remove-models")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "config.toml").read_text()
    assert 'name = "max-only"' not in text and 'name = "keep"' in text and "# keep me" in text


def test_remove_models_refuses_when_router_uses_them_then_repoints(tmp_path: Path) -> None:
    config = CONFIG.replace('default = "keep"\n', 'default = "keep"\nthink = "max-only"  # deep thoughts\n')
    config += '[[router.rules]]\npattern = "^/max"\nmodel = "max-only"\n'
    (tmp_path / "config.toml").write_text(config)
    login(tmp_path)
    r = ccm(tmp_path, "logout", "claude-max", "--remove-models")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "router.think = 'max-only'" in r.stderr and "router.rules[0].model" in r.stderr
    assert "--repoint" in r.stderr and "Nothing was changed" in r.stderr
    assert (tmp_path / "config.toml").read_text() == config
    assert "claude-max" in (tmp_path / "oauth_tokens.json").read_text()  # not logged out either
    # A repoint target that is itself being removed, or that does not exist, is refused the same way.
    assert ccm(tmp_path, "logout", "claude-max", "--remove-models", "--repoint", "max-only").returncode == 2
    r = ccm(tmp_path, "logout", "claude-max", "--remove-models", "--repoint", "nonesuch")
    assert r.returncode == 2 and "nonesuch" in r.stderr
    assert (tmp_path / "config.toml").read_text() == config
    r = ccm(tmp_path, "logout", "claude-max", "--remove-models", "--repoint", "keep")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "config.toml").read_text()
    assert 'name = "max-only"' not in text
    assert 'think = "keep"  # deep thoughts' in text and 'model = "keep"' in text
    assert "claude-max" not in (tmp_path / "oauth_tokens.json").read_text()
    assert ccm(tmp_path, "config", "check").returncode == 0
