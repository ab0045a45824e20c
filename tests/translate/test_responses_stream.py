"""ResponsesStreamTranslator: golden transcripts (tests/golden/responses_stream) and targeted cases.

Same layout and runner as the chat dialect's goldens: ``NAME.sse`` is raw upstream bytes (built with
tests/translate/responses_events.py), ``NAME.jsonl`` the expected Anthropic events plus a ``{"state": ...}``
line. Each transcript is fed whole, byte by byte, line by line and in fixed-size pieces, and must give the
same output every time. Regenerate after an intended change with ``UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from claude_code_mux.translate.anthropic_fold import fold_anthropic_events
from claude_code_mux.translate.responses_stream import ResponsesStreamTranslator
from tests.translate.grammar import check_sse, parse_events
from tests.translate.responses_events import build, error_event, failed, sse, usage

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "responses_stream"
CASES = sorted(p.stem for p in GOLDEN.glob("*.sse"))
MODEL = "claude-sonnet-test"
MSG_ID = "msg_golden"


def translate(pieces: list[bytes], **kw: Any) -> tuple[bytes, ResponsesStreamTranslator]:
    tr = ResponsesStreamTranslator(model=MODEL, message_id=kw.pop("message_id", MSG_ID), **kw)
    return b"".join(tr.feed(p) for p in pieces) + tr.close(), tr


def chunkings(data: bytes) -> dict[str, list[bytes]]:
    ways = {
        "whole": [data],
        "bytes": [data[i : i + 1] for i in range(len(data))],
        "lines": data.splitlines(keepends=True),
    }
    for size in (2, 7, 64):
        ways[f"size{size}"] = [data[i : i + size] for i in range(0, len(data), size)]
    return ways


def state_of(tr: ResponsesStreamTranslator) -> dict[str, Any]:
    return {
        "error": list(tr.error) if tr.error else None,
        "usage": tr.usage,
        "started": tr.started,
        "finished": tr.finished,
    }


def test_golden_cases_exist() -> None:
    assert len(CASES) >= 12
    for name in CASES:
        assert (GOLDEN / f"{name}.jsonl").exists() or os.environ.get("UPDATE_GOLDEN"), name


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    data = (GOLDEN / f"{name}.sse").read_bytes()
    outputs = {how: translate(pieces) for how, pieces in chunkings(data).items()}
    whole, whole_tr = outputs["whole"]
    for how, (out, tr) in outputs.items():
        assert out == whole, f"{name}: chunking {how!r} changed the output"
        assert state_of(tr) == state_of(whole_tr), how
    got = [{"event": e, "data": d} for e, d in parse_events(whole)] + [{"state": state_of(whole_tr)}]
    path = GOLDEN / f"{name}.jsonl"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in got))
    expected = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    assert got == expected
    if whole_tr.error is None or whole_tr.started:
        check_sse(whole, complete=True)


def test_failure_before_output_returns_nothing_and_allows_failover() -> None:
    ev, _ = build([("text", "x")])
    tr = ResponsesStreamTranslator(model=MODEL)
    assert tr.feed(sse([*ev[:2], failed("rate_limit_exceeded", "slow down")])) == b""
    assert tr.error == ("rate_limit_error", "slow down")
    assert not tr.started and tr.finished and tr.close() == b""


def test_context_length_failure_says_prompt_is_too_long() -> None:
    tr = ResponsesStreamTranslator(model=MODEL)
    tr.feed(sse([failed("context_length_exceeded", "Input exceeds the context window")]))
    assert tr.error is not None
    assert tr.error[0] == "invalid_request_error" and tr.error[1].startswith("prompt is too long")


def test_error_after_output_is_an_error_event_with_the_open_block_closed() -> None:
    ev, _ = build([("text", "abc")], cut=list)
    out, tr = translate([sse([*ev[:5], error_event("server_error", "boom")])])
    events = parse_events(out)
    assert [e for e, _ in events][-2:] == ["content_block_stop", "error"]
    assert tr.error == ("api_error", "boom")
    check_sse(out)


def test_usage_maps_cached_and_written_tokens() -> None:
    ev, _ = build([("text", "hi")], use=usage(100, 7, cached=60, written=15))
    out, tr = translate([sse(ev)])
    assert tr.usage == {
        "input_tokens": 25,
        "cache_creation_input_tokens": 15,
        "cache_read_input_tokens": 60,
        "output_tokens": 7,
    }
    assert fold_anthropic_events(out)["usage"]["cache_read_input_tokens"] == 60


def test_thinking_blocks_carry_no_fake_signature() -> None:
    ev, _ = build([("reasoning", ["a", "b"]), ("text", "c")])
    msg = fold_anthropic_events(translate([sse(ev)])[0])
    assert msg["content"][0] == {"type": "thinking", "thinking": "a\n\nb", "signature": ""}
    assert "signature_delta" not in translate([sse(ev)])[0].decode()


def test_shortened_tool_names_are_mapped_back() -> None:
    long = "mcp__server__" + "x" * 70
    from claude_code_mux.translate.quirks import shorten_tool_name

    ev, _ = build([("call", "call_1", shorten_tool_name(long), "{}")])
    out, _ = translate([sse(ev)], tool_names={shorten_tool_name(long): long})
    assert fold_anthropic_events(out)["content"][0]["name"] == long


def test_garbage_after_completion_is_ignored_and_malformed_json_fails() -> None:
    ev, _ = build([("text", "ok")], use=usage())
    out, tr = translate([sse(ev) + b"data: {broken\n\n"])
    assert tr.error is None and fold_anthropic_events(out)["content"] == [{"type": "text", "text": "ok"}]
    out, tr = translate([sse(ev[:4]) + b"data: {broken\n\n"])
    assert tr.error is not None and tr.error[0] == "api_error"


@pytest.mark.parametrize("name", CASES)
def test_anthropic_sdk_accumulates_every_golden_stream(name: str) -> None:
    import anthropic

    from tests.translate.test_sdk import sdk_final_message

    out, tr = translate([(GOLDEN / f"{name}.sse").read_bytes()])
    if tr.error is not None and not tr.started:
        assert out == b""
        return
    if tr.error is not None:
        with pytest.raises(anthropic.APIStatusError):
            sdk_final_message(out)
        return
    msg = sdk_final_message(out)
    keys = {"id", "content", "stop_reason", "usage", "model"}
    folded = fold_anthropic_events(out)
    assert msg.model_dump(exclude_none=True, include=keys) == {
        k: v for k, v in folded.items() if k in keys and v is not None
    }
