"""A corrupted ``oauth_tokens.json`` through the real router: a per-provider authentication failure that fails
over to the next candidate (like a missing login), logged with the path and the fix; never a 500."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic


def config(url: str) -> str:
    return (
        '[router]\ndefault = "main"\n'
        + anthropic_provider("max", url, auth="oauth")
        + 'oauth_provider = "claude-max"\n'
        + anthropic_provider("up", url)
        + model_block("main", [("max", "sub-model"), ("up", "key-model")])
        + model_block("only-max", [("max", "sub-model")])
    )


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]"])
async def test_corrupted_token_file_fails_over_and_names_the_fix(tmp_path: Path, content: bytes) -> None:
    async with MockAnthropic(name="up") as mock, run_router(config(mock.url), tmp_path) as router:
        tokens = tmp_path / "oauth_tokens.json"
        tokens.write_bytes(content)
        body = {"model": "main", "max_tokens": 20, "messages": [{"role": "user", "content": "Reply with exactly: OK"}]}
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as http:
            r = await http.post("/v1/messages", json=body, headers={"x-api-key": "client-key"})
            assert r.status_code == 200, r.text
            assert [q.json["model"] for q in mock.messages_requests()] == ["key-model"]
            # Without another candidate: a clear 401 naming the file, not a 500.
            r = await http.post("/v1/messages", json=body | {"model": "only-max"}, headers={"x-api-key": "k"})
            assert r.status_code == 401, r.text
            err = r.json()["error"]
            assert err["type"] == "authentication_error"
            assert str(tokens) in err["message"] and "ccm login" in err["message"]
            # The admin API's list of logins says the same, not an opaque internal error.
            r = await http.get("/api/oauth/tokens")
            assert r.status_code == 503, r.text
            assert str(tokens) in r.json()["error"]["message"]
        log = router.log_text()
        assert str(tokens) in log and "ccm login" in log
        assert log.count("OAuth logins cannot be read") == 1  # once per problem, not once per request
