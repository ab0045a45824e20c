"""``ccm code`` against a fake ``claude`` on PATH, the router lifecycle around it, and ``ccm env``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from claude_code_mux.cli.env import ClaudeEnv, claude_env, render
from claude_code_mux.config.default import DEFAULT_CONFIG_TOML
from claude_code_mux.config.load import parse_config

FAKE = Path(__file__).with_name("fake_claude.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ccm_env(home: Path, bin_dir: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCM_", "ANTHROPIC_", "CLAUDE", "FAKE_CLAUDE"))}
    env.update({"CCM_HOME": str(home), "HOME": str(home / "userhome")})
    env["PATH"] = str(bin_dir) if bin_dir is not None else str(home / "empty-bin")
    env.update(extra or {})
    return env


def ccm(*args: str, env: dict[str, str], timeout: float = 40, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def fake_bin(tmp: Path) -> Path:
    """A PATH directory holding only ``claude``, which runs fake_claude.py."""
    d = tmp / "bin"
    d.mkdir(exist_ok=True)
    exe = d / "claude"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    exe.chmod(0o755)
    return d


ROUTED_CONFIG = """
[server]
port = {port}
api_key = "rk-'test$1"

[server.timeouts]
api_timeout_ms = 123000

[router]
default = "glm"
background = "small"
auto_map = false

[[providers]]
name = "up"
provider_type = "openai"
api_key = "sk-up"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "glm"
context_window = 128000
[[models.mappings]]
provider = "up"
actual_model = "z/glm-4.6"

