"""Thinking hygiene: foreign thinking is dropped for Anthropic upstreams; otherwise the body is untouched."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from claude_code_mux.routing.hygiene import clean_foreign_thinking, is_foreign_thinking
from tests.routing.conftest import MAIN_TURN2, fixture

ANTHROPIC_SIG = "EqQBCkgIBxABGAIiQLtx2Dm8ZrWQ" + "A" * 40  # shape of a real signature (base64 protobuf)


def _clean(body: dict[str, Any], anthropic: bool = True, same: bool = False) -> dict[str, Any] | None:
    before = orjson.dumps(body)
    out = clean_foreign_thinking(body, target_dialect_is_anthropic=anthropic, same_provider_as_history=same)
    assert orjson.dumps(body) == before, "the input was mutated"
    return out


def _with_thinking(block: dict[str, Any]) -> dict[str, Any]:
    body = fixture(MAIN_TURN2)
    body["messages"][2]["content"][0] = block
    return body


@pytest.mark.parametrize(
    ("block", "foreign"),
    [
        ({"type": "thinking", "thinking": "x", "signature": ANTHROPIC_SIG}, False),
        ({"type": "thinking", "thinking": "x", "signature": "bW9jay1zaWduYXR1cmU="}, False),
        ({"type": "thinking", "thinking": "x", "signature": ""}, True),
        ({"type": "thinking", "thinking": "x", "signature": "   "}, True),
        ({"type": "thinking", "thinking": "x"}, True),
        ({"type": "thinking", "thinking": "x", "signature": None}, True),
        ({"type": "thinking", "thinking": "x", "signature": "ccm:openrouter:abc"}, True),
        ({"type": "thinking", "thinking": "x", "signature": "gAAAAABoZ1x2"}, True),
        ({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}, False),
        ({"type": "redacted_thinking", "data": ""}, True),
        ({"type": "redacted_thinking"}, True),
        ({"type": "text", "text": "x"}, False),
        ("not a block", False),
    ],
)
def test_is_foreign_thinking(block: Any, foreign: bool) -> None:
    assert is_foreign_thinking(block) is foreign


def test_recorded_turn_with_a_signed_thinking_block_is_untouched() -> None:
    assert _clean(fixture(MAIN_TURN2)) is None


@pytest.mark.parametrize(("anthropic", "same"), [(False, False), (True, True), (False, True)])
def test_no_change_unless_anthropic_target_and_another_provider(anthropic: bool, same: bool) -> None:
    body = _with_thinking({"type": "thinking", "thinking": "x", "signature": ""})
    assert _clean(body, anthropic, same) is None


def test_foreign_block_dropped_rest_shared() -> None:
    body = _with_thinking({"type": "thinking", "thinking": "x", "signature": "ccm:deepseek"})
    body["messages"][2]["content"].insert(0, {"type": "thinking", "thinking": "y", "signature": ANTHROPIC_SIG})
    out = _clean(body)
    assert out is not None
    assert [b["type"] for b in out["messages"][2]["content"]] == ["thinking", "text", "tool_use"]
    assert out["messages"][2]["content"][0]["signature"] == ANTHROPIC_SIG
    for i in (0, 1, 3):
        assert out["messages"][i] is body["messages"][i]
    assert out["tools"] is body["tools"]
    # Still starts with (signed) thinking, so thinking stays on.
    assert out["thinking"] == {"type": "adaptive"}
    assert out["context_management"] is body["context_management"]


def test_open_tool_loop_that_loses_its_leading_thinking_turns_thinking_off() -> None:
    body = _with_thinking({"type": "thinking", "thinking": "x", "signature": ""})
    out = _clean(body)
    assert out is not None
    assert [b["type"] for b in out["messages"][2]["content"]] == ["text", "tool_use"]
    assert out["thinking"] == {"type": "disabled"}
    assert "context_management" not in out  # its only edit was clear_thinking, which needs thinking
    assert body["thinking"] == {"type": "adaptive"}


def test_other_context_management_edits_are_kept() -> None:
    body = _with_thinking({"type": "thinking", "thinking": "x", "signature": ""})
    body["context_management"]["edits"].append({"type": "clear_tool_uses_20250919"})
    out = _clean(body)
    assert out is not None
    assert out["context_management"] == {"edits": [{"type": "clear_tool_uses_20250919"}]}


def test_closed_turn_keeps_thinking_on() -> None:
    body = _with_thinking({"type": "thinking", "thinking": "x", "signature": ""})
    body["messages"].append({"role": "assistant", "content": [{"type": "text", "text": "hi-T"}]})
    body["messages"].append({"role": "user", "content": "thanks"})
    out = _clean(body)
    assert out is not None
    assert out["thinking"] == {"type": "adaptive"}
    assert out["messages"][4] is body["messages"][4]


def test_message_of_only_foreign_thinking_is_removed() -> None:
    body = fixture(MAIN_TURN2)
    body["messages"][3:3] = [
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": ""}]},
        {"role": "user", "content": "go on"},
    ]
    out = _clean(body)
    assert out is not None
    assert [m["role"] for m in out["messages"]] == ["user", "system", "assistant", "user", "user"]


def test_string_and_odd_content_is_left_alone() -> None:
    body = fixture(MAIN_TURN2)
    body["messages"][2]["content"] = "plain"
    body["messages"].insert(0, "junk")
    assert _clean(body) is None
    assert _clean({"messages": "nope"}) is None


def test_result_is_a_new_body_and_the_input_stays_deep_equal() -> None:
    body = _with_thinking({"type": "thinking", "thinking": "x", "signature": ""})
    snapshot = copy.deepcopy(body)
    out = _clean(body)
    assert body == snapshot
    assert out is not body and out is not None
