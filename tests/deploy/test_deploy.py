"""Deployment files: the systemd unit `ccm service install` writes, the HAProxy config, the compose file and the
Dockerfile (built where a container engine runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        if os.environ.get("CCM_REQUIRE_E2E"):
            pytest.fail(f"{binary} not found (.ci/run installs it)")
        pytest.skip(f"{binary} not found")
    return path


def test_service_install_writes_a_unit_that_systemd_accepts(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[router]\ndefault = "m"\n')
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "CCM_HOME": str(home),
        "PYTHONPATH": str(ROOT / "src"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "claude_code_mux", "service", "install", "--user", "--no-start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    unit = tmp_path / "xdg" / "systemd" / "user" / "claude-code-mux.service"
    text = unit.read_text()
    assert f"Environment=CCM_HOME={home}" in text and "--config" in text
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert Path(exec_start.split("=", 1)[1].split()[0]).is_absolute()  # works from a virtualenv
    check = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [ln for ln in (check.stdout + check.stderr).splitlines() if "claude-code-mux.service" in ln]
    assert check.returncode == 0 and not problems, check.stdout + check.stderr
    out = subprocess.run(
        [sys.executable, "-m", "claude_code_mux", "service", "uninstall", "--user", "--no-start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and not unit.exists()


def test_haproxy_config_is_valid() -> None:
    haproxy = need("haproxy")
    out = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_file_describes_the_team_setup() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = doc["services"]
    assert {"redis", "postgres", "router1", "router2", "haproxy"} <= set(services)
    for name in ("router1", "router2"):
        svc = services[name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert svc["environment"]["REDIS_URL"].startswith("redis://")
        assert svc["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        vols = svc["volumes"]
        assert any(v.endswith(":/home/ccm/.claude-code-mux") for v in vols)
    assert services["router1"]["volumes"] != services["router2"]["volumes"]  # a durable token copy each
    assert services["haproxy"]["ports"] == ["13456:13456"]
    for name in doc["volumes"]:
        assert isinstance(name, str)


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.12-slim" in text and "USER ccm" in text and "HEALTHCHECK" in text and "/health" in text
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("no container engine here: the image is not built")
    out = subprocess.run(
        [docker, "build", "-f", str(DEPLOY / "Dockerfile"), "-t", "claude-code-mux:test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-2000:]
