"""Usage rows in a real PostgreSQL: same rows as SQLite, same ``ccm usage`` output, writes that never block a
request (the database stopped under load loses nothing), migrations applied once, the password never printed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from claude_code_mux.cli.main import main
from claude_code_mux.config.schema import Config, PriceConfig
from claude_code_mux.observe.pg_migrations import migrate, migrations
from claude_code_mux.observe.record import RequestRecord
from claude_code_mux.observe.usage import COLUMNS, UsageWriter, usage_row
from claude_code_mux.observe.usage_pg import PgUsageWriter
from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic
from tests.pgcluster import PASSWORD, PgCluster, remove_cluster, start_cluster

PRICES = {"m1": PriceConfig(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)}
CFG = Config.model_validate({"router": {"default": "m1"}, "prices": PRICES})
_dbs = iter(range(1, 1_000_000))


@pytest.fixture(scope="module")
def pg() -> Iterator[PgCluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        remove_cluster(cluster)


@pytest.fixture
def pg_url(pg: PgCluster) -> str:
    return pg.create_database(f"usage_{next(_dbs)}")


def router_config(upstream: str, extra: str = "") -> str:
    return (
        '[router]\ndefault = "main"\nauto_map = true\n'
        + anthropic_provider("one", upstream)
        + model_block("main", [("one", "m1")])
        + '[prices."m1"]\ninput = 3.0\noutput = 15.0\n'
        + extra
    )


def pg_writer(url: str, logger: logging.Logger, **kw: Any) -> PgUsageWriter:
    return PgUsageWriter(lambda rec: usage_row(rec, CFG), url, logger, display="postgresql://ccm:***@…", **kw)


def usage_writer(hub_owner: Any) -> PgUsageWriter:
    writer = hub_owner.server.holder.observers.usage
    assert isinstance(writer, PgUsageWriter)
    return writer


async def settled(writer: PgUsageWriter, timeout: float = 60.0) -> None:
    """Wait until every buffered row is written."""
    deadline = time.monotonic() + timeout
    while True:
        st = writer.status()
        if st["ok"] and st["pending"] == 0:
            return
        assert time.monotonic() < deadline, f"usage rows not written in {timeout} s: {st}"
        await asyncio.sleep(0.05)


async def loop_lag(out: list[float]) -> None:
    """Record how late each 10 ms sleep wakes up: a blocked event loop shows as a large value."""
    while True:
        t = time.monotonic()
        await asyncio.sleep(0.01)
        out.append(time.monotonic() - t - 0.01)


def pg_rows(url: str, order: str = "request_id") -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT {', '.join(COLUMNS)} FROM usage ORDER BY {order}".encode()).fetchall()


def sqlite_rows(path: Path, order: str = "request_id") -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(f"SELECT {', '.join(COLUMNS)} FROM usage ORDER BY {order}").fetchall()


@contextlib.asynccontextmanager
async def captured_logger(name: str) -> AsyncIterator[tuple[logging.Logger, io.StringIO]]:
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)


async def test_router_rows_land_in_postgresql_as_sqlite_would_hold_them(pg_url: str, tmp_path: Path) -> None:
    async with MockAnthropic(name="one") as one:
        extra = '[usage]\ndatabase = "$CCM_TEST_DATABASE_URL"\nflush_interval_s = 0.2\n'
        env = {"CCM_TEST_DATABASE_URL": pg_url}
        async with run_router(router_config(one.url, extra), tmp_path / "home", env=env) as router:
            writer = usage_writer(router)
            async with httpx.AsyncClient(base_url=router.url, timeout=30) as http:
                body = {"model": "claude-x", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
                assert (await http.post("/v1/messages", json=body)).status_code == 200
                assert (await http.post("/v1/messages", json={**body, "stream": True})).status_code == 200
                assert (await http.post("/v1/messages/count_tokens", json=body)).status_code == 200
                one.add_fault(Fault(kind="status", status=529))
                assert (await http.post("/v1/messages", json=body)).status_code == 529
                assert (await http.post("/v1/messages", content=b"{not json")).status_code == 400
            await settled(writer)
            records = list(router.server.holder.observers.recent)  # type: ignore[union-attr]
            assert writer.status() == {"backend": "postgresql", "ok": True, "pending": 0, "dropped": 0}
            log = router.log.getvalue()
    assert len(records) == 5
    # The same records through the SQLite writer: the PostgreSQL rows must be the very same values.
    sqlite_writer = UsageWriter(lambda: CFG, tmp_path / "sqlite" / "usage.db", logging.getLogger("t"))
    for rec in records:
        sqlite_writer(rec)
    await sqlite_writer.aclose()
    in_pg = pg_rows(pg_url)
    assert in_pg == sqlite_rows(tmp_path / "sqlite" / "usage.db")
    assert {r[COLUMNS.index("status")] for r in in_pg} == {200, 529, 400}
    assert any((r[COLUMNS.index("cost_usd")] or 0) > 0 for r in in_pg)
    assert PASSWORD not in log


def _records() -> list[RequestRecord]:
    """Rows that exercise the summary: ties, errors, a missing session, cache tokens, routes with reasons."""
    out = []
    spec = [
        ("m1", "one", "s1", "default", 200, {"input_tokens": 100, "output_tokens": 50}),
        ("m1", "one", "s1", "long_context:70000>60000", 200, {"input_tokens": 70000, "output_tokens": 5}),
        ("m2", "two", None, "think", 529, {}),
        ("m3", "two", "s2", "default", 200, {"input_tokens": 7, "cache_read_input_tokens": 900}),
        ("m4", "two", "s2", "background", 200, {"input_tokens": 7, "cache_read_input_tokens": 900}),
        (None, None, None, None, 400, {}),
        ("m1", "one", "s3", "default", 200, {"output_tokens": 3, "cache_creation_input_tokens": 40}),
    ]
    for i, (model, prov, sess, route, status, usage) in enumerate(spec):
        out.append(
            RequestRecord(
                request_id=f"r{i}",
                time=time.time() - i * 600,
                endpoint="messages",
                status=status,
                total_ms=10.0 + i * 3.3,
                client_model="claude-x",
                route=route,
                provider=prov,
                model=model,
                ttfb_ms=5.5 if status == 200 else None,
                usage=usage,
                session_id=sess,
                error_type="overloaded_error" if status == 529 else None,
            )
        )
    return out


def _ccm_usage(home: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["--home", str(home), "usage", *args]) == 0
    return capsys.readouterr().out


async def test_ccm_usage_prints_the_same_for_both_backends(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite_home, pg_home = tmp_path / "sqlite", tmp_path / "pg"
    pg_home.mkdir()
    (pg_home / "config.toml").write_text(f'[usage]\ndatabase = "{pg_url}"\n')
    logger = logging.getLogger("t")
    sw, pw = UsageWriter(lambda: CFG, sqlite_home / "usage.db", logger), pg_writer(pg_url, logger)
    for rec in _records():
        sw(rec)
        pw(rec)
    await sw.aclose()
    await settled(pw)
    await pw.aclose()
    for args in ([], ["--by", "provider"], ["--by", "session"], ["--by", "route"], ["--since", "25m"]):
        want = await asyncio.to_thread(_ccm_usage, sqlite_home, *args, capsys=capsys)
        got = await asyncio.to_thread(_ccm_usage, pg_home, *args, capsys=capsys)
        assert got == want, args
        assert "(no requests" not in want
    by_route = (await asyncio.to_thread(_ccm_usage, pg_home, "--by", "route", capsys=capsys)).splitlines()
    assert by_route[2].startswith("long_context ")  # the rule without its reason, the costliest first
    table = by_route[: by_route.index("")] if "" in by_route else by_route  # the total line follows a blank one
    assert [line.split()[0] for line in table[3:] if line.split()] == ["default", "1", "background", "think"]


async def test_ccm_usage_names_the_database_without_its_password(
    pg: PgCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text(f'[usage]\ndatabase = "{pg.url("no_such_db")}"\n')
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["--home", str(tmp_path), "usage"]) == 1
    err = capsys.readouterr().err
    assert "cannot read postgresql://ccm:***@127.0.0.1" in err and "no_such_db" in err
    assert PASSWORD not in err


async def test_postgresql_stopped_under_load_blocks_nothing_and_loses_nothing(
    pg: PgCluster, pg_url: str, tmp_path: Path
) -> None:
    total, concurrency = 1000, 20
    latencies: list[tuple[float, float]] = []  # (start, duration)
    statuses: list[int] = []
    seen_down: list[dict[str, Any]] = []
    window: list[float] = []  # when PostgreSQL went down and when it was back
    lags: list[float] = []
    async with MockAnthropic(name="one") as one:
        extra = f'[usage]\ndatabase = "{pg_url}"\nflush_interval_s = 0.2\nbatch_rows = 100\n'
        async with run_router(router_config(one.url, extra), tmp_path / "home") as router:
            writer = usage_writer(router)
            await settled(writer)
            body = {"model": "claude-x", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(total):
                queue.put_nowait(i)

            async def client(http: httpx.AsyncClient) -> None:
                while True:
                    try:
                        queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    t0 = time.monotonic()
                    resp = await http.post("/v1/messages", json=body)
                    latencies.append((t0, time.monotonic() - t0))
                    statuses.append(resp.status_code)

            async def outage() -> None:
                while len(statuses) < 150:
                    await asyncio.sleep(0.01)
                window.append(time.monotonic())
                await asyncio.to_thread(pg.stop)
                while writer.status()["ok"]:  # the writer has noticed; requests keep flowing meanwhile
                    await asyncio.sleep(0.02)
                while len(statuses) < 700:
                    await asyncio.sleep(0.01)
                seen_down.append(writer.status())
                await asyncio.to_thread(pg.start)
                window.append(time.monotonic())

            async with httpx.AsyncClient(base_url=router.url, timeout=30) as http:
                fault = asyncio.create_task(outage())
                lag = asyncio.create_task(loop_lag(lags))
                await asyncio.gather(*(client(http) for _ in range(concurrency)))
                await asyncio.wait_for(fault, 120)
                lag.cancel()
            await settled(writer, timeout=90)
            final = writer.status()
            log = router.log.getvalue()
    assert statuses == [200] * total
    # Nothing stalls the event loop (the server shares it with this test), and requests served while the
    # database was down were not slower than before it went (a request waiting on PostgreSQL would take the
    # pool's 5 s timeout at least). Medians, because this shared machine's tail latency is noisy on its own.
    assert max(lags) < 1.0, f"the event loop stalled for {max(lags):.2f} s"
    before = statistics.median(d for t, d in latencies if t < window[0])
    during = statistics.median(d for t, d in latencies if window[0] <= t < window[1])
    assert during < 3 * before + 0.25, (before, during)
    assert max(d for _, d in latencies) < 15
    assert seen_down[0]["ok"] is False and seen_down[0]["pending"] > 0
    assert final == {"backend": "postgresql", "ok": True, "pending": 0, "dropped": 0}
    rows = pg_rows(pg_url)
    assert len(rows) == total and len({r[COLUMNS.index("request_id")] for r in rows}) == total
    assert "usage: cannot write to PostgreSQL postgresql://ccm:***@127.0.0.1" in log
    assert "is reachable again" in log
    assert PASSWORD not in log


async def test_migrations_are_applied_once_when_instances_start_together(pg: PgCluster) -> None:
    url = pg.create_database(f"usage_{next(_dbs)}")
    conns = [await psycopg.AsyncConnection.connect(url) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sorted(applied) == [[], [], [], [m.version for m in migrations()]]
    # Two writers (two router instances) starting at once on a fresh database, each writing a row.
    url = pg.create_database(f"usage_{next(_dbs)}")
    async with captured_logger("ccm-test-migrations") as (logger, out):
        writers = [pg_writer(url, logger), pg_writer(url, logger)]
        for n, w in enumerate(writers):
            w(_records()[n])
        for w in writers:
            await settled(w)
            await w.aclose()
    everything = [m.version for m in migrations()]
    assert out.getvalue().count(f"applied PostgreSQL migration(s) {everything}") == 1
    with psycopg.connect(url) as conn:
        versions = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert versions == [(m.version, m.name) for m in migrations()]
        assert conn.execute("SELECT count(*) FROM usage").fetchone() == (2,)
        # A column added to the SQLite schema (observe/usage.py COLUMNS) needs a new migration here too.
        cols = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'usage'").fetchall()
        assert sorted(c for (c,) in cols) == sorted(COLUMNS)


async def test_a_full_buffer_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    with contextlib.closing(__import__("socket").socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    url = f"postgresql://ccm:{PASSWORD}@127.0.0.1:{port}/nowhere"
    async with captured_logger("ccm-test-drops") as (logger, out):
        writer = pg_writer(url, logger, buffer_rows=100, connect_timeout_s=1, close_timeout_s=3)
        records = _records()
        t0 = time.monotonic()
        for i in range(150):
            writer(records[i % len(records)])
        assert time.monotonic() - t0 < 0.5  # appending never waits for the database
        assert writer.status() == {"backend": "postgresql", "ok": False, "pending": 100, "dropped": 50}
        await writer.flush()
        assert writer.status()["ok"] is False
        await writer.aclose()
        assert writer.dropped == 150  # still pending at shutdown: counted, not silently lost
        text = out.getvalue()
    assert "usage: dropped 1 row(s) so far: the buffer is full (100 rows)" in text
    assert "cannot write to PostgreSQL postgresql://ccm:***@… (PoolTimeout" in text  # tried, failed as it should
    assert PASSWORD not in text


async def test_build_observers_picks_the_backend_and_teaches_the_redactor_the_password(tmp_path: Path) -> None:
    from claude_code_mux.config.load import parse_config
    from claude_code_mux.observe.hub import build_observers
    from claude_code_mux.observe.logging import RedactingFilter, Redactor

    base = router_config("http://127.0.0.1:9")
    sqlite_hub = build_observers(parse_config(base, env={}), tmp_path, logging.getLogger("ccm-test-hub"))
    assert sqlite_hub.usage is not None
    assert sqlite_hub.usage.status() == {"backend": "sqlite", "ok": True, "pending": 0, "dropped": 0}
    await sqlite_hub.aclose()

    url = f"postgresql://ccm:{PASSWORD}@127.0.0.1:9/db"
    cfg = parse_config(base + '[usage]\ndatabase = "$CCM_TEST_DB"\n', env={"CCM_TEST_DB": url})
    redactor = Redactor()
    out = io.StringIO()
    logger = logging.getLogger("ccm-test-hub-pg")
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    try:
        hub = build_observers(cfg, tmp_path, logger, redactor=redactor)
        assert isinstance(hub.usage, PgUsageWriter)
        assert PASSWORD not in repr(hub.usage) and hub.usage.display == "postgresql://ccm:***@127.0.0.1:9/db"
        logger.warning("driver said: %s", url)  # whatever a driver might echo, the log line hides the secret
        assert hub.usage.status()["backend"] == "postgresql"
        hub.usage._close_timeout = 2  # nothing listens on port 9: do not wait the default 10 s at shutdown
        await hub.aclose()
    finally:
        logger.removeHandler(handler)
    assert "driver said:" in out.getvalue() and PASSWORD not in out.getvalue()


async def test_a_row_postgresql_refuses_is_dropped_alone(pg_url: str) -> None:
    records = _records()
    hostile = [
        RequestRecord(
            request_id="nul",
            time=time.time(),
            endpoint="messages",
            status=400,
            total_ms=1.0,
            client_model="claude\x00-x",
        ),
        RequestRecord(
            request_id="huge",
            time=time.time(),
            endpoint="messages",
            status=200,
            total_ms=1.0,
            usage={"input_tokens": 2**70},
        ),
    ]
    async with captured_logger("ccm-test-poison") as (logger, out):
        writer = pg_writer(pg_url, logger)
        for rec in [records[0], *hostile, records[1]]:
            writer(rec)
        await settled(writer)
        await writer.aclose()
    assert writer.dropped == 1
    assert "PostgreSQL refused a row (NumericValueOutOfRange" in out.getvalue()
    rows = {r[1]: r for r in pg_rows(pg_url)}
    assert sorted(rows) == ["nul", "r0", "r1"]
    assert rows["nul"][COLUMNS.index("client_model")] == "claude-x"
