"""request_head: the headers we set ourselves are dropped in any case, a header that would break the head raises,
and the names and values go out as given."""

from __future__ import annotations

import asyncio

import pytest

from claude_code_mux.errors import TransportError
from claude_code_mux.providers import http1_conn
from claude_code_mux.providers.http1_conn import Connection, request_head, target
from claude_code_mux.providers.transport import Http1Transport, Timeouts

T = target("http://example.test:8080/v1/messages")


def _lines(head: bytes) -> list[str]:
    return head.decode("latin-1").split("\r\n")


def test_forwarded_headers_follow_ours_in_order() -> None:
    head = request_head("POST", T, {"x-api-key": "k", "anthropic-version": "2023-06-01"}, 12)
    assert _lines(head) == [
        "POST /v1/messages HTTP/1.1",
        "Host: example.test:8080",
        "Content-Length: 12",
        "Accept-Encoding: identity",
        "x-api-key: k",
        "anthropic-version: 2023-06-01",
        "",
        "",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "evil", "content-length": "1", "transfer-encoding": "chunked", "accept-encoding": "gzip", "a": "b"},
        {"Host": "evil", "Content-Length": "1", "Transfer-Encoding": "chunked", "ACCEPT-ENCODING": "gzip", "A": "b"},
    ],
)
def test_our_own_headers_are_dropped_in_any_case(headers: dict[str, str]) -> None:
    lines = _lines(request_head("POST", T, headers, 0))
    assert [x for x in lines if x.lower().startswith(("host:", "content-length:", "accept-encoding:"))] == [
        "Host: example.test:8080",
        "Content-Length: 0",
        "Accept-Encoding: identity",
    ]
    assert not any(x.lower().startswith("transfer-encoding") for x in lines)
    assert lines[4].lower() == "a: b"


@pytest.mark.parametrize(
    "headers",
    [{"x-a": "v\r\nx-injected: 1"}, {"x-a": "v\nx"}, {"x-a": "ok", "x-b\r\nx": "v"}, {"x:b": "v"}, {"X-B\n": "v"}],
)
def test_a_header_that_breaks_the_head_raises_naming_it(headers: dict[str, str]) -> None:
    bad = next(k for k, v in headers.items() if "\r" in k + v or "\n" in k + v or ":" in k)
    with pytest.raises(ValueError, match="invalid header") as info:
        request_head("POST", T, headers, 0)
    assert repr(bad) in str(info.value)


def test_a_dropped_header_is_not_checked() -> None:
    """A header we drop anyway never reaches the wire: as before, it does not fail the request."""
    head = request_head("POST", T, {"Host": "a\r\nb", "x-a": "v"}, 0)
    assert b"a\r\nb" not in head and b"x-a: v\r\n" in head


def test_transport_maps_misuse_before_any_io() -> None:
    async def go() -> None:
        tr = Http1Transport()
        with pytest.raises(TransportError, match="cannot send: invalid header"):
            await tr.post("http://127.0.0.1:9/v1/messages", {"x-a": "v\r\n"}, b"", Timeouts())
        with pytest.raises(TransportError, match="cannot send"):
            await tr.post("ftp://127.0.0.1:9/", {}, b"", Timeouts())
        tr.close()
        with pytest.raises(TransportError, match="cannot send: Http1Pool is closed"):
            await tr.post("http://127.0.0.1:9/v1/messages", {}, b"", Timeouts())
        assert tr.pool.opened == 0

    asyncio.run(go())


class _Tr:
    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


def _respond(conn: Connection, head: bytes) -> None:
    conn.start("POST")
    conn.data_received(head + b"content-length: 0\r\n\r\n")


def test_response_names_are_lower_cased_and_repeats_joined() -> None:
    conn = Connection(asyncio.new_event_loop())
    conn.transport = _Tr()  # type: ignore[assignment]
    _respond(conn, b"HTTP/1.1 200 OK\r\nX-Multi: a\r\nContent-Type: text/plain\r\nx-multi: b\r\nX-MULTI: c\r\n")
    assert conn.done and conn.exc is None
    assert conn.headers == {"x-multi": "a, b, c", "content-type": "text/plain", "content-length": "0"}


def test_the_name_cache_stays_bounded_against_random_names() -> None:
    conn = Connection(asyncio.new_event_loop())
    conn.transport = _Tr()  # type: ignore[assignment]
    for i in range(40):
        names = b"".join(b"x-r%d-%d: v\r\n" % (i, j) for j in range(100))
        long_name = b"x-" + b"l" * 100 + b"%d: v\r\n" % i  # longer than any name the cache keeps
        _respond(conn, b"HTTP/1.1 200 OK\r\n" + names + long_name)
        assert conn.exc is None and conn.headers[f"x-r{i}-99"] == "v"
        assert len(http1_conn._NAMES) <= http1_conn._NAME_CACHE_SIZE
    assert not any(len(k) > http1_conn._NAME_CACHE_MAX_LEN for k in http1_conn._NAMES)


@pytest.mark.parametrize(
    ("head", "error"),
    [
        (b"x-a: " + b"v" * 9000 + b"\r\n", "header line over"),
        (b"".join(b"x-%d: v\r\n" % i for i in range(129)), "more than 128 headers"),
        (b"".join(b"x-%d: %b\r\n" % (i, b"v" * 8000) for i in range(9)), "head over"),
    ],
)
def test_each_head_bound_names_itself(head: bytes, error: str) -> None:
    conn = Connection(asyncio.new_event_loop())
    conn.transport = _Tr()  # type: ignore[assignment]
    _respond(conn, b"HTTP/1.1 200 OK\r\n" + head)
    assert conn.exc is not None and error in str(conn.exc)
