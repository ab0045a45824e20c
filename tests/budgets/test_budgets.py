"""The budget engine with an injected clock: block, downgrade, period resets, reservations, warnings, key
budgets, spend read back from usage.db after a restart, and ``[[budgets]]`` validation."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from claude_code_mux.access.identity import Identity
from claude_code_mux.budgets.engine import BudgetEngine, Subject, apply
from claude_code_mux.budgets.estimate import estimate_usd
from claude_code_mux.budgets.ledger import Scope, SqliteLedger, read_spent
from claude_code_mux.budgets.periods import period_end, period_start
from claude_code_mux.config.load import parse_config
from claude_code_mux.config.schema import BudgetConfig
from claude_code_mux.errors import ConfigError, PermissionDenied, RateLimited
from claude_code_mux.observe.usage_db import COLUMNS, connect
from claude_code_mux.pricing import book
from claude_code_mux.routing.plan import resolve_model
from claude_code_mux.routing.types import RouteDecision


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, when: str) -> None:
        self.t = ts(when)

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("day", "2026-12-03T16:40:00", "2026-12-03T00:00:00", "2026-12-04T00:00:00"),
        ("week", "2026-12-03T16:40:00", "2026-11-30T00:00:00", "2026-12-07T00:00:00"),  # Thursday -> Monday
        ("month", "2026-12-03T16:40:00", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
        ("month", "2027-02-28T23:59:59", "2027-02-01T00:00:00", "2027-03-01T00:00:00"),
        ("total", "2026-12-03T16:40:00", "1970-01-01T00:00:00", None),
    ],
)
def test_periods(period: str, now: str, start: str, end: str | None) -> None:
    assert period_start(period, ts(now)) == ts(start)
    assert period_end(period, ts(now)) == (ts(end) if end else None)


def engine(tmp_path: Path, clock: Clock, *budgets: BudgetConfig) -> BudgetEngine:
    return BudgetEngine(budgets, SqliteLedger(tmp_path / "usage.db"), clock=clock)


REPO = Subject(project="myrepo", session="s1")


async def test_block_stops_the_request_that_would_cross_and_says_why(tmp_path: Path) -> None:
    clock = Clock("2026-12-03T16:40:00")
    e = engine(tmp_path, clock, BudgetConfig(scope="project:myrepo", limit_usd=0.05, period="day"))
    t1 = await e.check(None, REPO, "sonnet", 0.02)
    assert t1.action == "allow" and t1.model == "sonnet" and t1.label is None
    await e.settle(t1, 0.03)
    t2 = await e.check(None, REPO, "sonnet", 0.015)  # 0.03 + 0.015 <= 0.05
    await e.settle(t2, 0.015)
    with pytest.raises(RateLimited) as blocked:
        await e.check(None, REPO, "sonnet", 0.01)  # 0.045 + 0.01 > 0.05
    err = blocked.value
    assert err.status == 429 and err.error_type == "rate_limit_error"
    assert err.message == (
        "claude-code-mux: budget project:myrepo ($0.05 per day) would be exceeded by this request (~$0.0100): "
        "$0.0450 spent this day; it resets at 2026-12-04 00:00 UTC (in 7h 20m). "
        "To go on now, raise limit_usd in [[budgets]]."
    )
    assert err.headers == {"retry-after": str(7 * 3600 + 20 * 60), "x-should-retry": "false"}
    # other projects are not affected
    assert (await e.check(None, Subject(project="other"), "sonnet", 1.0)).action == "allow"
    # a new day resets it
    clock.t = ts("2026-12-04T00:00:01")
    assert (await e.check(None, REPO, "sonnet", 0.01)).action == "allow"


async def test_used_up_total_budget_is_a_403_that_never_resets(tmp_path: Path) -> None:
    clock = Clock("2026-12-03T10:00:00")
    e = engine(tmp_path, clock, BudgetConfig(scope="session:*", limit_usd=1, period="total"))
    t = await e.check(None, REPO, "m", 0.0)
    await e.settle(t, 1.25)
    with pytest.raises(PermissionDenied) as exc:
        await e.check(None, REPO, "m", 0.0)
    assert exc.value.status == 403
    assert "budget session:s1 ($1 in total) is used up: $1.2500 spent; it never resets" in exc.value.message
    assert exc.value.headers == {"x-should-retry": "false"}
    # session:* gives every session its own budget
    assert (await e.check(None, Subject(session="s2"), "m", 0.5)).action == "allow"
    # a request without a session is not under a session budget
    assert (await e.check(None, Subject(), "m", 5.0)).action == "allow"


async def test_downgrade_routes_to_the_cheaper_model(tmp_path: Path) -> None:
    clock = Clock("2026-12-03T10:00:00")
    e = engine(
        tmp_path,
        clock,
        BudgetConfig(scope="project:myrepo", limit_usd=0.05, period="week", action="downgrade", downgrade_to="fast"),
    )
    t = await e.check(None, REPO, "sonnet", 0.01)
    assert t.action == "allow"
    await e.settle(t, 0.06)
    t = await e.check(None, REPO, "sonnet", 0.01)
    assert t.action == "downgrade" and t.model == "fast" and t.label == "budget:downgrade"
    decision = RouteDecision("default", "", "sonnet")
    routed = apply(decision, t)
    assert routed.label == "budget:downgrade" and routed.model == "fast"
    assert "budget project:myrepo ($0.05 per week): $0.0600 spent, routed to fast" in routed.trace
    assert apply(decision, await e.check(None, Subject(project="x"), "sonnet", 0.0)) is decision
    await e.settle(t, 0.001)  # downgraded requests still count
    clock.t = ts("2026-12-07T00:00:00")  # next Monday: a new week
    assert (await e.check(None, REPO, "sonnet", 0.01)).action == "allow"


async def test_block_wins_over_downgrade_and_releases_reservations(tmp_path: Path) -> None:
    clock = Clock("2026-12-03T10:00:00")
    e = engine(
        tmp_path,
        clock,
        BudgetConfig(scope="project:myrepo", limit_usd=10, action="downgrade", downgrade_to="fast"),
        BudgetConfig(scope="session:s1", limit_usd=0.01),
    )
    with pytest.raises(RateLimited, match="budget session:s1"):
        await e.check(None, REPO, "sonnet", 0.02)
    assert e._reserved == {}  # the project budget's hold was released with the refusal


async def test_two_budgets_on_one_scope_charge_the_cost_once(tmp_path: Path) -> None:
    clock = Clock("2026-12-03T10:00:00")
    e = engine(
        tmp_path,
        clock,
        BudgetConfig(scope="project:myrepo", limit_usd=1.0, period="day", warn_at=0.5),
        BudgetConfig(scope="project:myrepo", limit_usd=0.5, period="day", action="downgrade", downgrade_to="fast"),
    )
    await e.settle(await e.check(None, REPO, "m", 0.0), 0.3)
    status = await e.status(None, REPO)
    assert [s["spent_usd"] for s in status] == [pytest.approx(0.3), pytest.approx(0.3)]


async def test_requests_in_flight_reserve_their_estimate(tmp_path: Path) -> None:
    clock = Clock("2026-12-03T10:00:00")
    e = engine(tmp_path, clock, BudgetConfig(scope="project:myrepo", limit_usd=0.05))
    first = await e.check(None, REPO, "m", 0.03)
    with pytest.raises(RateLimited):  # the first request has not finished: its 0.03 is reserved
        await e.check(None, REPO, "m", 0.03)
    await e.settle(first, 0.001)  # it turned out cheap
    second = await e.check(None, REPO, "m", 0.03)
    assert second.action == "allow"
    await e.settle(second, None)  # no price: charges nothing, still releases
    assert e._reserved == {}


async def test_a_keys_own_budget_applies_to_that_key(tmp_path: Path) -> None:
    clock = Clock("2026-12-03T10:00:00")
    e = engine(tmp_path, clock)
    alice = Identity("alice", "key", budget=(2.0, "month"))
    sub = Subject.of(alice, {"x-ccm-project": "p"})
    assert sub == Subject(key="alice", project="p")
    t = await e.check(alice, sub, "m", 0.5)
    await e.settle(t, 2.0)
    with pytest.raises(RateLimited) as exc:
        await e.check(alice, sub, "m", 0.01)
    assert "budget key:alice ($2 per month) is used up" in exc.value.message
    assert "ask for a larger --budget on the key" in exc.value.message
    bob = Identity("bob", "key")
    assert (await e.check(bob, Subject.of(bob, {}), "m", 100.0)).action == "allow"
    # the router key and anonymous requests have no key budget
    assert e.rules_for(Identity("router-key", "router-key", budget=(1.0, "day"))) == []


async def test_warn_at_is_logged_once_per_period(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock("2026-12-03T10:00:00")
    e = engine(tmp_path, clock, BudgetConfig(scope="project:myrepo", limit_usd=1.0, period="day", warn_at=0.5))
    caplog.set_level(logging.WARNING, logger="claude_code_mux.budgets")
    for cost in (0.3, 0.3, 0.1):
        await e.settle(await e.check(None, REPO, "m", 0.0), cost)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "budget project:myrepo ($1 per day): $0.6000 spent (60%), it resets at 2026-12-04 00:00 UTC (in 14h 0m)"
    ]
    clock.t = ts("2026-12-04T09:00:00")
    for cost in (0.6,):
        await e.settle(await e.check(None, REPO, "m", 0.0), cost)
    assert len(caplog.records) == 2  # a new period warns again


def _usage_row(
    ts_: float, project: str | None, key: str | None, session: str | None, cost: float | None
) -> tuple[object, ...]:
    return (ts_, None, session, "default", "p", "m", "m", 200, 10, 10, 0, 0, 1.0, 1.0, cost, key, project)


async def test_spend_in_usage_db_survives_a_restart(tmp_path: Path) -> None:
    """Spend lives in usage.db: a fresh engine (a restarted router) reads it back and keeps blocking."""
    clock = Clock("2026-12-03T10:00:00")
    budget = BudgetConfig(scope="project:myrepo", limit_usd=0.05, period="day")
    conn = connect(tmp_path / "usage.db")
    conn.executemany(
        f"INSERT INTO usage ({COLUMNS}) VALUES ({','.join('?' * 17)})",
        [
            _usage_row(ts("2026-12-03T09:00:00"), "myrepo", None, "s1", 0.03),
            _usage_row(ts("2026-12-03T09:30:00"), "myrepo", "alice", "s1", 0.025),
            _usage_row(ts("2026-12-02T23:59:59"), "myrepo", None, "s0", 5.0),  # yesterday
            _usage_row(ts("2026-12-03T09:31:00"), "other", None, "s9", 5.0),
            _usage_row(ts("2026-12-03T09:32:00"), "myrepo", None, "s1", None),  # no price
        ],
    )
    conn.commit()
    conn.close()
    assert read_spent(tmp_path / "usage.db", Scope("project", "myrepo"), ts("2026-12-03T00:00:00")) == pytest.approx(
        0.055
    )
    assert read_spent(tmp_path / "usage.db", Scope("key", "alice"), 0.0) == pytest.approx(0.025)
    restarted = engine(tmp_path, clock, budget)
    with pytest.raises(RateLimited, match=r"\$0.0550 spent this day"):
        await restarted.check(None, REPO, "m", 0.0)
    # the ledger read usage.db once; settling adds to it without re-reading (no double count)
    status = await restarted.status(None, REPO)
    assert status[0]["spent_usd"] == pytest.approx(0.055) and status[0]["warn"] is True


async def test_two_workers_on_one_usage_db_see_each_others_spend(tmp_path: Path) -> None:
    """``ccm start --workers 2``: each worker settles its own requests; the usage writer puts them in usage.db;
    the other worker sees them at its next re-read, and nobody counts a request twice."""
    clock = Clock("2026-12-03T10:00:00")
    db = tmp_path / "usage.db"
    connect(db).close()
    budget = BudgetConfig(scope="project:myrepo", limit_usd=1.0, period="day")
    a = BudgetEngine([budget], SqliteLedger(db, clock=clock, refresh_s=30), clock=clock)
    b = BudgetEngine([budget], SqliteLedger(db, clock=clock, refresh_s=30), clock=clock)

    async def served_by(e: BudgetEngine, cost: float) -> None:
        await e.settle(await e.check(None, REPO, "m", 0.0), cost)
        conn = connect(db)  # what the usage writer of that worker does a second later
        conn.execute(
            f"INSERT INTO usage ({COLUMNS}) VALUES ({','.join('?' * 17)})",
            _usage_row(clock.t, "myrepo", None, "s1", cost),
        )
        conn.commit()
        conn.close()

    await served_by(a, 0.4)
    await served_by(b, 0.3)
    assert (await a.status(None, REPO))[0]["spent_usd"] == pytest.approx(0.4)  # b's not seen yet
    clock.t += 31  # past the refresh: a re-reads (its own 0.4 is in the file now: not counted twice)
    assert (await a.status(None, REPO))[0]["spent_usd"] == pytest.approx(0.7)
    assert (await b.status(None, REPO))[0]["spent_usd"] == pytest.approx(0.7)
    await served_by(a, 0.2)  # settled just now: kept locally until the file surely has it
    clock.t += 1
    assert (await a.status(None, REPO))[0]["spent_usd"] == pytest.approx(0.9)
    clock.t += 30  # re-read: 0.2 is in the file, the local copy is dropped
    assert (await a.status(None, REPO))[0]["spent_usd"] == pytest.approx(0.9)
    with pytest.raises(RateLimited):
        await b.check(None, REPO, "m", 0.2)


async def test_concurrent_first_checks_read_usage_db_once(tmp_path: Path) -> None:
    connect(tmp_path / "usage.db").close()
    ledger = SqliteLedger(tmp_path / "usage.db")
    e = BudgetEngine([BudgetConfig(scope="project:myrepo", limit_usd=100)], ledger, clock=Clock("2026-12-03T10:00:00"))
    tickets = await asyncio.gather(*(e.check(None, REPO, "m", 0.001) for _ in range(20)))
    assert all(t.action == "allow" for t in tickets)
    assert len(ledger._base) == 1


def test_old_usage_db_without_the_new_columns_counts_nothing(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "usage.db"
    sqlite3.connect(db).executescript("CREATE TABLE usage (ts REAL, session_id TEXT, cost_usd REAL);")
    assert read_spent(db, Scope("project", "x"), 0.0) == 0.0
    assert read_spent(tmp_path / "missing.db", Scope("project", "x"), 0.0) == 0.0


def test_estimate_uses_the_first_priced_candidate() -> None:
    cfg = parse_config(
        '[router]\ndefault = "main"\n'
        '[[providers]]\nname = "a"\nprovider_type = "anthropic"\napi_key = "k"\n'
        '[[providers]]\nname = "g"\nprovider_type = "groq"\napi_key = "k"\n'
        '[[models]]\nname = "main"\n'
        '[[models.mappings]]\nprovider = "g"\nactual_model = "openai/gpt-oss-120b"\npriority = 1\n'
        '[[models.mappings]]\nprovider = "a"\nactual_model = "claude-sonnet-4-5"\npriority = 2\n'
    )
    cands = resolve_model("main", cfg)
    got = estimate_usd(book(cfg.prices), cfg, cands, 10_000, 64_000)
    assert got == pytest.approx((10_000 * 0.15 + 1024 * 0.75) / 1e6)  # Groq's price, output bounded
    assert estimate_usd(book(), cfg, [], 10_000, 100) == 0.0


@pytest.mark.parametrize(
    ("toml", "key", "text"),
    [
        ('[[budgets]]\nscope = "repo"\nlimit_usd = 5\n', "budgets[0].scope", 'e.g. scope = "project:myrepo"'),
        ('[[budgets]]\nscope = "project:x"\nlimit_usd = 0\n', "budgets[0].limit_usd", "greater than 0"),
        ('[[budgets]]\nscope = "project:x"\nlimit_usd = 5\nperiod = "year"\n', "budgets[0].period", "day"),
        (
            '[[budgets]]\nscope = "project:x"\nlimit_usd = 5\naction = "downgrade"\n',
            "budgets[0]",
            "needs downgrade_to",
        ),
        (
            '[[budgets]]\nscope = "project:x"\nlimit_usd = 5\naction = "downgrade"\ndowngrade_to = "nope"\n',
            "budgets[0].downgrade_to",
            "name a cheaper [[models]] entry (known: main)",
        ),
        ('[[budgets]]\nscope = "project:x"\nlimit_usd = 5\nwarn = 0.5\n', "budgets[0].warn", "did you mean 'warn_at'"),
    ],
)
def test_budget_config_errors_name_the_key_and_the_fix(toml: str, key: str, text: str) -> None:
    base = '[router]\ndefault = "main"\n[[models]]\nname = "main"\n'
    with pytest.raises(ConfigError) as exc:
        parse_config(base + toml, path="config.toml")
    assert exc.value.key == key
    assert text in str(exc.value)


def test_valid_budgets_parse() -> None:
    cfg = parse_config(
        '[router]\ndefault = "main"\n[[models]]\nname = "main"\n[[models]]\nname = "fast"\n'
        '[[budgets]]\nscope = "project:myrepo"\nlimit_usd = 20\nperiod = "day"\naction = "downgrade"\n'
        'downgrade_to = "fast"\nwarn_at = 0.9\n'
        '[[budgets]]\nscope = "session:*"\nlimit_usd = 2\n'
    )
    assert [b.scope for b in cfg.budgets] == ["project:myrepo", "session:*"]
    assert cfg.budgets[1].period == "month" and cfg.budgets[1].action == "block" and cfg.budgets[1].warn_at == 0.8
