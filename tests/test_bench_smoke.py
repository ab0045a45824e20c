"""``python -m bench --smoke``: the in-repo benchmark runs and every path answers valid streams."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"^direct: VALID", proc.stdout, re.M), out
    assert re.search(r"^passthrough: VALID", proc.stdout, re.M), out
    assert re.search(r"^translated: VALID", proc.stdout, re.M), out
    assert "smoke: OK" in proc.stdout, out
