"""Browser security of the client API (issue 14): Host, Origin, content type and CORS on /v1/* and /metrics;
passthrough paths that try to leave /v1/; bodies bounded on every route; control characters in model names.

Each case fails on a router that serves every Host, Origin and content type, forwards any path under /v1/
after decoding, or reads whole bodies before checking them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic

REQ = {"model": "main", "max_tokens": 10, "messages": [{"role": "user", "content": "Reply with exactly: OK"}]}


def cfg(url: str, server: str = "") -> str:
    return (
        "[server]\n"
        + server
        + '[router]\ndefault = "main"\nauto_map = true\n'
        + anthropic_provider("up", url)
        + model_block("main", [("up", "m")])
    )


def _refused(r: httpx.Response, status: int = 403, fragment: str = "") -> None:
    assert r.status_code == status, r.text
    err = r.json()  # the Anthropic envelope (OpenAI's shape on /v1/chat/completions)
    assert err.get("type", "error") == "error" and err["error"]["message"]
    if status == 403:
        assert err["error"]["type"] == "permission_error"
    assert fragment in err["error"]["message"]


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        # A page's fetch() with a CORS "simple request": no preflight, so the router must refuse it itself.
        ({"origin": "https://evil.example", "content-type": "text/plain;charset=UTF-8"}, "Origin"),
        ({"origin": "https://evil.example", "content-type": "application/json"}, "Origin"),
        ({"origin": "null", "content-type": "application/json"}, "Origin"),
        # DNS rebinding: the page's own name re-pointed at 127.0.0.1.
        ({"host": "evil.example:13456", "content-type": "application/json"}, "Host"),
        # Bodies a page can send without a preflight.
        ({"content-type": "text/plain"}, "application/json"),
        ({"content-type": "application/x-www-form-urlencoded"}, "application/json"),
        ({"content-type": "multipart/form-data; boundary=x"}, "application/json"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions"])
async def test_browser_requests_are_refused(tmp_path: Path, headers: dict[str, str], fragment: str, path: str) -> None:
    async with MockAnthropic(name="up") as mock, run_router(cfg(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            r = await http.post(router.url + path, content=orjson.dumps(REQ), headers=headers)
        _refused(r, 403, fragment)
        assert mock.requests == []
        rec = router.server.holder.observers.recent[-1]  # type: ignore[union-attr]
        assert rec.status == 403 and rec.error_type == "permission_error"


@pytest.mark.parametrize("path", ["/v1/models", "/v1/files", "/metrics"])
async def test_other_api_paths_check_host_and_origin(tmp_path: Path, path: str) -> None:
    async with MockAnthropic(name="up") as mock, run_router(cfg(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            _refused(await http.get(router.url + path, headers={"origin": "https://evil.example"}), 403, "Origin")
            _refused(await http.get(router.url + path, headers={"host": "rebound.example"}), 403, "Host")
        assert mock.requests == []


async def test_same_origin_and_configured_hosts_are_served(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        async with run_router(cfg(mock.url, 'allowed_hosts = ["router.lan"]\n'), tmp_path) as router:
            async with httpx.AsyncClient() as http:
                # The router's own UI page calling the API is same-origin.
                r = await http.get(router.url + "/v1/models", headers={"origin": router.url})
                assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
                r = await http.post(router.url + "/v1/messages", json=REQ, headers={"host": "router.lan"})
                assert r.status_code == 200
                r = await http.post(router.url + "/v1/messages", json=REQ, headers={"host": "localhost:1"})
                assert r.status_code == 200


async def test_cors_allow_origins_and_preflight_answered_by_the_router(tmp_path: Path) -> None:
    server = '[server.cors]\nallow_origins = ["https://app.example"]\n'
    async with MockAnthropic(name="up") as mock, run_router(cfg(mock.url, server), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            pre = {
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type, x-api-key",
            }
            for path in ("/v1/messages", "/v1/files", "/v1/messages/batches"):
                r = await http.options(router.url + path, headers=pre)
                assert r.status_code == 204, r.text
                assert r.headers["access-control-allow-origin"] == "https://app.example"
                assert "POST" in r.headers["access-control-allow-methods"]
                assert "x-api-key" in r.headers["access-control-allow-headers"]
            r = await http.options(router.url + "/v1/files", headers={**pre, "origin": "https://evil.example"})
            _refused(r, 403, "allow_origins")
            r = await http.post(router.url + "/v1/messages", json=REQ, headers={"origin": "https://app.example"})
            assert r.status_code == 200
            assert r.headers["access-control-allow-origin"] == "https://app.example"
            assert "x-ccm-provider" in r.headers["access-control-expose-headers"]
            r = await http.get(router.url + "/v1/models", headers={"origin": "https://app.example"})
            assert r.headers["access-control-allow-origin"] == "https://app.example"
        # Preflights never reach the upstream (and so never with credentials).
        assert [q.method for q in mock.requests] == ["POST"]


TRAVERSALS = [
    "/v1/%2e%2e/api/oauth/mint",
    "/v1/%2E%2E/%2E%2E/x",
    "/v1/.%2e/x",
    "/v1/files/..%2f..%2fx",
    "/v1/files/..%2F..%2Fx",
    "/v1/%252e%252e/x",
    "/v1/files/%25252e%25252e/x",
    "/v1/files/..%5cx",
    "/v1/%2e/files",
    "/v1/files/..;/x",
    "/v1/files%00/x",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_passthrough_refuses_paths_that_leave_v1(tmp_path: Path, path: str) -> None:
    async with MockAnthropic(name="up") as mock, run_router(cfg(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            r = await http.send(httpx.Request("GET", httpx.URL(router.url + path)))  # encoding kept as given
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert mock.requests == [], "a traversal reached the provider (with its credentials)"


async def test_passthrough_forwards_ordinary_paths(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock, run_router(cfg(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            r = await http.get(router.url + "/v1/files/file%20one?limit=3")
        assert r.status_code == 404 and r.headers["x-ccm-provider"] == "up"
        assert mock.requests[-1].path in ("/v1/files/file%20one", "/v1/files/file one")
        assert mock.requests[-1].query == "limit=3"


async def test_passthrough_body_over_the_limit_is_413_before_upstream(tmp_path: Path) -> None:
    async with MockAnthropic(name="up") as mock:
        async with run_router(cfg(mock.url, "max_body_bytes = 1000\n"), tmp_path) as router:
            async with httpx.AsyncClient() as http:
                r = await http.post(router.url + "/v1/files", content=b"x" * 5000)
                _refused(r, 413)

                async def chunks():  # type: ignore[no-untyped-def]
                    for _ in range(10):
                        yield b"y" * 500

                r = await http.post(router.url + "/v1/files", content=chunks())
                _refused(r, 413)
        assert mock.requests == []


@pytest.mark.parametrize("model", ["main\nINFO event=request forged=1", "up,m\u0000", "main\r", "ma\u007fin"])
async def test_control_characters_in_the_model_are_400_and_never_logged_raw(tmp_path: Path, model: str) -> None:
    async with MockAnthropic(name="up") as mock, run_router(cfg(mock.url), tmp_path) as router:
        async with httpx.AsyncClient() as http:
            r = await http.post(router.url + "/v1/messages", json={**REQ, "model": model})
        _refused(r, 400, "control characters")
        assert mock.requests == []
        assert "\nINFO event=request forged" not in router.log_text()
        assert "\x00" not in router.log_text()
