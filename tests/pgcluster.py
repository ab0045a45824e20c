"""A throwaway PostgreSQL cluster for tests: Debian's server binaries, a temp data dir, a free loopback port.

``initdb`` refuses to run as root, so under root the cluster runs as the ``postgres`` system user (created by the
Debian package; else ``nobody``) with the data dir owned by it. ``fsync=off``: nothing here needs durability.
The superuser ``ccm`` has a password (scram-sha-256 over TCP), so the URLs tests use carry a real secret.
Missing binaries skip the test, or fail it when ``CCM_REQUIRE_E2E`` is set (CI installs ``postgresql``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PASSWORD = "pg-secret-pass-4321"
USER = "ccm"


def find_bindir() -> Path | None:
    env = os.environ.get("PG_BINDIR")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    bindir: Path
    root: Path
    port: int
    runas: list[str] = field(default_factory=list)
    owner: tuple[int, int] | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{db}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([*self.runas, *args], check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.owner is not None:
            os.chown(self.root, *self.owner)
            os.chown(pwfile, *self.owner)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            USER,
            "--pwfile",
            str(pwfile),
            "--auth=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        )
        pwfile.unlink()

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c full_page_writes=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.root / "log"),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop", timeout=90)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)


def start_cluster() -> PgCluster:
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CCM_REQUIRE_E2E"):
            pytest.fail("PostgreSQL server binaries not found (install Debian's postgresql package)")
        pytest.skip("PostgreSQL server binaries not found")
    root = Path(tempfile.mkdtemp(prefix="ccm-pg-"))
    runas: list[str] = []
    owner = None
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                continue
            runas, owner = ["runuser", "-u", name, "--"], (pw.pw_uid, pw.pw_gid)
            break
        else:
            pytest.fail("running as root and neither a postgres nor a nobody user exists to run PostgreSQL")
    cluster = PgCluster(bindir, root, _free_port(), runas, owner)
    cluster.init()
    cluster.start()
    return cluster


def remove_cluster(cluster: PgCluster) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        cluster.stop("immediate")
    shutil.rmtree(cluster.root, ignore_errors=True)
