"""Metrics, usage records, ``ccm usage`` and the JSONL trace, driven by real requests."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic


def cfg(url1: str, url2: str, extra: str = "") -> str:
    return (
        "[server]\n"
        + extra
        + '[router]\ndefault = "main"\nauto_map = true\n'
        + anthropic_provider("one", url1)
        + anthropic_provider("two", url2)
        + model_block("main", [("one", "m1"), ("two", "m2")])
        + '[prices."m2"]\ninput = 3.0\noutput = 15.0\n'
    )


async def test_metrics_usage_and_trace(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind="status", status=529))
        text = cfg(one.url, two.url, f'trace_path = "{trace}"\n')
        async with run_router(text, tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="sk-client-secret-1", max_retries=0)
            meta = {"user_id": json.dumps({"device_id": "0" * 64, "account_uuid": "", "session_id": "sess-123"})}
            await client.messages.create(
                model="claude-x",
                max_tokens=20,
                metadata=meta,  # type: ignore[arg-type]
                messages=[{"role": "user", "content": "Reply with exactly: M1"}],
            )
            async with client.messages.stream(
                model="claude-x",
                max_tokens=20,
                metadata=meta,  # type: ignore[arg-type]
                messages=[{"role": "user", "content": "Reply with exactly: M2"}],
            ) as s:
                await s.get_final_message()
            async with httpx.AsyncClient() as http:
                m = (await http.get(router.url + "/metrics")).text
            assert 'ccm_requests_total{model="m2",provider="two",route="default",status="200"} 2.0' in m
            assert "ccm_failovers_total 1.0" in m
            assert 'ccm_upstream_attempts_total{outcome="error",provider="one"} 1.0' in m
            assert 'ccm_tokens_total{kind="output",model="m2",provider="two"}' in m
            assert "ccm_ttfb_seconds_bucket" in m
            assert 'ccm_provider_cooldown_seconds{family="m1",provider="one"}' in m
            await asyncio.sleep(1.3)  # usage rows are flushed in batches, off the hot path
        db = tmp_path / "usage.db"
        rows = (
            sqlite3.connect(db)
            .execute("SELECT session_id, provider, model, status, input_tokens, output_tokens, cost_usd FROM usage")
            .fetchall()
        )
        assert len(rows) == 2
        for sid, prov, model, status, tin, tout, cost in rows:
            assert (sid, prov, model, status) == ("sess-123", "two", "m2", 200)
            assert tin > 0 and tout > 0
            assert abs(cost - (tin * 3.0 + tout * 15.0) / 1e6) < 1e-9
        lines = [json.loads(x) for x in trace.read_text().splitlines()]
        assert len(lines) == 2 and lines[0]["provider"] == "two"
        assert "sk-client-secret-1" not in trace.read_text()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "claude_code_mux",
                "--home",
                str(tmp_path),
                "usage",
                "--by",
                "session",
                "--since",
                "1h",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        assert "sess-123" in out.stdout and "2" in out.stdout
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "claude_code_mux",
                "--home",
                str(tmp_path),
                "usage",
                "--since",
                "yesterday-ish",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert bad.returncode == 2 and "--since" in bad.stderr
