"""Quota readings, the account book, pool ordering and sticky sessions: table tests with an explicit clock."""

from __future__ import annotations

import collections

import pytest

from claude_code_mux.accounts.book import HARD, OK, SOFT, AccountBook, Limits
from claude_code_mux.accounts.pool import Pool
from claude_code_mux.accounts.quota import claim_window, parse_headers, parse_usage_body
from claude_code_mux.accounts.select import AccountRouter, health_key
from claude_code_mux.accounts.sticky import StickyTable, cached_prefix, session_key
from claude_code_mux.errors import RateLimited
from claude_code_mux.routing.types import Candidate

NOW = 1_800_000_000.0
P = "anthropic-ratelimit-unified-"


def hdrs(**kw: str) -> dict[str, str]:
    return {P + k.replace("_", "-"): v for k, v in kw.items()}


def reading(util5: float, util7: float = 0.1, *, status: str = "allowed", claim: str = "five_hour", at: float = NOW):
    h = {
        P + "status": status,
        P + "reset": str(int(at + 3600)),
        P + "representative-claim": claim,
        P + "5h-utilization": str(util5),
        P + "5h-reset": str(int(at + 3600)),
        P + "5h-status": "allowed" if util5 < 1 else "rejected",
        P + "7d-utilization": str(util7),
        P + "7d-reset": str(int(at + 86400)),
        P + "7d-status": "allowed",
    }
    r = parse_headers(h, at)
    assert r is not None
    return r


def test_headers_parse_every_window_generically() -> None:
    h = hdrs(status="allowed_warning", reset="1800003600", representative_claim="seven_day_sonnet")
    h[P + "5h-utilization"] = "0.42"
    h[P + "7d-sonnet-utilization"] = "0.95"
    h[P + "7d-sonnet-reset"] = "1800090000"
    h[P + "7d-sonnet-status"] = "allowed_warning"
    h[P + "overage-status"] = "allowed"
    h[P + "overage-utilization"] = "0.5"
    h["content-type"] = "application/json"
    r = parse_headers(h, NOW)
    assert r is not None
    assert r.status == "allowed_warning" and r.claim == "7d-sonnet" and r.reset == 1800003600
    assert r.windows["5h"].utilization == pytest.approx(0.42)
    assert r.windows["7d-sonnet"].reset == 1800090000 and r.windows["7d-sonnet"].status == "allowed_warning"
    assert r.overage_status == "allowed" and r.overage_utilization == 0.5
    assert "overage" not in r.windows  # pay-as-you-go is not a window


def test_no_headers_no_reading_and_garbage_ignored() -> None:
    assert parse_headers({"content-type": "text/plain"}, NOW) is None
    r = parse_headers({P + "5h-utilization": "nan", P + "7d-utilization": "lots"}, NOW)
    assert r is not None and r.windows["5h"].utilization is None and r.windows["7d"].utilization is None


@pytest.mark.parametrize(
    ("claim", "window"),
    [("five_hour", "5h"), ("seven_day", "7d"), ("seven_day_opus", "7d-opus"), ("Seven_Day_Sonnet", "7d-sonnet")],
)
def test_claim_names(claim: str, window: str) -> None:
    assert claim_window(claim) == window


def test_usage_endpoint_body() -> None:
    body = {
        "five_hour": {"utilization": 37.0, "resets_at": "2027-01-15T05:00:00+00:00"},
        "seven_day": {"utilization": 12, "resets_at": "2027-01-20T00:00:00Z"},
        "seven_day_opus": {"utilization": 100, "resets_at": None},
        "extra_usage": {"is_enabled": False},
    }
    r = parse_usage_body(body, NOW)
    assert r is not None
    assert r.windows["5h"].utilization == pytest.approx(0.37)
    assert r.windows["7d"].reset == pytest.approx(1_800_403_200.0)
    assert r.windows["7d-opus"].utilization == 1.0
    assert set(r.windows) == {"5h", "7d", "7d-opus"}


