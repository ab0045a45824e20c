"""The files ccm writes hold keys and logins: the home is 0700, config.toml 0600, rewrites atomic and private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.harness import run_router
from tests.mocks.anthropic import MockAnthropic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ccm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CCM_CONFIG"}
    env["CCM_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_init_creates_a_private_home_and_config(tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "ccm-home"
    old = os.umask(0o022)  # the usual umask, which made 0755 / 0644 before
    try:
        r = ccm(home, "init")
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    assert mode(home) == 0o700
    assert mode(home / "config.toml") == 0o600
    assert not [p.name for p in home.iterdir() if p.name != "config.toml"]  # no temp file left behind
    # --force rewrites a config an older version left world-readable, and tightens it.
    (home / "config.toml").chmod(0o644)
    assert ccm(home, "init", "--force").returncode == 0
    assert mode(home / "config.toml") == 0o600


def test_init_warns_about_a_home_open_to_others(tmp_path: Path) -> None:
    home = tmp_path / "open"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    r = ccm(home, "init")
    assert r.returncode == 0
    assert "chmod 700" in r.stderr and str(home) in r.stderr


CONFIG = """# written by an older ccm init
[router]
default = "main"
[[providers]]
name = "up"
provider_type = "anthropic"
base_url = "{url}"
api_key = "sk-up-test"
[[models]]
name = "main"
[[models.mappings]]
provider = "up"
actual_model = "m"
"""


async def test_admin_api_rewrites_are_private_and_atomic(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(CONFIG.format(url=mock.url), tmp_path) as router:
        path = router.config_path
        path.chmod(0o644)
        inode = path.stat().st_ino
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as http:
            r = await http.post(
                "/api/providers",
                json={"name": "extra", "provider_type": "anthropic", "base_url": mock.url, "api_key": "sk-up-test"},
            )
            assert r.status_code == 201, r.text
            assert mode(path) == 0o600
            assert path.stat().st_ino != inode  # replaced by rename, never written in place
            r = await http.put("/api/providers/extra", json={"enabled": False})
            assert r.status_code == 200, r.text
            assert mode(path) == 0o600
        assert "# written by an older ccm init" in path.read_text()
        assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
