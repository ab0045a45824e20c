"""The Gemini mock refuses what Gemini refuses, so the tests that use it can fail."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.mocks.gemini import MockGemini
from tests.mocks.gemini_check import validate_gemini_request

OK: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
CALL = {
    "role": "model",
    "parts": [{"functionCall": {"name": "A", "args": {}}}, {"functionCall": {"name": "B", "args": {}}}],
}


def answer(*names: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"functionResponse": {"name": n, "response": {"output": ""}}} for n in names]}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**OK, "model": "x"}, 'Unknown name "model"'),
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        (
            {"contents": [{"role": "user", "parts": [{"text": "a", "inlineData": {"mimeType": "x", "data": ""}}]}]},
            "exactly one",
        ),
        ({"contents": [OK["contents"][0], CALL, answer("A")]}, "number of function response parts"),
        ({"contents": [OK["contents"][0], CALL, answer("B", "A")]}, "names match"),
        ({"contents": [answer("A")]}, "must follow a function call"),
        (
            {
                **OK,
                "tools": [
                    {
                        "functionDeclarations": [
                            {"name": "f", "parameters": {"type": "object", "additionalProperties": False}}
                        ]
                    }
                ],
            },
            '"additionalProperties"',
        ),
        (
            {
                **OK,
                "tools": [
                    {"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {}}}]}
                ],
            },
            "non-empty",
        ),
        ({**OK, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"$ref": "#/$defs/x"}}]}]}, '"$ref"'),
        (
            {
                **OK,
                "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "integer", "enum": [1]}}]}],
            },
            "STRING",
        ),
        ({**OK, "generationConfig": {"stopSequences": list("abcdef")}}, "at most 5"),
        ({**OK, "generationConfig": {"max_tokens": 5}}, '"max_tokens"'),
        ({**OK, "safetySettings": [{"category": "HARM_CATEGORY_X", "threshold": "MAYBE"}]}, "threshold"),
    ],
)
def test_validator_rejects(body: dict[str, Any], needle: str) -> None:
    err = validate_gemini_request(body)
    assert err is not None and needle in err, err


def test_validator_accepts_a_paired_round_trip() -> None:
    assert validate_gemini_request({"contents": [OK["contents"][0], CALL, answer("A", "B")]}) is None


async def test_auth_shapes_are_checked() -> None:
    body = OK
    async with MockGemini(api_key="gm-k") as mock, aiohttp.ClientSession() as s:
        gen = mock.url + "/v1beta/models/m:generateContent"
        async with s.post(gen + "?key=gm-k", json=body) as r:
            assert r.status == 400  # keys never in the URL
        async with s.post(gen, json=body, headers={"x-goog-api-key": "wrong"}) as r:
            assert r.status == 400 and "API key not valid" in (await r.json())["error"]["message"]
        async with s.post(gen, json=body, headers={"x-goog-api-key": "gm-k"}) as r:
            assert r.status == 200
        vertex = mock.url + "/v1/projects/mock-project/locations/global/publishers/google/models/m:generateContent"
        async with s.post(vertex, json=body, headers={"authorization": "Bearer ya29.forged"}) as r:
            assert r.status == 401 and (await r.json())["error"]["status"] == "UNAUTHENTICATED"
        token = mock.mint_access_token()
        other = vertex.replace("mock-project", "other")
        async with s.post(other, json=body, headers={"authorization": f"Bearer {token}"}) as r:
            assert r.status == 403
        ca = mock.url + "/v1internal:generateContent"
        bearer = {"authorization": f"Bearer {token}"}
        async with s.post(ca, json=body, headers=bearer) as r:
            assert r.status == 400  # not wrapped
        async with s.post(ca, json={"model": "m", "project": "nope", "request": body}, headers=bearer) as r:
            assert r.status == 403
        async with s.post(
            ca, json={"model": "m", "project": mock.code_assist_project, "request": body}, headers=bearer
        ) as r:
            assert r.status == 200 and "candidates" in (await r.json())["response"]
        async with s.post(mock.url + "/token", data={"grant_type": "refresh_token", "refresh_token": "1//x"}) as r:
            assert r.status == 401  # no client_secret
