"""The Anthropic passthrough body: the client's bytes with only the top-level ``model`` replaced."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from claude_code_mux.providers.base import replace_model


def _replace(raw: bytes, old: str, new: str) -> bytes:
    return replace_model(raw, old, new, lambda: dict(orjson.loads(raw)))


def test_model_first_is_spliced_and_every_other_byte_is_the_clients() -> None:
    raw = b'{ "model" :  "claude-a", "messages": [{"role": "user", "content": "hi  \\u00e9"}], "max_tokens": 5 }'
    out = _replace(raw, "claude-a", "upstream-b")
    assert out == raw.replace(b'"claude-a"', b'"upstream-b"')


def test_the_same_model_is_the_clients_bytes_as_they_are() -> None:
    raw = b'{"model": "m", "x": 1}'
    assert _replace(raw, "m", "m") is raw


def test_a_nested_model_before_the_top_level_one_is_left_alone() -> None:
    raw = (
        b'{"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n",'
        b' "input": {"model": "claude-a"}}]}], "model": "claude-a"}'
    )
    out = orjson.loads(_replace(raw, "claude-a", "up"))
    assert out["model"] == "up"
    assert out["messages"][0]["content"][0]["input"] == {"model": "claude-a"}


def _sdk_body(kb: int) -> dict[str, Any]:
    """Shaped like the Anthropic SDKs send it: "model" after a long "messages"."""
    text = 'line of a file with "quotes", {braces} and [brackets]\\n' * (kb * 20)
    return {
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": text}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "u", "name": "n", "input": {"model": "a"}}]},
        ],
        "model": "a",
        "stream": True,
        "tools": [{"name": "n", "input_schema": {"type": "object"}}],
    }


def test_a_model_after_a_long_body_is_replaced_and_the_values_keep_their_bytes() -> None:
    doc = _sdk_body(50)
    raw = orjson.dumps(doc, option=orjson.OPT_INDENT_2)  # whitespace inside values must survive
    out = _replace(raw, "a", "upstream-b")
    assert orjson.loads(out) == {**doc, "model": "upstream-b"}
    messages = raw[raw.index(b"[") : raw.rindex(b'"model": "a"')].rstrip().rstrip(b",")
    assert messages in out  # the messages are the client's bytes, indentation included


def test_a_model_after_a_long_body_costs_no_scan_of_every_byte() -> None:
    # Was a regex depth check over the whole prefix: ~40 ms for 1 MB (a linear pass costs ~1 ms).
    raw = orjson.dumps(_sdk_body(1000))
    assert len(raw) > 1_000_000
    best = min(_timed(lambda: _replace(raw, "a", "b")) for _ in range(5))
    assert best < 0.010, f"{best * 1e3:.1f} ms"


def _timed(fn: Any) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"mod\\u0065l": "a", "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t",'
        b' "name": "n", "input": {"model": "a"}}]}]}',
        b'{"messages": [], "mod\\u0065l": "a"}',
    ],
)
def test_an_escaped_top_level_key_is_still_the_one_replaced(raw: bytes) -> None:
    out = orjson.loads(_replace(raw, "a", "b"))
    assert out["model"] == "b"
    assert orjson.dumps(out).count(b'"model":"a"') == (1 if b"input" in raw else 0)
