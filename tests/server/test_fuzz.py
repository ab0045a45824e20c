"""Fuzz: random bodies and headers against /v1/messages and /v1/chat/completions never give a 500 or a crash."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
blocks = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "tool_use", "tool_result", "thinking", "document", "weird"])},
    optional={
        "text": json_values,
        "source": json_values,
        "content": json_values,
        "input": json_values,
        "id": json_values,
        "name": json_values,
        "signature": json_values,
    },
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "tool", 7])},
        optional={"content": st.one_of(st.text(max_size=30), st.lists(blocks, max_size=3), json_values)},
    ),
    max_size=4,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["main", "claude-x", "", "nope", "p,main", "up,m"]) | json_values,
        "messages": messages | json_values,
        "system": st.text(max_size=40) | st.lists(blocks, max_size=2) | json_values,
        "tools": st.lists(json_values, max_size=3) | st.just([{"type": "web_search_20250305", "name": "ws"}]),
        "thinking": json_values,
        "stream": st.booleans() | json_values,
        "max_tokens": st.integers(-5, 10**6) | json_values,
        "metadata": json_values,
        "tool_choice": json_values,
        "stop": json_values,
        "output_config": json_values,
    },
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
headers = st.dictionaries(
    st.sampled_from(
        ["x-provider", "anthropic-beta", "anthropic-version", "x-api-key", "authorization", "content-type"]
    ),
    header_values,
    max_size=4,
)


@pytest.fixture(scope="module")
def router_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real router + mock in a background thread, so hypothesis can drive it synchronously."""
    home: Path = tmp_path_factory.mktemp("fuzz")
    ready = threading.Event()
    stop = threading.Event()
    box: dict[str, str] = {}

    async def main() -> None:
        async with MockAnthropic(name="up") as mock:
            cfg = (
                '[server]\nlog_level = "error"\n[router]\ndefault = "main"\nauto_map = true\nwebsearch = "main"\n'
                '[[router.rules]]\npattern = "(?i)fuzz"\nmodel = "main"\n'
                + anthropic_provider("up", mock.url)
                + model_block("main", [("up", "m")])
            )
            async with run_router(cfg, home) as router:
                box["url"] = router.url
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.05)

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    assert ready.wait(30)
    yield box["url"]
    stop.set()
    t.join(30)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    hdrs=headers,
    path=st.sampled_from(["/v1/messages", "/v1/chat/completions", "/v1/messages/count_tokens"]),
)
def test_random_requests_never_500(router_url: str, body: dict[str, object], hdrs: dict[str, str], path: str) -> None:
    with httpx.Client(timeout=30) as http:
        try:
            r = http.post(router_url + path, content=orjson.dumps(body), headers=hdrs)
        except httpx.LocalProtocolError:
            return  # the client itself refused the header set; nothing reached the server
        assert r.status_code < 500 or r.status_code in (502, 529), (r.status_code, r.text[:300])
        if r.status_code >= 400:
            data = r.json()
            assert "error" in data and data["error"]["message"]
        assert http.get(router_url + "/health").status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_500(router_url: str, raw: bytes) -> None:
    with httpx.Client(timeout=30) as http:
        r = http.post(router_url + "/v1/messages", content=raw, headers={"content-type": "application/json"})
        assert r.status_code in (200, 400, 404, 413), (r.status_code, r.text[:300])
        assert r.json()["type"] in ("error", "message")
