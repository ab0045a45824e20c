"""The observers' per-request shortcuts give what the long way gave: a finished record carries every fact of its
recording, the statusline entry built from a record equals the one built from its dict, remembered prices equal
looked-up ones (and a reload is priced with the new config), and the usage database is opened in WAL mode with
partial key and project indexes; the log line's redaction and escaping skip their regexes only when those could
not match."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import random
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from claude_code_mux.config.load import parse_config
from claude_code_mux.config.schema import Config
from claude_code_mux.dispatch import Attempt
from claude_code_mux.observe import request_log
from claude_code_mux.observe.last_request import (
    USAGE_KEYS,
    LastRequestWriter,
    _slim,
    _slim_record,
    read_last,
    session_key,
)
from claude_code_mux.observe.logging import _PATTERNS, Redactor, setup_logging
from claude_code_mux.observe.record import AttemptRecord, RequestRecord
from claude_code_mux.observe.request_log import _CONTROL, escape
from claude_code_mux.observe.usage import Rows, UsageWriter, usage_row
from claude_code_mux.observe.usage_db import SCHEMA, connect
from claude_code_mux.pricing import Price, Tier, book, counts_cost, record_price, shipped
from claude_code_mux.pricing import table as price_table
from claude_code_mux.routing.types import Candidate
from claude_code_mux.server.api.recording import Recording
from tests.harness import anthropic_provider, model_block

CONFIG = (
    '[router]\ndefault = "main"\n'
    + anthropic_provider("up", "http://127.0.0.1:9")
    + model_block("main", [("up", "claude-sonnet-4-5-20250929")])
)


def test_finish_carries_every_field_of_the_recording() -> None:
    rec = Recording("messages", 100.0, "rid")
    rec.status, rec.client, rec.client_model, rec.route = 200, "key:alice", "sonnet", "think:budget"
    rec.candidate = Candidate("up", "m-up", account="acct")
    rec.attempts = [Attempt("down", "m-down", 529, "down: HTTP 529", 1.23456), Attempt("up", "m-up", 200, None, 7.0)]
    rec.stream, rec.ttfb, rec.session_id = True, 100.0123456, "sess"
    rec.usage = {"input_tokens": 3, "output_tokens": 4}
    rec.error, rec.error_type = "boom", "api_error"
    rec.extra = {"key_name": "alice", "project": "p"}
    before = time.perf_counter()
    out = rec.finish()
    assert isinstance(out, RequestRecord)
    assert 0 <= out.total_ms - round((before - 100.0) * 1000, 2) < 1000  # perf_counter moved on a little
    assert out._replace(total_ms=0.0) == RequestRecord(
        request_id="rid",
        time=rec.wall,
        endpoint="messages",
        status=200,
        total_ms=0.0,
        client_model="sonnet",
        route="think:budget",
        provider="up",
        model="m-up",
        stream=True,
        ttfb_ms=round((100.0123456 - 100.0) * 1000, 2),
        attempts=(
            AttemptRecord("down", "m-down", 529, "down: HTTP 529", 1.23, None),
            AttemptRecord("up", "m-up", 200, None, 7.0),
        ),
        usage={"input_tokens": 3, "output_tokens": 4},
        session_id="sess",
        error="boom",
        error_type="api_error",
        client="key:alice",
        account="acct",
        extra={"key_name": "alice", "project": "p"},
    )
    with pytest.raises(AttributeError):
        out.status = 500  # type: ignore[misc]


def test_a_recording_with_one_attempt_finishes_with_it() -> None:
    rec = Recording("messages", 100.0, "rid")
    rec.attempts = (Attempt("up", "m-up", 200, None, 7.004999, "acct"),)
    assert rec.finish().attempts == (AttemptRecord("up", "m-up", 200, None, 7.0, "acct"),)


def test_a_refused_recording_finishes_with_empty_parts() -> None:
    out = Recording("count_tokens", time.perf_counter(), "rid").finish()
    assert (out.provider, out.model, out.account, out.ttfb_ms, out.attempts, dict(out.usage)) == (
        None,
        None,
        None,
        None,
        (),
        {},
    )


@pytest.mark.parametrize(
    "rec",
    [
        RequestRecord("a", 1.0, "messages", 200, 2.5),
        RequestRecord(
            "b", 2.0, "messages", 529, 9.75, "c", "default", "p", "m", True, 1.25,
            (AttemptRecord("p", "m", 529, "x", 1.0), AttemptRecord("q", "n", 200)),
            {"input_tokens": 5, "cache_creation_input_tokens": 7, "cache_creation_1h_input_tokens": 2},
            "user_x_session_s1", "err", "api_error", "key:k", "acct", {"key_name": "k"},
        ),
    ],
)  # fmt: skip
def test_the_statusline_entry_of_a_record_is_that_of_its_dict(rec: RequestRecord) -> None:
    for sid in ("", "s1"):
        fast, slow = _slim_record(rec, sid), _slim(rec.to_dict(), sid)
        assert list(fast.items()) == list(slow.items())  # the same keys in the same order: the same file


def test_remembered_prices_are_the_looked_up_ones_and_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    pb = book()
    names = [
        *list(shipped().index)[:40],
        "unknown-model",
        "anthropic/claude-sonnet-4.5",
        "us.anthropic.claude-opus-4-1-v1:0",
    ]
    for model in names:
        for ptype in (None, "anthropic", "openrouter"):
            expected = book().lookup_record(model, "claude-sonnet-4-5", ptype)
            assert pb.lookup_record(model, "claude-sonnet-4-5", ptype) == expected
            assert pb.lookup_record(model, "claude-sonnet-4-5", ptype) == expected  # from the memo
    monkeypatch.setattr(price_table, "MEMO_MAX", 10)
    for i in range(50):
        pb.lookup_record(f"client-chosen-{i}", None, None)
    assert len(pb._memo) <= 10


def test_rows_price_with_the_current_config(tmp_path: Path) -> None:
    cheap = parse_config(CONFIG + '[prices."claude-sonnet-4-5-20250929"]\ninput = 1.0\noutput = 1.0\n')
    dear = parse_config(CONFIG + '[prices."claude-sonnet-4-5-20250929"]\ninput = 100.0\noutput = 100.0\n')
    current: list[Config] = [cheap]
    rows = Rows(lambda: current[0])
    rec = RequestRecord(
        "a", 1.0, "messages", 200, 2.0, "main", "default", "up", "claude-sonnet-4-5-20250929",
        usage={"input_tokens": 1_000_000, "output_tokens": 1_000_000},
    )  # fmt: skip
    assert rows(rec) == usage_row(rec, cheap)
    assert rows(rec)[14] == pytest.approx(2.0)
    current[0] = dear  # a reload
    assert rows(rec) == usage_row(rec, dear)
    assert rows(rec)[14] == pytest.approx(200.0)


async def test_the_usage_database_is_written_in_wal_mode(tmp_path: Path) -> None:
    cfg = parse_config(CONFIG)
    writer = UsageWriter(lambda: cfg, tmp_path / "usage.db", logging.getLogger("test"))
    writer(RequestRecord("a", 1.0, "messages", 200, 2.0, usage={"input_tokens": 1}))
    await writer.flush()
    with sqlite3.connect(tmp_path / "usage.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT request_id FROM usage").fetchall() == [("a",)]
    await writer.aclose()
    await asyncio.sleep(0)


def test_key_and_project_indexes_hold_only_rows_that_have_one_and_serve_the_budget_query(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    with sqlite3.connect(path) as old:  # a file of the previous version: full indexes on key_name and project
        old.executescript(SCHEMA)
        for col in ("key_name", "project", "session_id"):
            old.execute(f"CREATE INDEX usage_{col} ON usage({col}, ts)")
    conn = connect(path)
    indexes = {name: sql for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
    assert "usage_key_name" not in indexes and "usage_project" not in indexes
    assert indexes["usage_key_name_set"].endswith("WHERE key_name IS NOT NULL")
    assert indexes["usage_project_set"].endswith("WHERE project IS NOT NULL")
    assert "usage_session_id" in indexes and "usage_ts" in indexes
    for col in ("key_name", "project", "session_id"):  # the budget ledger's read_spent query
        sql = f"SELECT coalesce(sum(cost_usd), 0) FROM usage WHERE ts >= ? AND {col} = ?"
        plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, (0.0, "x")))
        assert f"INDEX usage_{col}" in plan and f"{col}=?" in plan, plan
    conn.close()


def _old_redact(secrets: list[str], text: str) -> str:
    for s in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "***")
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group(1) + "***", text)
    return text


_PIECES = [
    "authorization", "AUTHORIZATION", "Authorization: Bearer ", "x-api-key", "X-Api-Key", "api_key", "apikey",
    "ApiKey", "access_token", "refresh_token", "code_verifier", "verifier", "client_secret", "admin_key", "code",
    "Code", "sk-", "sk-ant-", "SK-", "abcdef123456", "the-secret-value", "=", ":", '"', "'", " ", ",", "}", "&",
    "\u0131", "\u0130", "\u017f", "\u212a", "\u2028", "\x00", "\x85", "é", "ı_key", "apı_key", "x-api-\u212aey",
    "event=request id=abc route=default", "model=gpt-5-codex",
]  # fmt: skip


def test_the_redactor_masks_what_it_masked_before() -> None:
    rng = random.Random(7)
    secrets = ["the-secret-value", "short", "abcdef123456"]
    redactor = Redactor(secrets)
    for _ in range(20_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 9)))
        assert redactor(text) == _old_redact(secrets, text), text


def test_escape_escapes_what_it_escaped_before() -> None:
    rng = random.Random(8)
    chars = [chr(c) for c in range(0x3100)] + ["\U0001f600", "\U000e0001"]

    def old(text: str) -> str:
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)

    for c in chars:
        assert escape(c) == old(c)
    for _ in range(5_000):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(1, 12)))
        assert escape(text) == old(text)


def test_log_lines_carry_the_time_the_standard_formatter_gives() -> None:
    stream = io.StringIO()
    logger = setup_logging("info", Redactor(), stream)
    ours = logger.handlers[0].formatter
    assert ours is not None
    standard = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    rng = random.Random(9)
    for t in [*sorted(1767000000 + rng.random() * 5 for _ in range(200)), 1767000000.0, 1767000000.999999]:
        rec = logging.LogRecord("claude_code_mux", logging.INFO, __file__, 1, "event=request", None, None)
        rec.created, rec.msecs = t, int((t - int(t)) * 1000) + 0.0
        assert ours.format(rec) == standard.format(rec)
    logger.info("x=%s", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO x=1\n", stream.getvalue())


def _statusline_records() -> list[RequestRecord]:
    rng = random.Random(10)
    sessions = [None, "", "s1", "s2", "user_x_account__session_s3", '{"session_id": "s4"}', '{"device_id": "d"}']
    sessions += [f"s{i}" for i in range(5, 12)]
    usages: list[dict[str, Any]] = [
        {},
        {"input_tokens": 3, "output_tokens": 4},
        {"input_tokens": 1, "cache_read_input_tokens": 9, "cache_creation_input_tokens": 2, "output_tokens": 0},
        {"output_tokens": 2.0, "input_tokens": True, "cache_creation_1h_input_tokens": 5},
        {"input_tokens": -4, "cache_read_input_tokens": float("nan")},
    ]
    out = []
    for i in range(400):
        model = rng.choice([None, "m1", "m2"])
        out.append(
            RequestRecord(
                f"r{i}", float(i), "messages", rng.choice([200, 529]), 1.5 * i, rng.choice([None, "c1", "c2"]),
                "default", "p" if model else None, model, True, 0.5,
                (AttemptRecord("p", "m1"),) * rng.randint(0, 2), rng.choice(usages), rng.choice(sessions),
                account=rng.choice([None, "acct"]),
            )
        )  # fmt: skip
    return out


def _counting_annotate() -> Callable[[RequestRecord], dict[str, Any]]:
    calls = itertools.count()

    def annotate(rec: RequestRecord) -> dict[str, Any]:
        n = next(calls)  # a value of the moment: the entry must carry the one taken with its record
        return {"quota_5h": n / 1000} if rec.account and n % 3 else {}

    return annotate


class _EagerWriter(LastRequestWriter):
    """The writer as it was: each record's ``last`` built (and annotated) at once."""

    def __call__(self, record: RequestRecord | dict[str, Any]) -> None:
        if isinstance(record, RequestRecord):
            sid = session_key(record.session_id)
            last = _slim_record(record, sid)
            if self.annotate is not None:
                last.update(self.annotate(record))
        else:
            sid = session_key(record.get("session_id"))
            last = _slim(record, sid)
        entry = self._sessions.pop(sid, None) or {"totals": {"requests": 0, "by_model": {}}}
        entry["last"] = last
        totals = entry["totals"]
        totals["requests"] += 1
        model = str(last.get("model") or last.get("client_model") or "?")
        t = totals["by_model"].setdefault(model, {"client_model": None, "requests": 0})
        t["client_model"] = last.get("client_model")
        t["requests"] += 1
        for k, v in last["usage"].items():
            t[k] = t.get(k, 0) + v
        self._sessions[sid] = entry
        while len(self._sessions) > self._max:
            del self._sessions[next(iter(self._sessions))]
        self._latest = sid


