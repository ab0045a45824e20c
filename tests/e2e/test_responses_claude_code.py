"""The real Claude Code CLI through the router to the Responses mock: with an API key, and with the ChatGPT
subscription provider after ``ccm login chatgpt`` against the mock auth server."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from tests.auth.test_chatgpt import login_via_cli
from tests.e2e.claude_cli import run_claude
from tests.harness import model_block, run_router
from tests.mocks.chatgpt_oauth import ACCOUNT, MockChatGPTAuth
from tests.mocks.responses import MockResponses
from tests.providers.test_chatgpt_provider import chatgpt_config

pytestmark = pytest.mark.e2e


def responses_config(url: str) -> str:
    return (
        '[router]\ndefault = "main"\nauto_map = true\n'
        '[[providers]]\nname = "rs"\nprovider_type = "openai-responses"\n'
        f'base_url = "{url}/v1"\napi_key = "sk-up-test"\n' + model_block("main", [("rs", "gpt-5-mock")])
    )


async def bash_round_trip(url: str, tag: str) -> None:
    nonce = random.randint(1000, 9999)
    plain = await run_claude(url, f"Reply with exactly: {tag}-{nonce}")
    assert plain.ok, plain.stdout + plain.stderr
    assert f"{tag}-{nonce}" in plain.text
    a, b = random.randint(1, 40), random.randint(1, 40)
    tool = await run_claude(
        url,
        f"Run the shell command `echo {tag}-$(({a}+{b}))` and tell me its output",
        extra_args=("--allowedTools", "Bash"),
    )
    assert tool.ok, tool.stdout + tool.stderr
    assert f"{tag.lower()}-{a + b}" in tool.text.lower()
    assert tool.result.get("num_turns", 0) >= 2


async def test_claude_code_bash_round_trip_through_the_responses_dialect(tmp_path: Path) -> None:
    async with MockResponses(name="rs", require_key="sk-up-test", reasoning=True, chunks=6) as up:
        async with run_router(responses_config(up.url), tmp_path) as router:
            await bash_round_trip(router.url, "RS")
        sent = [r.json for r in up.responses_requests() if r.status == 200]
        assert any(i["type"] == "function_call_output" for body in sent for i in body["input"])


async def test_claude_code_through_chatgpt_after_login(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with MockChatGPTAuth(redirect_uris=[f"http://localhost:{port}/auth/callback"]) as auth:
        home = tmp_path / "ccm"
        await login_via_cli(tmp_path, home, auth)
        async with MockResponses(name="codex", chatgpt=True, token_ok=auth.token_ok) as up:
            cfg = chatgpt_config(auth, up.url)
            async with run_router(cfg, home) as router:
                await bash_round_trip(router.url, "CG")
            recs = up.responses_requests()
            assert recs and all(r.header("chatgpt-account-id") == ACCOUNT for r in recs)
            assert all(r.status == 200 for r in recs), [r.status for r in recs]
