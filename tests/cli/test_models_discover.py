"""``ccm models discover``: the upstream's list becomes [[models]] entries, comments kept."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.harness import anthropic_provider
from tests.mocks.anthropic import MockAnthropic


async def ccm(home: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "claude_code_mux",
        "--home",
        str(home),
        *args,
        env={k: v for k, v in os.environ.items() if k != "CCM_CONFIG"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_discover_adds_models_and_keeps_comments(tmp_path: Path) -> None:
    async with MockAnthropic(name="up", require_key="sk-up-test") as mock:
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            '# my routing\n[router]\ndefault = "main"  # the default\n'
            + anthropic_provider("up", mock.url)
            + '[[models]]\nname = "main"\n[[models.mappings]]\nprovider = "up"\nactual_model = "x"\n'
        )
        rc, out, err = await ccm(tmp_path, "models", "discover", "up", "--prefix", "disc-", "--dry-run")
        assert rc == 0, err
        assert "would be added" in out
        assert "disc-" not in cfg.read_text()
        rc, out, err = await ccm(tmp_path, "models", "discover", "up", "--prefix", "disc-")
        assert rc == 0, err
        text = cfg.read_text()
        assert "# my routing" in text and "# the default" in text
        added = [ln for ln in out.splitlines() if ln.strip().startswith("+")]
        assert added
        for line in added:
            name = line.split()[1]
            assert f'name = "{name}"' in text
        rc, out, _ = await ccm(tmp_path, "models", "discover", "up", "--prefix", "disc-")
        assert rc == 0 and "already configured" in out
        rc, _, err = await ccm(tmp_path, "models", "discover", "nope")
        assert rc == 1 and "no enabled provider named 'nope'" in err
