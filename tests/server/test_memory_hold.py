"""``server/memory.py`` ``hold_freed_heap``: a process that handles megabyte bodies reuses its heap pages.

Run in a child process: the setting is process-wide, and the fault counts are the child's own.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

_CHILD = """
import resource, sys
from claude_code_mux.server.memory import hold_freed_heap
if sys.argv[1] == "hold":
    assert hold_freed_heap()
def request():  # a 1 MB body's buffers: the read pieces, the joined body, its copy
    bufs = [b"x" * 1_000_000 for _ in range(3)]
    del bufs
for _ in range(5):
    request()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    request()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
"""


def _faults_per_request(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, timeout=60, check=True)
    return float(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_megabyte_buffers_reuse_the_heap_instead_of_faulting_in_fresh_pages() -> None:
    # glibc's adaptive thresholds trim the heap top after each burst: every 4 KB page is faulted in again.
    assert _faults_per_request("default") > 200
    assert _faults_per_request("hold") < 10
