"""Cost in the usage store: shipped prices through the real router, NULL for an unpriced model, the migration
of an old ``usage.db``, and ``ccm usage --by key|project|session|model --since``."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import pytest

from claude_code_mux.cli.usage import _BY
from claude_code_mux.observe.usage_db import COLUMNS, GROUP_BY, connect, summarize
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic

OLD_SCHEMA = """
CREATE TABLE usage (ts REAL NOT NULL, request_id TEXT, session_id TEXT, route TEXT, provider TEXT, model TEXT,
  client_model TEXT, status INTEGER, input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0,
  cache_read_tokens INTEGER DEFAULT 0, cache_write_tokens INTEGER DEFAULT 0, latency_ms REAL, ttfb_ms REAL,
  cost_usd REAL DEFAULT 0);
CREATE INDEX usage_ts ON usage(ts);
"""


def _ccm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_code_mux", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_router_prices_known_models_and_leaves_unknown_ones_unpriced(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        cfg = (
            '[router]\ndefault = "sonnet"\nauto_map = false\n'
            + anthropic_provider("up", mock.url)
            + model_block("sonnet", [("up", "claude-sonnet-4-5-20250929")])
            + model_block("mystery", [("up", "mystery-model-1")])
        )
        async with run_router(cfg, tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            for model in ("sonnet", "mystery"):
                await client.messages.create(
                    model=model, max_tokens=50, messages=[{"role": "user", "content": "Reply with exactly: OK"}]
                )
            await asyncio.sleep(1.3)  # rows are flushed in batches
    rows = {
        r[0]: r[1:]
        for r in sqlite3.connect(tmp_path / "usage.db").execute(
            "SELECT model, input_tokens, output_tokens, cost_usd FROM usage"
        )
    }
    tin, tout, cost = rows["claude-sonnet-4-5-20250929"]
    assert tin > 0 and tout > 0
    assert cost == pytest.approx((tin * 3.0 + tout * 15.0) / 1e6, rel=1e-9)  # the shipped Sonnet 4.5 price
    assert rows["mystery-model-1"][2] is None  # no price: NULL, not 0
    out = _ccm(tmp_path, "usage", "--by", "model")
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("mystery-model-1"))
    assert line.endswith("no price")
    assert "1 request(s) with no price" in out.stdout


def test_old_usage_db_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    old = sqlite3.connect(db)
    old.executescript(OLD_SCHEMA)
    old.execute(
        "INSERT INTO usage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (time.time(), "r1", "s1", "default", "p", "m", "m", 200, 10, 5, 0, 0, 12.0, 3.0, 0.25),
    )
    old.commit()
    old.close()
    out = _ccm(tmp_path, "usage", "--by", "project")  # the CLI opens it through connect(): migrated
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[2].startswith("-  ")  # old rows have no project
    conn = connect(db)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(usage)")]
    assert cols[-4:] == ["key_name", "project", "endpoint", "error_type"]
    assert conn.execute("SELECT request_id, cost_usd, key_name FROM usage").fetchall() == [("r1", 0.25, None)]
    conn.execute(f"INSERT INTO usage ({COLUMNS}) VALUES ({','.join('?' * 17)})", (time.time(),) + (None,) * 16)
    conn.commit()
    conn.close()
    connect(db).close()  # opening again is a no-op


def test_ccm_usage_by_key_project_session_since(tmp_path: Path) -> None:
    now = time.time()
    conn = connect(tmp_path / "usage.db")
    rows = [
        # ts, session, key, project, model, cost
        (now - 60, "s1", "alice", "repo-a", "claude-sonnet-4-5", 0.5),
        (now - 120, "s1", "alice", "repo-a", "claude-haiku-4-5", 0.25),
        (now - 180, "s2", "bob", "repo-b", "glm-4.6", 0.125),
        (now - 10 * 86400, "s3", "bob", "repo-b", "glm-4.6", 9.0),  # outside --since 7d
        (now - 200, "s2", "bob", "repo-b", "local-model", None),  # no price
    ]
    conn.executemany(
        f"INSERT INTO usage ({COLUMNS}) VALUES ({','.join('?' * 17)})",
        [
            (ts, None, sid, "default", "p", model, model, 200, 100, 10, 0, 0, 50.0, 5.0, cost, key, proj)
            for ts, sid, key, proj, model, cost in rows
        ],
    )
    conn.commit()
    conn.close()

    def table(by: str) -> dict[str, str]:
        out = _ccm(tmp_path, "usage", "--by", by, "--since", "7d")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].startswith(by)
        return {ln.split()[0]: ln for ln in lines[2:] if ln and not ln.startswith(("total", "("))}

    by_key = table("key")
    assert by_key["alice"].endswith("0.7500")
    assert by_key["bob"].endswith("0.1250 +1 no price")
    assert table("project")["repo-a"].split()[1] == "2"  # requests
    assert table("session")["s2"].endswith("0.1250 +1 no price")
    assert "s3" not in table("session")
    assert table("model")["local-model"].endswith("no price")
    conn = connect(tmp_path / "usage.db")
    rows_by_key = {r.group: r for r in summarize(conn, "key", now - 7 * 86400)}
    conn.close()
    assert rows_by_key["bob"].to_dict() == {
        "group": "bob",
        "requests": 2,
        "errors": 0,
        "input_tokens": 200,
        "output_tokens": 20,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "avg_ms": 50.0,
        "cost_usd": 0.125,
        "unpriced": 1,
    }
    total = _ccm(tmp_path, "usage", "--by", "key", "--since", "7d").stdout
    assert "total: $0.8750 + 1 request(s) with no price" in total


def test_cli_offers_every_grouping() -> None:
    assert set(_BY) == set(GROUP_BY)
