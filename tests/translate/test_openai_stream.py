"""OpenAIStreamTranslator: golden transcripts (tests/golden/openai_stream) and targeted cases.

Each ``NAME.sse`` is raw upstream bytes; ``NAME.jsonl`` holds the expected Anthropic events, one
``{"event", "data"}`` per line, then a ``{"state": ...}`` line (error, usage, started, finished).
Every transcript is fed whole, byte by byte, line by line and in fixed-size pieces: the output must
be the same each time.  Regenerate after an intended change with ``UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from claude_code_mux.translate.anthropic_fold import fold_anthropic_events
from claude_code_mux.translate.openai_stream import OpenAIStreamTranslator
from tests.translate.grammar import check_sse, parse_events
from tests.translate.openai_chunks import chunk, frame, stream, tool_args, tool_head, usage_chunk

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "openai_stream"
CASES = sorted(p.stem for p in GOLDEN.glob("*.sse"))
MODEL = "claude-sonnet-test"
MSG_ID = "msg_golden"


def translate(pieces: list[bytes], *, message_id: str | None = MSG_ID) -> tuple[bytes, OpenAIStreamTranslator]:
    tr = OpenAIStreamTranslator(model=MODEL, message_id=message_id)
    out = b"".join(tr.feed(p) for p in pieces) + tr.close()
    return out, tr


def chunkings(data: bytes) -> dict[str, list[bytes]]:
    ways = {
        "whole": [data],
        "bytes": [data[i : i + 1] for i in range(len(data))],
        "lines": data.splitlines(keepends=True),
    }
    for size in (2, 7, 64):
        ways[f"size{size}"] = [data[i : i + size] for i in range(0, len(data), size)]
    return ways


def state_of(tr: OpenAIStreamTranslator) -> dict[str, Any]:
    return {
        "error": list(tr.error) if tr.error else None,
        "usage": tr.usage,
        "started": tr.started,
        "finished": tr.finished,
    }


def transcript(out: bytes, tr: OpenAIStreamTranslator) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [{"event": e, "data": d} for e, d in parse_events(out)]
    return [*lines, {"state": state_of(tr)}]


def test_golden_cases_exist() -> None:
    assert len(CASES) >= 11
    for name in CASES:
        assert (GOLDEN / f"{name}.jsonl").exists() or os.environ.get("UPDATE_GOLDEN"), name


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    data = (GOLDEN / f"{name}.sse").read_bytes()
    outputs = {}
    for how, pieces in chunkings(data).items():
        out, tr = translate(pieces)
        outputs[how] = (out, state_of(tr))
    whole, _ = outputs["whole"]
    for how, (out, state) in outputs.items():
        assert out == whole, f"{name}: chunking {how!r} changed the output"
        assert state == outputs["whole"][1], how
    out, tr = translate([data])
    got = transcript(out, tr)
    expected_path = GOLDEN / f"{name}.jsonl"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in got))
    expected = [orjson.loads(line) for line in expected_path.read_bytes().splitlines() if line.strip()]
    assert got == expected
    if tr.error is None or tr.started:
        check_sse(out, complete=True)


def test_multibyte_split_inside_a_character() -> None:
    data = stream(chunk({"content": "a😀b"}), chunk({}, "stop"))
    cut = data.index("😀".encode()) + 2  # in the middle of the 4-byte sequence
    out, _ = translate([data[:cut], data[cut:]])
    assert fold_anthropic_events(out)["content"] == [{"type": "text", "text": "a😀b"}]


def test_error_before_output_returns_nothing_and_allows_failover() -> None:
    tr = OpenAIStreamTranslator(model=MODEL)
    assert tr.feed(frame({"error": {"message": "busy", "code": 429}})) == b""
    assert tr.error == ("rate_limit_error", "busy")
    assert not tr.started and tr.finished
    assert tr.close() == b""


def test_error_after_content_in_the_same_read_is_an_error_event() -> None:
    # "before output" is decided on the event sequence, so chunking can never change the answer
    tr = OpenAIStreamTranslator(model=MODEL)
    data = stream(chunk({"content": "x"}), {"error": {"message": "boom", "type": "server_error"}}, done=False)
    events = parse_events(tr.feed(data))
    assert [e for e, _ in events][-2:] == ["content_block_delta", "error"]
    assert tr.error == ("api_error", "boom") and tr.started


def test_error_after_output_becomes_an_error_event() -> None:
    tr = OpenAIStreamTranslator(model=MODEL, message_id="msg_1")
    first = tr.feed(frame(chunk({"content": "hi"})))
    assert first and tr.started
    tail = tr.feed(frame({"error": {"message": "overloaded", "type": "server_error", "code": 529}}))
    events = parse_events(first + tail)
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "overloaded"}},
    )
    assert tr.finished and tr.error == ("overloaded_error", "overloaded")
    assert tr.feed(frame(chunk({"content": "more"}))) == b"" and tr.close() == b""


def test_role_chunk_alone_does_not_start_the_message() -> None:
    tr = OpenAIStreamTranslator(model=MODEL)
    assert tr.feed(frame(chunk({"role": "assistant", "content": ""}))) == b""
    assert not tr.started


def test_stream_closed_without_any_data_is_an_error() -> None:
    tr = OpenAIStreamTranslator(model=MODEL)
    assert tr.feed(b": just a comment\n\n") == b""
    assert tr.close() == b""
    assert tr.error is not None and tr.error[0] == "api_error" and not tr.started


def test_malformed_data_line_is_an_error() -> None:
    tr = OpenAIStreamTranslator(model=MODEL)
    out = tr.feed(frame(chunk({"content": "ok"})))
    out += tr.feed(b"data: {not json\n\n")
    assert parse_events(out)[-1][0] == "error"


def test_finish_closes_blocks_and_the_usage_chunk_after_it_reaches_message_delta() -> None:
    tr = OpenAIStreamTranslator(model=MODEL, message_id="msg_1")
    out = tr.feed(frame(chunk({"content": "x"})) + frame(chunk({}, "stop")))
    assert b"content_block_stop" in out and b"message_delta" not in out  # blocks close at once
    out += tr.feed(frame(usage_chunk(10, 2, cached=4)))
    assert not tr.finished and b"message_delta" not in out
    out += tr.feed(b"data: [DONE]\n\n")
    assert tr.finished
    assert tr.usage == {
        "input_tokens": 6,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 4,
        "output_tokens": 2,
    }
    events = check_sse(out)
    assert events[-2][1]["usage"]["cache_read_input_tokens"] == 4


def test_done_without_finish_or_usage() -> None:
    out, tr = translate([frame(chunk({"content": "x"})), b"data: [DONE]\n\n"])
    msg = fold_anthropic_events(check_sse(out) and out)
    assert msg["stop_reason"] == "end_turn" and msg["usage"]["output_tokens"] == 0 and tr.usage == {}


def test_message_id_defaults_to_the_upstream_id() -> None:
    out, _ = translate([stream(chunk({"content": "x"}), chunk({}, "stop"))], message_id=None)
    assert fold_anthropic_events(out)["id"] == "msg_chatcmpl-test"


def test_tool_names_are_mapped_back() -> None:
    long_name = "mcp__server__" + "x" * 70
    short = "mcp__short_hash"
    tr = OpenAIStreamTranslator(model=MODEL, tool_names={short: long_name})
    out = tr.feed(stream(chunk(tool_head(0, "c1", short, "{}")), chunk({}, "tool_calls"))) + tr.close()
    assert fold_anthropic_events(out)["content"][0]["name"] == long_name


def test_tool_without_arguments_gets_an_empty_object() -> None:
    out, _ = translate([stream(chunk(tool_head(0, "c1", "TaskList")), chunk({}, "tool_calls"))])
    msg = fold_anthropic_events(check_sse(out) and out)
    assert msg["content"] == [{"type": "tool_use", "id": "c1", "name": "TaskList", "input": {}}]


def test_tool_name_arriving_after_arguments() -> None:
    data = stream(
        chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "Late", "arguments": "1}"}}]}),
        chunk({}, "tool_calls"),
    )
    out, _ = translate([data])
    assert fold_anthropic_events(check_sse(out) and out)["content"][0] == {
        "type": "tool_use",
        "id": "c1",
        "name": "Late",
        "input": {"a": 1},
    }


def test_text_after_interleaved_tool_calls_keeps_arrival_order() -> None:
    data = stream(
        chunk(tool_head(0, "a", "A", '{"x":')),
        chunk(tool_head(1, "b", "B", '{"y":2}')),
        chunk(tool_args(0, "1}")),
        chunk({"content": "done"}),
        chunk({}, "tool_calls"),
    )
    out, _ = translate([data])
    content = fold_anthropic_events(check_sse(out) and out)["content"]
    assert [b.get("id", b["type"]) for b in content] == ["a", "b", "text"]
    assert content[0]["input"] == {"x": 1} and content[1]["input"] == {"y": 2}


def test_generated_tool_ids_are_unique_and_stable() -> None:
    data = stream(
        chunk({"tool_calls": [{"function": {"name": "A", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 5, "function": {"name": "B", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    )
    out1, _ = translate([data], message_id="msg_abc")
    out2, _ = translate([data[:10], data[10:]], message_id="msg_abc")
    ids = [b["id"] for b in fold_anthropic_events(out1)["content"]]
    assert len(set(ids)) == 2 and out1 == out2
