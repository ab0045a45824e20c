"""Crash safety: kill -9 in the middle of config writes never leaves a broken or wider-permission file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from claude_code_mux.config.load import load_config

WRITER = """
import sys
from pathlib import Path
from claude_code_mux.config.edit import write_atomic
path = Path(sys.argv[1])
i = 0
while True:
    i += 1
    pad = "# " + "x" * (i % 5000) + "\\n"
    body = '[router]\\ndefault = "m%d"\\n[[providers]]\\nname = "p"\\napi_key = "k"\\n' % i
    write_atomic(path, pad + body + 'models = ["m%d"]\\n' % i)
"""


def test_kill_9_during_config_writes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[router]\ndefault = "m0"\n[[providers]]\nname = "p"\napi_key = "k"\nmodels = ["m0"]\n')
    os.chmod(path, 0o600)
    rng = random.Random(7)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        time.sleep(0.3 + rng.random() * 0.4)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        cfg = load_config(path)  # always a complete, valid file
        assert cfg.router.default.startswith("m")
        assert path.stat().st_mode & 0o777 == 0o600
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "config.toml"]
    # A temp file from the killed write may remain; it never replaces the config.
    assert all(".tmp" in name or name.startswith(".") for name in leftovers), leftovers