[[models]]
name = "small"
[[models.mappings]]
provider = "up"
actual_model = "z/glm-air"
"""


def write_config(home: Path, text: str) -> int:
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text.format(port=port) if "{port}" in text else text)
    return port


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def wait_for(pred: Any, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------------------------ ccm code


def test_code_runs_claude_with_router_env_and_stops_the_router(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = write_config(home, ROUTED_CONFIG)
    out = tmp_path / "claude.json"
    env = ccm_env(
        home,
        fake_bin(tmp_path),
        {"FAKE_CLAUDE_OUT": str(out), "FAKE_CLAUDE_EXIT": "7", "ANTHROPIC_API_KEY": "sk-user-real"},
    )
    settings = home / "userhome" / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"env": {"ANTHROPIC_MODEL": "opus", "FOO": "1"}}))
    claude_args = ["-p", "hello world", "--model", "x", "-c", "--help", "--", "--config", "y"]
    r = ccm("code", *claude_args, env=env)
    assert r.returncode == 7, r.stderr
    assert 'sets ANTHROPIC_MODEL in "env"' in r.stderr  # it would override ours: say so
    assert r.stdout == "fake-claude ran\n"  # the router's start message goes to stderr
    got = json.loads(out.read_text())
    assert got["argv"] == claude_args
    assert got["health"] == 200  # the router answered while claude ran
    e = got["env"]
    assert e["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{port}"
    assert e["ANTHROPIC_AUTH_TOKEN"] == "rk-'test$1"
    assert "ANTHROPIC_API_KEY" not in e  # no passthrough provider: the user's key stays out
    assert e["ANTHROPIC_MODEL"] == "glm"
    assert e["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == e["ANTHROPIC_SMALL_FAST_MODEL"] == "small"
    assert e["ANTHROPIC_DEFAULT_OPUS_MODEL"] == e["ANTHROPIC_DEFAULT_SONNET_MODEL"] == "glm"
    assert e["API_TIMEOUT_MS"] == "123000"
    assert e["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "128000"
    assert e["CCM_HOME"] == str(home)
    # ccm code started the router, so the last session out stopped it.
    assert not (home / "ccm.pid").exists()
    assert not answers(port)
    assert json.loads((home / "code_sessions").read_text())["sessions"] == []


def test_sessions_share_the_router_and_the_last_one_stops_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = write_config(home, ROUTED_CONFIG)
    bin_dir = fake_bin(tmp_path)
    gate = tmp_path / "gate"
    out_a = tmp_path / "a.json"
    env_a = ccm_env(home, bin_dir, {"FAKE_CLAUDE_OUT": str(out_a), "FAKE_CLAUDE_WAIT_FOR": str(gate)})
    a = subprocess.Popen(
        [sys.executable, "-m", "claude_code_mux", "code", "-p", "a"],
        env=env_a,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(out_a.exists, 20), "session A did not start claude"
        assert answers(port)
        b = ccm("code", "-p", "b", env=ccm_env(home, bin_dir, {"FAKE_CLAUDE_EXIT": "3"}))
        assert b.returncode == 3
        assert answers(port)  # A still runs: B must not stop the router A started
        gate.touch()
        assert a.wait(20) == 0
    finally:
        gate.touch()
        if a.poll() is None:
            a.kill()
        a.communicate()
    assert not answers(port)
    assert not (home / "ccm.pid").exists()


def test_a_router_that_was_already_running_is_left_running(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = write_config(home, ROUTED_CONFIG)
    env = ccm_env(home, fake_bin(tmp_path), {"FAKE_CLAUDE_OUT": str(tmp_path / "c.json")})
    assert ccm("start", "--detach", env=env).returncode == 0
    try:
        r = ccm("code", "-p", "x", env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads((tmp_path / "c.json").read_text())["health"] == 200
        assert answers(port)
    finally:
        assert ccm("stop", env=env).returncode == 0


def test_missing_claude_exits_127_without_starting_the_router(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, ROUTED_CONFIG)
    r = ccm("code", "-p", "x", env=ccm_env(home, None))
    assert r.returncode == 127
    assert "claude" in r.stderr and "npm install -g @anthropic-ai/claude-code" in r.stderr
    assert not (home / "ccm.pid").exists()
    r = ccm("code", env=ccm_env(home, None, {"CLAUDE_BIN": str(tmp_path / "nope" / "claude")}))
    assert r.returncode == 127


# ------------------------------------------------------------------------------- environment rules


def _env(toml: str, environ: dict[str, str] | None = None) -> ClaudeEnv:
    return claude_env(parse_config(toml, path="t.toml"), host="127.0.0.1", port=1234, environ=environ or {})


def test_zero_config_keeps_the_users_key_for_passthrough() -> None:
    e = _env(DEFAULT_CONFIG_TOML, {"ANTHROPIC_API_KEY": "sk-real"})
    # Claude Code's own key and model choice flow to Anthropic; nothing to pin, nothing to clear.
    assert e.set == {"ANTHROPIC_BASE_URL": "http://127.0.0.1:1234", "API_TIMEOUT_MS": "600000"}
    assert e.unset == ()
    assert e.apply({"ANTHROPIC_API_KEY": "sk-real"})["ANTHROPIC_API_KEY"] == "sk-real"
    # Without a key of the user's, no placeholder either: Claude Code's own login is forwarded.
    assert "ANTHROPIC_AUTH_TOKEN" not in _env(DEFAULT_CONFIG_TOML).set


def test_passthrough_with_a_router_key_uses_the_free_variable() -> None:
    toml = DEFAULT_CONFIG_TOML.replace("[server]\n", '[server]\napi_key = "rk"\n', 1)
    assert _env(toml, {"ANTHROPIC_API_KEY": "sk-real"}).set["ANTHROPIC_AUTH_TOKEN"] == "rk"
    assert _env(toml, {"ANTHROPIC_AUTH_TOKEN": "tok"}).set["ANTHROPIC_API_KEY"] == "rk"
    both = _env(toml, {"ANTHROPIC_AUTH_TOKEN": "tok", "ANTHROPIC_API_KEY": "sk"})
    assert "ANTHROPIC_API_KEY" not in both.set and "ANTHROPIC_AUTH_TOKEN" not in both.set
    assert any("cannot be added" in n for n in both.notes)


def test_placeholder_token_without_router_key_and_auto_map() -> None:
    toml = """
[router]
default = "glm"
background = "small"
auto_map = true
[[providers]]
name = "up"
provider_type = "openai"
api_key = "k"
models = ["glm"]
[[providers]]
name = "off"
provider_type = "openai"
api_key = "k"
enabled = false
[[models]]
name = "small"
[[models.mappings]]
provider = "off"
actual_model = "glm-air"
[[models]]
name = "glm"
context_window = 200000
[[models.mappings]]
provider = "up"
actual_model = "glm-4.6"
"""
    e = _env(toml, {"ANTHROPIC_API_KEY": "sk-real"})
    assert e.set["ANTHROPIC_AUTH_TOKEN"] == "ccm"
    assert e.unset == ("ANTHROPIC_API_KEY",)
    # auto_map maps claude-* to the default already: no pin, no aliases.
    # The background model's only provider is disabled, so no haiku model either.
    for var in ("ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL"):
        assert var not in e.set
    assert e.set["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "200000"


def test_disabled_background_rule_and_default_on_a_disabled_provider() -> None:
    toml = """
