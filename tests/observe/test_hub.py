"""The observer hub and the standard observers, driven with real records (no server): a broken observer never
breaks the others, the recent list and subscriber queues are bounded, the log line stays one line, usage rows
keep errors, and a refused request reaches every observer of the real server."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sqlite3
from pathlib import Path

import httpx

from claude_code_mux.config.load import parse_config
from claude_code_mux.observe.hub import RECENT_MAX, Observers, build_observers
from claude_code_mux.observe.logging import Redactor, setup_logging
from claude_code_mux.observe.record import AttemptRecord, RequestRecord
from claude_code_mux.observe.request_log import format_line
from claude_code_mux.observe.usage import connect
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic

CONFIG = (
    '[router]\ndefault = "main"\n' + anthropic_provider("up", "http://127.0.0.1:9") + model_block("main", [("up", "m")])
)


def record(n: int = 0, **kw: object) -> RequestRecord:
    base: dict[str, object] = {
        "request_id": f"r{n}",
        "time": 1767000000.0 + n,
        "endpoint": "messages",
        "status": 200,
        "total_ms": 1.5,
    }
    base.update(kw)
    return RequestRecord(**base)  # type: ignore[arg-type]


def test_a_broken_observer_is_logged_and_the_others_still_run() -> None:
    stream = io.StringIO()
    logger = setup_logging("info", Redactor(), stream)
    seen: list[str] = []

    def broken(rec: RequestRecord) -> None:
        raise RuntimeError("observer bug")

    hub = Observers(logger, [broken, lambda r: seen.append(r.request_id)])
    hub.emit(record(1))
    hub.emit(record(2))
    assert seen == ["r1", "r2"] and hub.seen == 2
    log = stream.getvalue()
    assert log.count("observer") >= 2 and "observer bug" in log and "r1" in log


async def test_recent_and_subscribers_are_bounded() -> None:
    hub = Observers(logging.getLogger("test-hub"))
    slow = hub.subscribe(maxsize=3)
    for n in range(RECENT_MAX + 50):
        hub.emit(record(n))
    assert len(hub.recent) == RECENT_MAX and hub.recent[0].request_id == "r50"
    assert slow.queue.qsize() == 3 and slow.dropped == RECENT_MAX + 47
    assert hub.find("r249") is hub.recent[-1] and hub.find("r0") is None
    hub.close_subscribers()  # the end marker is dropped for a full queue, but a drained one gets it
    got = [await slow.get() for _ in range(3)]
    assert [r.request_id for r in got if r is not None] == ["r0", "r1", "r2"]
    hub.close_subscribers()
    assert await asyncio.wait_for(slow.get(), 1) is None
    hub.unsubscribe(slow)
    assert hub.subscriber_count == 0


def test_log_line_is_one_line_with_the_failover_reason() -> None:
    rec = record(
        client_model="up,evil\nFORGED event=request status=200\x00",
        status=529,
        error="all candidates failed",
        error_type="overloaded_error",
        attempts=(
            AttemptRecord("one", "m1", 401, "one: HTTP 401"),
            AttemptRecord("two", "m2", 529, "two: HTTP 529"),
        ),
    )
    line = format_line(rec)
    assert "\n" not in line and "\x00" not in line and "\\x0a" in line and "\\x00" in line
    assert 'failover="one/m1: one: HTTP 401; two/m2: two: HTTP 529"' in line


async def test_usage_keeps_refused_and_failed_requests(tmp_path: Path) -> None:
    cfg = parse_config(CONFIG)
    hub = build_observers(cfg, tmp_path, logging.getLogger("test-hub"))
    hub.emit(record(1, status=404, error="no route", error_type="not_found_error", client_model="x"))
    hub.emit(record(2, provider="up", model="m", usage={"input_tokens": 3, "output_tokens": 4}))
    await hub.aclose()
    rows = (
        sqlite3.connect(tmp_path / "usage.db")
        .execute("SELECT request_id, status, endpoint, error_type, input_tokens FROM usage ORDER BY ts")
        .fetchall()
    )
    assert rows == [("r1", 404, "messages", "not_found_error", 0), ("r2", 200, "messages", None, 3)]
    assert (tmp_path / "last_requests.json").exists()


def test_an_older_usage_db_gains_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    old = sqlite3.connect(db)
    old.execute(
        "CREATE TABLE usage (ts REAL NOT NULL, request_id TEXT, session_id TEXT, route TEXT, provider TEXT,"
        " model TEXT, client_model TEXT, status INTEGER, input_tokens INTEGER DEFAULT 0,"
        " output_tokens INTEGER DEFAULT 0, cache_read_tokens INTEGER DEFAULT 0,"
        " cache_write_tokens INTEGER DEFAULT 0, latency_ms REAL, ttfb_ms REAL, cost_usd REAL DEFAULT 0)"
    )
    old.execute("INSERT INTO usage (ts, status) VALUES (1.0, 200)")
    old.commit()
    old.close()
    conn = connect(db)
    cols = [row[1] for row in conn.execute("PRAGMA table_info(usage)")]
    assert cols[-2:] == ["endpoint", "error_type"]
    assert conn.execute("SELECT count(*) FROM usage").fetchone() == (1,)


async def test_a_refused_request_reaches_log_metrics_feed_and_usage(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        text = (
            '[router]\ndefault = "main"\nauto_map = false\n'
            + anthropic_provider("up", mock.url)
            + model_block("main", [("up", "m")])
        )
        async with run_router(text, tmp_path) as router, httpx.AsyncClient(base_url=router.url) as http:
            body = {"model": "nowhere", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            r = await http.post("/v1/messages", json=body)
            assert r.status_code == 404
            recent = (await http.get("/api/requests")).json()["requests"]
            assert recent[0]["status"] == 404 and recent[0]["error_type"] == "not_found_error"
            metrics = (await http.get("/metrics")).text
            assert re.search(
                r'ccm_requests_total\{model="none",provider="none",route="\w+",status="404"\} 1\.0', metrics
            )
            assert "status=404" in router.log_text() and "error_type=not_found_error" in router.log_text()
        rows = sqlite3.connect(tmp_path / "usage.db").execute("SELECT status, error_type FROM usage").fetchall()
        assert rows == [(404, "not_found_error")]