def _sessions(w: LastRequestWriter) -> str:
    doc = json.loads(w.snapshot())
    return json.dumps([doc["latest"], doc["sessions"]])  # in the file's order


async def test_the_statusline_file_is_what_building_each_entry_at_once_gave(tmp_path: Path) -> None:
    # ``last`` is built when the file is written, from the session's newest record and the annotation taken
    # with it: the file is the one building it at each request gave, with dict records mixed in, sessions
    # dropped for newer ones, and odd token counts.
    lazy = LastRequestWriter(tmp_path, interval_s=3600, max_sessions=8)
    eager = _EagerWriter(tmp_path / "eager", interval_s=3600, max_sessions=8)
    lazy.annotate, eager.annotate = _counting_annotate(), _counting_annotate()
    for i, rec in enumerate(_statusline_records()):
        for w in (lazy, eager):
            w(rec)
            if i % 7 == 0:
                w(rec._replace(request_id=f"d{i}").to_dict())  # a dict record after a pending one replaces it
        assert set(lazy._pending) <= set(lazy._sessions)  # bounded by the kept sessions
        if i % 5 == 0:
            assert _sessions(lazy) == _sessions(eager)
    assert _sessions(lazy) == _sessions(eager)
    await lazy.flush()
    assert read_last(tmp_path, None) == json.loads(_sessions(eager))[1][eager._latest]["last"] | {
        "totals": json.loads(_sessions(eager))[1][eager._latest]["totals"]
    }


