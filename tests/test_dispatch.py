"""Failover: the client sees one clean answer while upstreams fail; the last failure passes through."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic

REQ = {
    "model": "main",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Reply with exactly: OK-7"}],
}


def two_provider_config(url1: str, url2: str, extra_server: str = "") -> str:
    return (
        "[server]\n"
        + extra_server
        + "[server.timeouts]\nconnect_timeout_ms = 2000\napi_timeout_ms = 1500\nretry_budget_ms = 3000\n"
        + '[router]\ndefault = "main"\nauto_map = true\n'
        + anthropic_provider("first", url1)
        + anthropic_provider("second", url2)
        + model_block("main", [("first", "m1"), ("second", "m2")])
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


FAULTS = [
    pytest.param(Fault(kind="status", status=529, error_type="overloaded_error"), id="529"),
    pytest.param(Fault(kind="status", status=500), id="500"),
    pytest.param(Fault(kind="status", status=429, retry_after=30), id="429-retry-after"),
    pytest.param(Fault(kind="reset"), id="reset-before-headers"),
    pytest.param(Fault(kind="stall", seconds=5), id="stall-before-first-byte"),
    pytest.param(Fault(kind="error_event", error_type="overloaded_error"), id="error-event-first"),
]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_failover_to_second_provider(tmp_path: Path, fault: Fault, stream: bool) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(fault)
        cfg = two_provider_config(one.url, two.url)
        async with run_router(cfg, tmp_path) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            if stream:
                async with client.messages.stream(**REQ) as s:  # type: ignore[arg-type]
                    final = await s.get_final_message()
                text = final.content[0].text  # type: ignore[union-attr]
            else:
                raw = await client.messages.with_raw_response.create(**REQ)  # type: ignore[arg-type]
                assert raw.headers["x-ccm-provider"] == "second"
                assert raw.headers["x-ccm-attempts"] == "2"
                text = (await raw.parse()).content[0].text  # type: ignore[union-attr]
            assert text == "OK-7"
            assert len(one.messages_requests()) == 1
            assert len(two.messages_requests()) == 1
            assert two.messages_requests()[0].json["model"] == "m2"


async def test_connection_refused_fails_over(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with (
        MockAnthropic(name="two") as two,
        run_router(two_provider_config(dead, two.url), tmp_path) as router,
    ):
        async with httpx.AsyncClient() as http:
            r = await http.post(router.url + "/v1/messages", json=REQ)
        assert r.status_code == 200
        assert r.headers["x-ccm-provider"] == "second"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
async def test_client_errors_do_not_fail_over(tmp_path: Path, status: int) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind="status", status=status, message=f"upstream says {status}"))
        async with (
            run_router(two_provider_config(one.url, two.url), tmp_path) as router,
            httpx.AsyncClient() as http,
        ):
            r = await http.post(router.url + "/v1/messages", json=REQ)
        assert r.status_code == status
        assert f"upstream says {status}" in r.json()["error"]["message"]
        assert two.messages_requests() == []


async def test_all_fail_passes_last_status_and_retry_after(tmp_path: Path) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind="status", status=529, times=5))
        two.add_fault(Fault(kind="status", status=429, retry_after=60, times=5, message="slow down"))
        async with (
            run_router(two_provider_config(one.url, two.url), tmp_path) as router,
            httpx.AsyncClient() as http,
        ):
            r = await http.post(router.url + "/v1/messages", json=REQ)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "60"
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
        assert "slow down" in body["error"]["message"]
        assert r.headers["x-ccm-attempts"] == "2"


async def test_retry_after_within_budget_is_honoured(tmp_path: Path) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind="status", status=429, retry_after=1))
        two.add_fault(Fault(kind="status", status=529, retry_after=1))
        async with (
            run_router(two_provider_config(one.url, two.url), tmp_path) as router,
            httpx.AsyncClient() as http,
        ):
            t0 = time.monotonic()
            r = await http.post(router.url + "/v1/messages", json=REQ)
            elapsed = time.monotonic() - t0
        assert r.status_code == 200
        assert r.headers["x-ccm-attempts"] == "3"
        assert elapsed >= 0.9


async def test_failure_after_first_byte_ends_stream_with_error_event(tmp_path: Path) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind="drop"))
        async with (
            run_router(two_provider_config(one.url, two.url), tmp_path) as router,
            httpx.AsyncClient() as http,
        ):
            r = await http.post(router.url + "/v1/messages", json={**REQ, "stream": True})
        assert r.status_code == 200
        text = r.text
        assert text.startswith("event: message_start")
        assert text.rstrip().split("\n\n")[-1].startswith("event: error")
        assert '"type":"error"' in text.split("event: error")[-1].replace(" ", "")
        # No failover after the first byte.
        assert two.messages_requests() == []


async def test_stall_mid_stream_ends_with_error_event(tmp_path: Path) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind="stall_mid", seconds=5))
        async with (
            run_router(two_provider_config(one.url, two.url), tmp_path) as router,
            httpx.AsyncClient() as http,
        ):
            r = await http.post(router.url + "/v1/messages", json={**REQ, "stream": True}, timeout=20)
        assert "event: error" in r.text
        assert "message_stop" not in r.text


async def test_client_disconnect_cancels_upstream(tmp_path: Path) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind="stall_mid", seconds=10))
        cfg = two_provider_config(one.url, two.url)
        async with run_router(cfg, tmp_path) as router:
            async with (
                httpx.AsyncClient() as http,
                http.stream("POST", router.url + "/v1/messages", json={**REQ, "stream": True}) as r,
            ):
                async for chunk in r.aiter_bytes():
                    assert b"message_start" in chunk
                    break
            # The client is gone: the mock must see its connection closed promptly.
            for _ in range(100):
                if one.messages_requests() and one.messages_requests()[0].disconnected:
                    break
                await asyncio.sleep(0.05)
            assert one.messages_requests()[0].disconnected


@pytest.mark.parametrize("kind", ["drop", "malformed", "truncate", "error_mid"])
@pytest.mark.parametrize("candidates", [1, 2])
async def test_mid_stream_faults_end_cleanly_with_an_error_event(tmp_path: Path, kind: str, candidates: int) -> None:
    async with MockAnthropic(name="one") as one, MockAnthropic(name="two") as two:
        one.add_fault(Fault(kind=kind))
        cfg = two_provider_config(one.url, two.url)
        if candidates == 1:
            cfg = cfg.replace('[[models.mappings]]\nprovider = "second"\nactual_model = "m2"\npriority = 2\n', "")
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient() as http:
            r = await http.post(router.url + "/v1/messages", json={**REQ, "stream": True})
        assert r.status_code == 200
        frames = [f for f in r.text.split("\n\n") if f.strip()]
        assert frames[0].startswith("event: message_start")
        assert frames[-1].startswith("event: error")
        for f in frames:  # every frame the client got is whole and parses
            name, data = f.split("\n", 1)
            assert name.startswith("event: ")
            assert json.loads(data.removeprefix("data: "))["type"] == name.removeprefix("event: ")
        assert "event: message_stop" not in r.text
        assert two.messages_requests() == []