[router]
default = "big"
background = "small"
disabled = ["background"]
[[providers]]
name = "up"
provider_type = "openai"
api_key = "k"
models = ["small"]
[[providers]]
name = "off"
provider_type = "openai"
api_key = "k"
enabled = false
[[models]]
name = "big"
[[models.mappings]]
provider = "off"
actual_model = "big-1"
"""
    e = _env(toml)
    assert set(e.set) == {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "API_TIMEOUT_MS"}


# --------------------------------------------------------------------------------------- ccm env


@pytest.mark.parametrize(
    ("shell", "expect"),
    [
        ("bash", "export ANTHROPIC_AUTH_TOKEN='rk-'\"'\"'test$1'"),
        ("zsh", "export ANTHROPIC_MODEL='glm'"),
        ("fish", "set -gx ANTHROPIC_AUTH_TOKEN 'rk-\\'test$1'"),
        ("powershell", "$env:ANTHROPIC_AUTH_TOKEN = 'rk-''test$1'"),
    ],
)
def test_ccm_env_for_each_shell(tmp_path: Path, shell: str, expect: str) -> None:
    home = tmp_path / "home"
    port = write_config(home, ROUTED_CONFIG)
    r = ccm("env", "--shell", shell, env=ccm_env(home, None))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert expect in lines
    assert "not running" in r.stderr
    unset = {"bash": "unset", "zsh": "unset", "fish": "set -e", "powershell": "Remove-Item Env:"}[shell]
    assert any(line.startswith(unset) and "ANTHROPIC_API_KEY" in line for line in lines)
    assert any(f"127.0.0.1:{port}" in line for line in lines)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_output_evaluates_to_the_same_values() -> None:
    e = ClaudeEnv({"A": 'it\'s $HOME `x` "q"', "B": "plain"}, unset=("C",))
    script = render(e, "bash") + 'printf "%s|%s|%s" "$A" "$B" "${C-unset}"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={"C": "set"}, check=True)
    assert out.stdout == 'it\'s $HOME `x` "q"|plain|unset'


# ------------------------------------------------------------------------------ two configs, one home

OTHER_CONFIG = """
[server]
port = {port}
api_key = "rk-other-config-key"

[router]
default = "claude-x"
auto_map = false

[[providers]]
name = "anthropic"
provider_type = "anthropic"
auth_type = "passthrough"
models = ["claude-*"]
"""


def test_config_flag_never_reaches_another_configs_router(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port_a = write_config(home, ROUTED_CONFIG)  # the home's config.toml
    other = tmp_path / "b.toml"
    other.write_text(OTHER_CONFIG.format(port=port_a))  # the same port: a conflict, not a shared router
    out = tmp_path / "claude.json"
    env = ccm_env(home, fake_bin(tmp_path), {"FAKE_CLAUDE_OUT": str(out)})
    assert ccm("start", "--detach", env=env).returncode == 0
    try:
        s = ccm("--config", str(other), "status", env=env)
        assert s.returncode == 3, s.stdout
        assert "not running" in s.stdout and "other routers from this home" in s.stdout
        e = ccm("--config", str(other), "env", env=env)
        assert e.returncode == 1 and e.stdout == ""
        assert "another config" in e.stderr and "server.port" in e.stderr and "--home" in e.stderr
        c = ccm("--config", str(other), "code", "-p", "x", env=env)
        assert c.returncode == 1 and "another config" in c.stderr
        assert not out.exists()  # claude never ran against the other config's router
        assert "stopped" not in ccm("--config", str(other), "stop", env=env).stdout
        assert answers(port_a)

        # With its own port, the second config gets its own router beside the first.
        port_b = free_port()
        other.write_text(OTHER_CONFIG.format(port=port_b))
        r = ccm("--config", str(other), "start", "--detach", env=env)
        assert r.returncode == 0, r.stderr
        sa, sb = ccm("status", env=env), ccm("--config", str(other), "status", env=env)
        assert f"port {port_a}, healthy" in sa.stdout and f"port {port_b}, healthy" in sb.stdout
        assert sa.stdout.split("PID ")[1].split(",")[0] != sb.stdout.split("PID ")[1].split(",")[0]
        e = ccm("--config", str(other), "env", env=env)
        assert e.returncode == 0 and f"127.0.0.1:{port_b}" in e.stdout and "rk-other-config-key" in e.stdout
        c = ccm("--config", str(other), "code", "-p", "x", env=env)
        assert c.returncode == 0, c.stderr
        got = json.loads(out.read_text())["env"]
        assert got["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{port_b}" and got["CCM_CONFIG"] == str(other)
        assert "stopped" in ccm("--config", str(other), "stop", env=env).stdout
        assert not answers(port_b) and answers(port_a)
    finally:
        ccm("stop", env=env)
    assert not answers(port_a)