def _old_cost(price: Price, usage: dict[str, Any]) -> float | None:
    def n(key: str) -> int:
        v = usage.get(key, 0)
        return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0

    if not any(n(k) for k in usage):
        return 0.0
    inp, out, read, write = (n(k) for k in USAGE_KEYS)
    write_1h = min(n("cache_creation_1h_input_tokens"), write)
    t = price.tier(inp + read + write)
    w1h = t.cache_write if t.cache_write_1h is None else t.cache_write_1h
    return (
        inp * t.input + out * t.output + read * t.cache_read + (write - write_1h) * t.cache_write + write_1h * w1h
    ) / 1e6


def test_the_cost_of_a_usage_is_what_it_was() -> None:
    rng = random.Random(11)
    base, long = Tier(3.0, 15.0, 0.3, 3.75), Tier(6.0, 22.5, 0.6, 7.5, 12.0)
    prices = [Price(base), Price(base, long, 200_000), Price(Tier(1.0, 2.0, cache_write_1h=4.0))]
    values: list[Any] = [0, 1, 7, 150_000, -3, True, False, 2.5, float("nan"), "9", None]
    keys = [*USAGE_KEYS, "cache_creation_1h_input_tokens", "other_tokens"]
    for _ in range(20_000):
        usage = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, len(keys)))}
        for price in prices:
            assert record_price(price, usage) == _old_cost(price, usage), usage
            counts = [usage.get(k, 0) for k in USAGE_KEYS]  # as the usage row reads them
            assert counts_cost(price, usage, *counts) == _old_cost(price, usage), usage
        used = any(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in usage.values())
        assert record_price(None, usage) == (None if used else 0.0)
        assert counts_cost(None, usage, *[usage.get(k, 0) for k in USAGE_KEYS]) == (
            None if used else 0.0
        )  # no price: None, unless nothing was used


