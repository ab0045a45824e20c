"""The ``chatgpt`` preset end to end: OAuth bearer from the token store, the Codex backend mock, the anthropic SDK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import httpx

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import FileStore, TokenRecord
from tests.harness import model_block, run_router
from tests.mocks.chatgpt_oauth import ACCOUNT, MockChatGPTAuth
from tests.mocks.responses import MockResponses
from tests.providers.test_openai_responses import TOOLS


def chatgpt_config(auth: MockChatGPTAuth, upstream: str) -> str:
    return (
        '[router]\ndefault = "main"\nauto_map = true\n\n'
        f'[oauth.chatgpt]\nauthorize_url = "{auth.url}/oauth/authorize"\ntoken_url = "{auth.url}/oauth/token"\n\n'
        '[[providers]]\nname = "cg"\nprovider_type = "chatgpt"\nauth_type = "oauth"\noauth_provider = "chatgpt"\n'
        f'base_url = "{upstream}/backend-api/codex"\n' + model_block("main", [("cg", "gpt-5-codex-mock")])
    )


async def seed_login(home: Path, auth: MockChatGPTAuth) -> dict[str, Any]:
    issued = auth.issue()
    await FileStore(home / "oauth_tokens.json").put(
        TokenRecord(
            provider_id="chatgpt",
            access_token=Secret(issued["access_token"]),
            refresh_token=Secret(issued["refresh_token"]),
            expires_at=datetime.now(UTC) + timedelta(days=9),
            source="chatgpt",
        )
    )
    return issued


async def test_chatgpt_provider_streams_upstream_folds_for_json_clients_and_refreshes_on_401(tmp_path: Path) -> None:
    async with MockChatGPTAuth() as auth, MockResponses(name="codex", chatgpt=True, token_ok=auth.token_ok) as up:
        home = tmp_path / "ccm"
        home.mkdir()
        await seed_login(home, auth)
        async with run_router(chatgpt_config(auth, up.url), home) as router:
            client = anthropic.AsyncAnthropic(base_url=router.url, api_key="k", max_retries=0)
            msg = await client.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=4000,
                messages=[{"role": "user", "content": "Reply with exactly: CG-1"}],
            )
            assert [b.text for b in msg.content if b.type == "text"] == ["CG-1"]
            assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
            rec = up.responses_requests()[-1]
            assert rec.path == "/backend-api/codex/responses"
            sent = rec.json
            assert sent["stream"] is True and sent["store"] is False and sent["instructions"]
            assert not {"max_output_tokens", "temperature", "top_p"} & set(sent)
            assert rec.header("chatgpt-account-id") == ACCOUNT
            assert rec.header("originator") == "claude-code-mux"
            assert (rec.header("user-agent") or "").startswith("claude-code-mux/")
            assert rec.header("accept") == "text/event-stream"

            auth.expire_access_tokens()  # the backend now answers 401: one forced refresh, one retry
            async with client.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=100,
                tools=TOOLS,
                messages=[{"role": "user", "content": "Run the shell command `echo cg-2` now"}],
            ) as stream:
                final = await stream.get_final_message()
            assert final.stop_reason == "tool_use"
            assert auth.refresh_count == 1
            assert [r.status for r in up.responses_requests()[-2:]] == [401, 200]

            async with httpx.AsyncClient() as http:  # count_tokens never reaches the backend
                r = await http.post(
                    router.url + "/v1/messages/count_tokens",
                    json={"model": "main", "messages": [{"role": "user", "content": "hello"}]},
                )
            assert r.status_code == 200 and r.json()["input_tokens"] > 0
        assert auth.refresh_count == 1


async def test_chatgpt_without_a_login_is_an_authentication_error(tmp_path: Path) -> None:
    async with MockChatGPTAuth() as auth, MockResponses(chatgpt=True, token_ok=auth.token_ok) as up:
        async with run_router(chatgpt_config(auth, up.url), tmp_path) as router, httpx.AsyncClient() as http:
            r = await http.post(
                router.url + "/v1/messages",
                json={"model": "main", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
            )
        assert r.status_code == 401
        assert r.json()["error"]["type"] == "authentication_error"
        assert "ccm login chatgpt" in r.json()["error"]["message"]
        assert not up.responses_requests()
