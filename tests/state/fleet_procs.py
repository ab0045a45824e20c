"""A fleet for tests: N real router processes sharing one Redis, behind a real HAProxy on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.state.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Instance:
    home: Path
    port: int
    proc: asyncio.subprocess.Process | None = None
    log: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def wait_health(url: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=1.0) as c:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get(url + "/health")).status_code == 200:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{url} did not become healthy")
            await asyncio.sleep(0.05)


async def start_instance(inst: Instance, config: Path) -> None:
    env = {
        **os.environ,
        "CCM_HOME": str(inst.home),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    inst.home.mkdir(parents=True, exist_ok=True)
    inst.log = inst.home / "router.log"
    out = inst.log.open("ab")
    inst.proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "claude_code_mux",
        "start",
        "--config",
        str(config),
        "--port",
        str(inst.port),
        stdout=out,
        stderr=out,
        env=env,
    )
    out.close()
    await wait_health(inst.url)


async def stop_instance(inst: Instance, sig: int = signal.SIGTERM) -> None:
    if inst.proc is not None and inst.proc.returncode is None:
        inst.proc.send_signal(sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(inst.proc.wait(), 15)
        if inst.proc.returncode is None:
            inst.proc.kill()
            await inst.proc.wait()


def haproxy_binary() -> str:
    path = shutil.which("haproxy")
    if path:
        return path
    msg = "haproxy not found (apt-get install haproxy; .ci/run installs it)"
    if os.environ.get("CCM_REQUIRE_E2E"):
        pytest.fail(msg)
    pytest.skip(msg)


@dataclass
class Fleet:
    instances: list[Instance]
    lb_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"


@contextlib.asynccontextmanager
async def run_fleet(config_text: str, root: Path, n: int = 3) -> AsyncIterator[Fleet]:
    """``n`` routers on one shared config file (as a team deploys them), each with its own home, behind HAProxy."""
    haproxy = haproxy_binary()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.toml"
    config.write_text(config_text)
    config.chmod(0o600)
    instances = [Instance(root / f"i{i}", free_port()) for i in range(n)]
    lb_port = free_port()
    servers = "\n".join(
        f"    server r{i} 127.0.0.1:{inst.port} check inter 300ms fall 1 rise 1" for i, inst in enumerate(instances)
    )
    cfg = root / "haproxy.cfg"
    cfg.write_text(
        f"""global
    maxconn 1024
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option http-server-close
frontend ccm
    bind 127.0.0.1:{lb_port}
    default_backend routers
backend routers
    balance roundrobin
    option httpchk GET /health
{servers}
"""
    )
    lb: asyncio.subprocess.Process | None = None
    try:
        await asyncio.gather(*(start_instance(inst, config) for inst in instances))
        lb = await asyncio.create_subprocess_exec(
            haproxy, "-f", str(cfg), "-db", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await wait_health(f"http://127.0.0.1:{lb_port}")
        yield Fleet(instances, lb_port)
    finally:
        if lb is not None and lb.returncode is None:
            lb.terminate()
            await lb.wait()
        await asyncio.gather(*(stop_instance(inst) for inst in instances))
