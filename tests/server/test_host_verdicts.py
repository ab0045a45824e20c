"""``host_allowed`` caches its verdict per (Host, bound host, allowed_hosts): the cached answer must be the one
the parse gives, a configuration change must never be answered from another configuration's verdicts, and the
cache must stay bounded whatever Host values arrive."""

from __future__ import annotations

import pytest

from claude_code_mux.config.schema import ServerConfig
from claude_code_mux.server.api import security
from claude_code_mux.server.api.security import host_allowed

HOSTS = [
    "127.0.0.1:13456",
    "localhost",
    "LOCALHOST.:80",
    "app.localhost",
    "[::1]:8080",
    "[::ffff:127.0.0.1]",
    "10.0.0.5:13456",
    "router.lan",
    "Router.LAN.:13456",
    "evil.example",
    "",
    ":80",
]


@pytest.mark.parametrize("allowed", [(), ("router.lan",)])
@pytest.mark.parametrize("bound", ["127.0.0.1", "0.0.0.0"])
def test_cached_verdicts_are_the_parsed_ones(allowed: tuple[str, ...], bound: str) -> None:
    s = ServerConfig(allowed_hosts=allowed)
    for host in HOSTS:
        want = security._host_allowed(host, allowed, bound)
        assert host_allowed(host, s, bound) is want, host
        assert host_allowed(host, s, bound) is want, host  # the second answer comes from the cache


def test_a_new_allowed_hosts_list_is_not_answered_from_the_old_one() -> None:
    before = ServerConfig()
    after = ServerConfig(allowed_hosts=("router.lan",))
    assert not host_allowed("router.lan:13456", before, "127.0.0.1")
    assert host_allowed("router.lan:13456", after, "127.0.0.1")
    assert not host_allowed("router.lan:13456", before, "127.0.0.1")


def test_the_cache_stays_bounded() -> None:
    s = ServerConfig()
    for i in range(3 * security._HOST_CACHE_MAX):
        assert not host_allowed(f"evil{i}.example", s, "127.0.0.1")
    assert len(security._host_verdicts) <= security._HOST_CACHE_MAX
    long = "a" * 10_000
    assert not host_allowed(long, s, "127.0.0.1")
    assert all(len(k[0]) <= security._HOST_MAX_LEN for k in security._host_verdicts)