def test_the_log_line_is_the_one_kv_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_log, "_MEMO_MAX", 16)  # the memos are cleared on the way, and stay bounded
    rng = random.Random(12)
    texts: list[Any] = [
        None,
        "",
        "a",
        "default",
        "long_context:72431>60000",
        "x y",
        'q"uote',
        "k=v",
        "\n",
        "é\u2028",
        "z" * 400,
    ]
    numbers: list[Any] = [None, 0.0, 1.25, 12345.678, float("nan"), 7]
    attempts = [
        AttemptRecord("p", "m", 529, "p: HTTP 529"),
        AttemptRecord("q", "n", 200),
        AttemptRecord("r", "o", None, "x y"),
    ]
    for i in range(20_000):
        rec = RequestRecord(
            rng.choice([f"req{i}", 'id "x"', ""]), 1.0, rng.choice(["messages", "count_tokens"]),
            rng.choice([200, 404, 499, 529]), rng.choice(numbers[1:]), rng.choice(texts), rng.choice(texts),
            rng.choice(texts), rng.choice(texts), True, rng.choice(numbers),
            tuple(rng.sample(attempts, rng.randint(0, 3))),
            error=rng.choice(texts), error_type=rng.choice([None, "api_error", "a b"]), client=rng.choice(texts),
        )  # fmt: skip
        assert request_log.format_line(rec) == request_log._format_line(rec)
    assert len(request_log._HEADS) <= 16 and len(request_log._CLIENTS) <= 16