def test_states_soft_hard_and_reset() -> None:
    book = AccountBook(limits=Limits(soft=0.9, hard=0.98))
    assert book.state("a", "claude-sonnet-4-5", NOW).state == OK
    changed = book.record("a", "claude-sonnet-4-5", reading(0.92))
    assert changed is not None and changed.state == SOFT and changed.window == "5h"
    assert changed.until == NOW + 3600
    assert "5h at 92 %" in changed.describe("max-work", lambda t: "17:40")
    assert book.record("a", "claude-sonnet-4-5", reading(0.93)) is None  # no change, no log line
    book.record("a", "claude-sonnet-4-5", reading(0.985))
    assert book.state("a", "claude-sonnet-4-5", NOW).state == HARD
    # After the 5h window resets the account comes back on its own.
    assert book.state("a", "claude-sonnet-4-5", NOW + 3601).state == OK


def test_rejected_binds_until_reset_not_retry_after() -> None:
    book = AccountBook()
    book.record("a", "claude-sonnet-4-5", reading(0.5, status="rejected", claim="five_hour"))
    st = book.state("a", "claude-sonnet-4-5", NOW + 10)
    assert st.state == HARD and st.until == NOW + 3600
    assert book.state("a", "claude-sonnet-4-5", NOW + 3600).state == OK


def test_per_family_windows() -> None:
    book = AccountBook()
    h = {
        P + "status": "rejected",
        P + "representative-claim": "seven_day_opus",
        P + "reset": str(int(NOW + 7200)),
        P + "5h-utilization": "0.3",
        P + "5h-reset": str(int(NOW + 3600)),
        P + "7d-opus-utilization": "1.0",
        P + "7d-opus-reset": str(int(NOW + 7200)),
        P + "7d-opus-status": "rejected",
    }
    r = parse_headers(h, NOW)
    assert r is not None
    book.record("a", "claude-opus-4-1", r)
    assert book.state("a", "claude-opus-4-1", NOW).state == HARD
    assert book.state("a", "claude-sonnet-4-5", NOW).state == OK  # an exhausted Opus window leaves Sonnet usable
    # A sonnet reading's global 5h window applies to opus as well.
    book.record("a", "claude-sonnet-4-5", reading(0.95))
    assert book.state("a", "claude-opus-4-1", NOW).state == HARD
    assert book.state("a", "claude-sonnet-4-5", NOW).state == SOFT


def test_pool_priority_skips_hard_and_defers_soft_for_new_sessions() -> None:
    book = AccountBook()
    pool = Pool(["a", "b", "c"])
    assert pool.order(book, "claude-sonnet-4-5", NOW) == ["a", "b", "c"]
    book.record("a", "claude-sonnet-4-5", reading(0.92))
    assert pool.order(book, "claude-sonnet-4-5", NOW) == ["b", "c", "a"]
    assert pool.order(book, "claude-sonnet-4-5", NOW, new_session=False) == ["a", "b", "c"]
    book.record("b", "claude-sonnet-4-5", reading(0.99))
    assert pool.order(book, "claude-sonnet-4-5", NOW) == ["c", "a"]


def test_round_robin_and_weights_spread_over_1000_requests() -> None:
    book = AccountBook()
    rr = Pool(["a", "b"], strategy="round_robin")
    firsts = collections.Counter(rr.order(book, "m", NOW)[0] for _ in range(1000))
    assert firsts == {"a": 500, "b": 500}
    weighted = Pool(["a", "b", "c"], strategy="round_robin", weights=[3, 1, 1])
    firsts = collections.Counter(weighted.order(book, "m", NOW)[0] for _ in range(1000))
    assert firsts == {"a": 600, "b": 200, "c": 200}
    # Every order lists every healthy account once.
    assert sorted(weighted.order(book, "m", NOW)) == ["a", "b", "c"]


