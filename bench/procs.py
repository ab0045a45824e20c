"""Child processes of the benchmark: start (optionally pinned to a core), stop; CPU time and RSS (/proc)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def can_pin() -> bool:
    """taskset exists and there are at least two cores to split between router and client."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")


def pin_self(core: int) -> None:
    os.sched_setaffinity(0, {core})


def start(
    cmd: list[str], log: Path, core: int | None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a process group of its own (through ``taskset -c core``, which execs, so the PID is
    the program's own)."""
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group we started, SIGKILL it if its leader does not exit in time."""
    if proc.poll() is not None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # a leader gone early may leave workers behind
        return
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (worker processes count towards the router's cost)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, ()))
    return out


def cpu_seconds(root: int) -> float:
    """utime + stime of the process tree, in seconds (/proc/PID/stat fields 14 and 15)."""
    ticks = 0
    for pid in _tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICK


def rss_mb(root: int) -> float:
    """Resident set size of the process tree, MB (VmRSS)."""
    kb = 0
    for pid in _tree(root):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
    return kb / 1024


def runq_wait_seconds(root: int) -> float:
    """Time the tree's threads spent runnable but waiting for a CPU (/proc/PID/task/TID/schedstat, field 2).

    Non-zero when other processes compete for the router's core: then latencies say more about the
    machine than about the router.
    """
    ns = 0
    for pid in _tree(root):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    ns += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
    return ns / 1e9


async def peak_rss_mb(root: int, every_s: float = 0.05) -> float:
    """Sample the tree's RSS until cancelled; :func:`stop_sampler` returns the highest value seen."""
    peak = 0.0
    try:
        while True:
            peak = max(peak, rss_mb(root))
            await asyncio.sleep(every_s)
    except asyncio.CancelledError:
        return peak


async def stop_sampler(task: asyncio.Task[float] | None) -> float | None:
    if task is None:
        return None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        return await task
    return None
