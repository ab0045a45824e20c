"""SIGTERM: the router stops accepting, lets open streams finish, then exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.harness import anthropic_provider, model_block
from tests.mocks.anthropic import MockAnthropic


async def test_sigterm_lets_streams_finish(tmp_path: Path) -> None:
    async with MockAnthropic(name="up", delay_ms=150, chunks=8) as mock:
        cfg = tmp_path / "config.toml"
        port_file = tmp_path / "port"
        cfg.write_text(
            "[server]\nport = 0\n[server.timeouts]\nshutdown_grace_ms = 10000\n"
            '[router]\ndefault = "main"\nauto_map = true\n'
            + anthropic_provider("up", mock.url)
            + model_block("main", [("up", "m")])
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "claude_code_mux",
            "--home",
            str(tmp_path),
            "--config",
            str(cfg),
            "start",
            "--port-file",
            str(port_file),
            env={**os.environ, "CCM_HOME": str(tmp_path)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            for _ in range(100):
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}"
            body = {
                "model": "claude-x",
                "max_tokens": 50,
                "stream": True,
                "messages": [{"role": "user", "content": "Reply with exactly: one two three four five six"}],
            }
            async with httpx.AsyncClient(timeout=30) as http:
                async with http.stream("POST", url + "/v1/messages", json=body) as r:
                    chunks = []
                    async for chunk in r.aiter_text():
                        if not chunks:
                            proc.send_signal(signal.SIGTERM)
                        chunks.append(chunk)
                text = "".join(chunks)
                assert "event: message_stop" in text, text[-300:]
                assert "event: error" not in text
                # New connections are refused once shutdown began.
                await asyncio.sleep(0.3)
                try:
                    await http.get(url + "/health")
                    refused = False
                except httpx.ConnectError:
                    refused = True
                assert refused
            rc = await asyncio.wait_for(proc.wait(), 20)
            assert rc == 0
            out = (await proc.stdout.read()).decode() if proc.stdout else ""
            assert "shutting down" in out
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