def test_least_utilized() -> None:
    book = AccountBook()
    book.record("a", "claude-sonnet-4-5", reading(0.6))
    book.record("b", "claude-sonnet-4-5", reading(0.2))
    book.record("c", "claude-sonnet-4-5", reading(0.4))
    pool = Pool(["a", "b", "c"], strategy="least_utilized")
    assert pool.order(book, "claude-sonnet-4-5", NOW) == ["b", "c", "a"]
    picks = collections.Counter()
    for _ in range(1000):  # readings move as traffic lands: the least used keeps getting picked
        first = pool.order(book, "claude-sonnet-4-5", NOW)[0]
        picks[first] += 1
        old = book.utilization(first, "claude-sonnet-4-5", NOW)
        book.record(first, "claude-sonnet-4-5", reading(old + 0.0005))
    assert picks["b"] > picks["c"] > picks["a"]


def test_session_key_sources() -> None:
    meta = {"user_id": '{"device_id":"d","account_uuid":"","session_id":"s-123"}'}
    assert session_key({"x-claude-code-session-id": "s-9"}, meta) == "sid:s-9"
    assert session_key({}, meta) == "sid:s-123"
    body = {
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    k1 = session_key({}, None, body)
    body2 = {**body, "messages": [{"role": "user", "content": "a different turn"}]}
    assert k1 is not None and k1.startswith("prefix:") and k1 == session_key({}, None, body2)
    assert cached_prefix({"messages": [{"role": "user", "content": "x"}]}) is None
    assert session_key({}, {"user_id": "not json"}, {"messages": []}) is None


def test_sticky_ttl_renew_and_bound() -> None:
    t = StickyTable(ttl_s=100, max_entries=3)
    t.pin("s1", "anthropic", "a", NOW)
    assert t.get("s1", NOW + 99) is not None
    assert t.get("s1", NOW + 100) is None
    for i in range(5):
        t.pin(f"s{i}", "anthropic", "a", NOW)
    assert len(t) == 3 and t.get("s0", NOW) is None and t.get("s4", NOW) is not None
    assert t.count_by_account(NOW) == {("anthropic", "a"): 3}


def _router(strategy: str = "priority") -> tuple[AccountRouter, list[str]]:
    logs: list[str] = []
    r = AccountRouter(
        pools={"max": Pool(["a", "b"], strategy=strategy)},
        book=AccountBook(),
        sticky=StickyTable(),
        log=logs.append,
        clock_fmt=lambda t: "17:40",
    )
    return r, logs


CANDS = [Candidate("max", "claude-sonnet-4-5", 1), Candidate("key", "claude-sonnet-4-5", 2)]


def test_select_sticky_new_hit_and_moved_on_quota() -> None:
    r, logs = _router()
    exp = r.expand(CANDS, "sid:1", NOW)
    assert [(c.provider, c.account) for c in exp.candidates] == [("max", "a"), ("max", "b"), ("key", None)]
    assert r.served(exp, exp.candidates[0], NOW) == "new"
    exp = r.expand(CANDS, "sid:1", NOW)
    assert r.served(exp, exp.candidates[0], NOW) == "hit"
    # A crosses the soft limit: new sessions go to B, the pinned one stays on A.
    r.observe(exp.candidates[0], hdrs_for(0.92), NOW)
    assert logs == ["a: 5h at 92 % → new sessions go elsewhere until 17:40"]
    new = r.expand(CANDS, "sid:2", NOW)
    assert new.candidates[0].account == "b"
    pinned = r.expand(CANDS, "sid:1", NOW)
    assert pinned.candidates[0].account == "a"
    # A hits the hard limit: the pinned session moves to B, and says why.
    r.observe(pinned.candidates[0], hdrs_for(0.99), NOW)
    moved = r.expand(CANDS, "sid:1", NOW)
    assert [c.account for c in moved.candidates] == ["b", None]
    assert r.served(moved, moved.candidates[0], NOW) == "moved:quota"
    assert "moved from a to b (quota)" in logs[-1]
    # Both exhausted: the API-key mapping serves, and that session is not pinned to it.
    r.observe(moved.candidates[0], hdrs_for(1.0, status="rejected"), NOW)
    both = r.expand(CANDS, "sid:3", NOW)
    assert [(c.provider, c.account) for c in both.candidates] == [("key", None)]
    assert r.served(both, both.candidates[0], NOW) == ""
    # The window resets: traffic returns to A.
    later = r.expand(CANDS, "sid:3", NOW + 3601)
    assert later.candidates[0].account == "a"


def test_select_everything_exhausted_is_a_clear_429() -> None:
    r, _ = _router()
    only = [Candidate("max", "claude-sonnet-4-5", 1)]
    for acc in ("a", "b"):
        r.observe(Candidate("max", "claude-sonnet-4-5", 1, acc), hdrs_for(1.0, status="rejected"), NOW)
    with pytest.raises(RateLimited) as ei:
        r.expand(only, None, NOW)
    assert "a, b" in ei.value.message and "17:40" in ei.value.message
    assert ei.value.headers["retry-after"] == "3600"


def test_select_cooling_accounts_go_last() -> None:
    r, _ = _router()
    exp = r.expand(CANDS, None, NOW, cooling=lambda key, model: 5.0 if key == health_key("max", "a") else 0.0)
    assert [c.account for c in exp.candidates] == ["b", "a", None]


def hdrs_for(util5: float, *, status: str = "allowed") -> dict[str, str]:
    return {
        P + "status": status,
        P + "reset": str(int(NOW + 3600)),
        P + "representative-claim": "five_hour",
        P + "5h-utilization": str(util5),
        P + "5h-reset": str(int(NOW + 3600)),
    }


def test_pool_config_validation_and_env_keys() -> None:
    from claude_code_mux.config.load import parse_config
    from claude_code_mux.errors import ConfigError

    base = '[router]\ndefault = "m"\n[[providers]]\nname = "p"\nprovider_type = "anthropic"\nmodels = ["m"]\n'
    cfg = parse_config(
        base + 'api_keys = ["$KEY_A", "${KEY_B}"]\nweights = [2, 1]\n', env={"KEY_A": "a1", "KEY_B": "b2"}
    )
    p = cfg.providers[0]
    assert [k.get_secret_value() for k in p.api_keys] == ["a1", "b2"] and "a1" not in repr(p)
    for bad, needle in [
        ('api_keys = ["a", "b"]\nweights = [1]\n', "weights has 1 entries for 2"),
        ('auth_type = "oauth"\noauth_accounts = ["x", "x"]\n', "lists an account twice"),
        ('oauth_accounts = ["x"]\napi_key = "k"\n', 'needs auth_type = "oauth"'),
        ('api_key = "k"\nstrategy = "random"\n', "strategy"),
    ]:
        with pytest.raises(ConfigError) as ei:
            parse_config(base + bad)
        assert needle in str(ei.value)
    with pytest.raises(ConfigError) as ei:
        parse_config(base + 'api_key = "k"\n[subscription]\nsoft_limit = 0.99\nhard_limit = 0.9\n')
    assert "soft_limit must not exceed hard_limit" in str(ei.value)


def test_snapshot_and_table() -> None:
    from claude_code_mux.accounts.report import format_table, snapshot

    r, _ = _router()
    r.clock = lambda: NOW
    r.observe(Candidate("max", "claude-sonnet-4-5", 1, "a"), hdrs_for(0.92), NOW)
    exp = r.expand(CANDS, "sid:1", NOW)
    r.served(exp, exp.candidates[0], NOW)
    rows = snapshot(r)
    a = next(x for x in rows if x["account"] == "a")
    b = next(x for x in rows if x["account"] == "b")
    assert a["state"] == "soft" and a["windows"]["5h"]["utilization"] == 0.92 and a["sessions"] == 0
    assert b["state"] == "ok" and b["sessions"] == 1
    table = format_table(rows)
    assert "92 %" in table and "soft until" in table and table.splitlines()[0].startswith("PROVIDER")