async def test_the_per_request_memos_keep_no_huge_client_value(tmp_path: Path) -> None:
    # A client's model name or session id can be megabytes (the body limit): looked up each time, never kept.
    huge = "m" * 100_000
    rec = RequestRecord(
        "a", 1.0, "messages", 200, 2.0, huge, "default", "up", "claude-sonnet-4-5-20250929", True, 1.0,
        (AttemptRecord("up", "claude-sonnet-4-5-20250929", 200),), {"input_tokens": 5}, huge, client="c" * 100_000,
    )  # fmt: skip
    assert request_log.format_line(rec) == request_log._format_line(rec)
    kept = [*request_log._HEADS, *request_log._CLIENTS]
    assert all(huge not in k for k in kept if isinstance(k, tuple)) and "c" * 100_000 not in kept
    cfg = parse_config(CONFIG)
    rows = Rows(lambda: cfg)
    assert rows(rec) == usage_row(rec, cfg)
    assert not rows._prices and not any(huge in k for k in rows._book._memo if k[1])  # type: ignore[union-attr]
    w = LastRequestWriter(tmp_path, interval_s=3600)
    w(rec)
    assert huge not in w._sids and json.loads(w.snapshot())["sessions"][huge[:128]]["last"]["request_id"] == "a"
    await w.flush()
