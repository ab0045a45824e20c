"""One RequestRecord per request to /v1/messages, count_tokens and /v1/chat/completions, however it ends
(issue 13 item 4, issue 14 item 16): served, refused by routing, auth or limits, failed upstream, failed mid-
stream, or abandoned by the client. Read from the observers' recent list, as every observer sees them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from claude_code_mux.observe.record import RequestRecord
from tests.harness import RouterHandle, anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic

REQ = {"model": "main", "max_tokens": 10, "messages": [{"role": "user", "content": "Reply with exactly: R"}]}


def cfg(url: str, server: str = "") -> str:
    return (
        "[server]\n"
        + server
        + '[router]\ndefault = "main"\nauto_map = false\n'
        + anthropic_provider("up", url)
        + model_block("main", [("up", "m")])
    )


def records(router: RouterHandle) -> list[RequestRecord]:
    assert router.server.holder is not None
    return list(router.server.holder.observers.recent)


async def test_served_requests_of_every_endpoint_are_recorded(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(cfg(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            assert (await http.post(router.url + "/v1/messages", json=REQ)).status_code == 200
            assert (await http.post(router.url + "/v1/messages", json={**REQ, "stream": True})).status_code == 200
            assert (await http.post(router.url + "/v1/messages/count_tokens", json=REQ)).status_code == 200
            chat = {"model": "main", "messages": [{"role": "user", "content": "Reply with exactly: C"}]}
            r = await http.post(router.url + "/v1/chat/completions", json=chat)
            assert r.status_code == 200, r.text
        got = records(router)
        assert [(x.endpoint, x.status, x.stream) for x in got] == [
            ("messages", 200, False),
            ("messages", 200, True),
            ("count_tokens", 200, False),
            ("chat_completions", 200, False),
        ]
        for x in (got[0], got[1], got[3]):
            assert x.provider == "up" and x.model == "m" and x.client_model == "main" and x.route
            assert len(x.attempts) == 1 and x.attempts[0].status == 200
            assert x.ttfb_ms is not None and x.total_ms >= x.ttfb_ms
            assert x.client == "addr:127.0.0.1" and x.error is None
        assert got[1].usage.get("output_tokens", 0) > 0


async def test_refusals_and_failures_are_recorded(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        server = 'api_key = "router-key-123"\n'
        async with run_router(cfg(mock.url, server), tmp_path) as router, httpx.AsyncClient() as http:
            key = {"x-api-key": "router-key-123"}
            # auth
            assert (await http.post(router.url + "/v1/messages", json=REQ)).status_code == 401
            # routing: no route for this model
            r = await http.post(router.url + "/v1/messages", json={**REQ, "model": "nope"}, headers=key)
            assert r.status_code == 404
            # upstream failure, after the failover had nothing left
            mock.add_fault(Fault(kind="status", status=500))
            assert (await http.post(router.url + "/v1/messages", json=REQ, headers=key)).status_code == 500
            # a bad body
            r = await http.post(router.url + "/v1/chat/completions", content=b"{", headers=key)
            assert r.status_code == 400
            # a stream that fails after it started
            mock.add_fault(Fault(kind="drop"))
            r = await http.post(router.url + "/v1/messages", json={**REQ, "stream": True}, headers=key)
            assert b"event: error" in r.content
        got = records(router)
        assert [(x.endpoint, x.status, x.error_type) for x in got] == [
            ("messages", 401, "authentication_error"),
            ("messages", 404, "not_found_error"),
            ("messages", 500, "api_error"),
            ("chat_completions", 400, "invalid_request_error"),
            ("messages", 599, "api_error"),
        ]
        assert got[0].client is None and got[1].client == "key:router"
        assert "nope" in (got[1].error or "") and got[1].client_model == "nope"
        assert [(a.provider, a.status) for a in got[2].attempts] == [("up", 500)]
        assert got[2].route is not None and got[2].provider is None
        assert "router-key-123" not in orjson.dumps([x.to_dict() for x in got]).decode()


async def test_a_client_that_goes_away_is_recorded_as_499(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="up", delay_ms=100, chunks=30) as mock,
        run_router(cfg(mock.url), tmp_path) as router,
    ):
        body = orjson.dumps({**REQ, "stream": True, "messages": [{"role": "user", "content": "one two three four"}]})
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(
            b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%b" % (len(body), body)
        )
        got = b""
        while b"content_block_delta" not in got:
            got += await asyncio.wait_for(reader.read(65536), 10)
        writer.transport.abort()
        for _ in range(100):
            if records(router):
                break
            await asyncio.sleep(0.05)
        rec = records(router)[-1]
        assert rec.status == 499 and rec.stream and rec.provider == "up"
        assert mock.messages_requests()[0].disconnected


async def test_under_another_asgi_server_a_disconnect_still_cancels_the_upstream(tmp_path: Path) -> None:
    # Without our protocol's disconnect hook (scope["state"] lacks it), the hot path watches receive() instead.
    async with (
        MockAnthropic(name="up", delay_ms=100, chunks=30) as mock,
        run_router(cfg(mock.url), tmp_path) as router,
    ):
        holder = router.server.holder
        assert holder is not None
        from claude_code_mux.server.app import build_app

        app = build_app(holder)
        body = orjson.dumps({**REQ, "stream": True, "messages": [{"role": "user", "content": "one two three four"}]})
        sent: list[dict[str, object]] = []
        gone = asyncio.Event()
        delivered = False

        async def receive() -> dict[str, object]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)
            if b"content_block_delta" in message.get("body", b""):  # type: ignore[operator]
                gone.set()

        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "path": "/v1/messages",
            "raw_path": b"/v1/messages",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5555),
            "state": {},
        }
        await asyncio.wait_for(app(scope, receive, send), 10)
        assert sent[0]["status"] == 200
        for _ in range(100):
            if mock.messages_requests() and mock.messages_requests()[0].disconnected:
                break
            await asyncio.sleep(0.05)
        assert mock.messages_requests()[0].disconnected
        assert records(router)[-1].status == 499
