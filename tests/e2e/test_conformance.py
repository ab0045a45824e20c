"""Conformance: recorded Claude Code requests replayed through every dialect.

Each recorded body (tests/fixtures, captured from Claude Code 2.1.197) goes through the router to an Anthropic
upstream (it must arrive byte-identical except ``model``), to an OpenAI upstream and to an OpenAI Responses
upstream (the mock servers reject anything the real APIs would), streamed and not; the answer must parse with
the official SDK and the stream must obey the Anthropic event grammar.
"""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import MockAnthropic
from tests.mocks.openai import MockOpenAI
from tests.mocks.responses import MockResponses
from tests.test_soak import check_stream

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures").glob("cc-*.json"))


def load(path: Path) -> tuple[bytes, dict[str, str]]:
    data = json.loads(path.read_text())
    raw = json.dumps(data["body"], separators=(",", ":"), ensure_ascii=False).encode()
    keep = ("anthropic-version", "anthropic-beta", "x-app", "user-agent", "content-type")
    pairs = data["headers"].items() if isinstance(data["headers"], dict) else data["headers"]
    headers = {str(k).lower(): str(v) for k, v in pairs if str(k).lower() in keep}
    return raw, headers


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
@pytest.mark.parametrize("dialect", ["anthropic", "openai", "openai-responses"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_recorded_requests_through_every_dialect(
    tmp_path: Path, fixture: Path, dialect: str, stream: bool
) -> None:
    raw, headers = load(fixture)
    body = json.loads(raw)
    body["stream"] = stream
    if not stream:
        del body["stream"]  # Claude Code's non-streaming fallback omits the key
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    async with MockAnthropic(name="an") as an, MockOpenAI(name="oa") as oa, MockResponses(name="rs") as rs:
        if dialect == "anthropic":
            prov = anthropic_provider("up", an.url)
        elif dialect == "openai-responses":
            prov = (
                '[[providers]]\nname = "up"\nprovider_type = "openai-responses"\n'
                f'base_url = "{rs.url}/v1"\napi_key = "k"\n'
            )
        else:
            prov = f'[[providers]]\nname = "up"\nprovider_type = "openai"\nbase_url = "{oa.url}/v1"\napi_key = "k"\n'
        cfg = (
            '[router]\ndefault = "main"\nauto_map = true\nauto_map_regex = ".*"\n'
            + prov
            + model_block("main", [("up", "upstream-model")])
        )
        async with run_router(cfg, tmp_path) as router, httpx.AsyncClient(timeout=30) as http:
            r = await http.post(
                router.url + "/v1/messages?beta=true", content=raw, headers={**headers, "x-api-key": "sk-test"}
            )
        assert r.status_code == 200, r.text[:500]
        assert r.headers["x-ccm-provider"] == "up"
        if stream:
            assert check_stream(r.content) == "ok"
        else:
            msg = anthropic.types.Message.model_validate(r.json())
            assert msg.model == body["model"]
            assert msg.content
        if dialect == "openai-responses":
            sent = rs.responses_requests()[-1].json
            assert sent["model"] == "upstream-model" and sent["store"] is False and sent["instructions"]
            if body.get("tools"):
                assert len(sent["tools"]) == len([t for t in body["tools"] if "input_schema" in t])
            assert not any(k in sent for k in ("thinking", "context_management", "output_config", "metadata", "system"))
        elif dialect == "anthropic":
            got = an.messages_requests()[-1]
            assert got.body == raw.replace(json.dumps(body["model"]).encode(), b'"upstream-model"', 1)
        else:
            sent = oa.requests[-1].json
            assert sent["model"] == "upstream-model"
            assert sent["messages"][0]["role"] == "system"
            # Claude Code's role:"system" message survives in place; tools become functions.
            if body.get("tools"):
                assert len(sent["tools"]) == len([t for t in body["tools"] if "input_schema" in t])
            assert not any(k in sent for k in ("thinking", "context_management", "output_config", "metadata"))
