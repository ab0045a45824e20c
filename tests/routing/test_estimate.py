"""Token estimate: covers every part of a request, stays cheap, and is honest about its error."""

from __future__ import annotations

import base64
import os
import struct
import timeit
import zlib
from typing import Any

import orjson
import pytest

from claude_code_mux.routing.estimate import (
    IMAGE_MAX_TOKENS,
    MESSAGE_OVERHEAD,
    TOOL_PROMPT_TOKENS,
    count_tokens_response,
    estimate_tokens,
    image_size,
    image_tokens,
)
from claude_code_mux.routing.rules import decide
from tests.routing.conftest import (
    ALL_TARGETS,
    MAIN_TURN1,
    MAIN_TURN2,
    TITLE,
    fixture,
    fixture_headers,
    make_cfg,
)


def _png(w: int, h: int) -> str:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return base64.b64encode(data + b"\x00" * 4000).decode()


def _gif(w: int, h: int) -> str:
    return base64.b64encode(b"GIF89a" + struct.pack("<HH", w, h) + b"\x00" * 100).decode()


def _jpeg(w: int, h: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return base64.b64encode(b"\xff\xd8" + app0 + sof + b"\x00" * 500).decode()


def _webp_vp8x(w: int, h: int) -> str:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little")
    body += (h - 1).to_bytes(3, "little")
    return base64.b64encode(b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body).decode()


def _image(data: str, media: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (_png(1000, 800), (1000, 800)),
        (_gif(320, 200), (320, 200)),
        (_jpeg(640, 480), (640, 480)),
        (_webp_vp8x(1920, 1080), (1920, 1080)),
        (base64.b64encode(b"not an image at all").decode(), None),
        ("!!!not base64!!!", None),
    ],
)
def test_image_size_from_headers(data: str, size: tuple[int, int] | None) -> None:
    assert image_size(data) == size


@pytest.mark.parametrize(
    ("block", "tokens"),
    [
        (_image(_png(200, 200)), 54),  # ceil(40000 / 750)
        (_image(_png(1000, 1000)), 1334),
        (_image(_png(4000, 3000)), IMAGE_MAX_TOKENS),  # downscaled by the API first
        (_image(_png(10000, 100)), 33),  # long edge capped at 1568: 1568 x 15.68 px
        (
            {"type": "image", "source": {"type": "url", "url": "https://example.invalid/a.png"}},
            IMAGE_MAX_TOKENS,
        ),
        (_image("AAAA"), IMAGE_MAX_TOKENS),
    ],
)
def test_image_tokens(block: dict[str, Any], tokens: int) -> None:
    assert image_tokens(block) == tokens


def test_image_data_is_not_counted_as_text() -> None:
    small = {"model": "m", "messages": [{"role": "user", "content": [_image(_png(100, 100))]}]}
    big_data = _png(100, 100) + "A" * 1_000_000
    big = {"model": "m", "messages": [{"role": "user", "content": [_image(big_data)]}]}
    assert estimate_tokens(small) == estimate_tokens(big) == MESSAGE_OVERHEAD + 14


def _grows(body: dict[str, Any], mutate: Any) -> bool:
    before = estimate_tokens(body)
    mutate(body)
    return estimate_tokens(body) > before


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["system"].append({"type": "text", "text": "s" * 700}),
        lambda b: b["messages"][1].update(content=b["messages"][1]["content"] + "x" * 700),  # role:"system"
        lambda b: b["messages"][2]["content"][0].update(thinking="t" * 700),
        lambda b: b["messages"][2]["content"][2]["input"].update(command="echo " + "y" * 700),
        lambda b: b["messages"][3]["content"][0].update(content="out" * 300),
        lambda b: b["messages"][3]["content"][0].update(content=[{"type": "text", "text": "z" * 700}]),
        lambda b: b["messages"][3]["content"].append(_image(_png(500, 500))),
        lambda b: b["tools"].append({"name": "T", "description": "d" * 700, "input_schema": {"type": "object"}}),
        lambda b: b["messages"].append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "QUJD" * 100},
                    }
                ],
            }
        ),
        lambda b: b["messages"].append({"role": "user", "content": [{"type": "search_result", "x": "w" * 700}]}),
    ],
)
def test_every_part_of_the_request_counts(mutate: Any) -> None:
    assert _grows(fixture(MAIN_TURN2), mutate)


def test_fixed_costs() -> None:
    assert estimate_tokens({"messages": []}) == 0
    assert estimate_tokens({"messages": [{"role": "user", "content": ""}]}) == MESSAGE_OVERHEAD
    tools_only = {"messages": [], "tools": [{"name": "a" * 7, "description": "b" * 7}]}
    assert estimate_tokens(tools_only) == TOOL_PROMPT_TOKENS + 4  # 14 characters / 3.5
    server_tool = {"messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
    assert estimate_tokens(server_tool) == TOOL_PROMPT_TOKENS + 15  # its 50 characters of compact JSON / 3.5
    assert estimate_tokens({"messages": "odd", "system": 5, "tools": "x"}) == 0  # odd shapes never raise


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        # Legacy Claude tokenizer over the same text: 18 768 / 18 805 / 434 tokens (see the module docstring).
        (MAIN_TURN1, 18_000, 24_000),
        (MAIN_TURN2, 18_000, 24_000),
        (TITLE, 380, 600),
    ],
)
def test_fixture_estimates_are_in_the_measured_band(name: str, low: int, high: int) -> None:
    n = estimate_tokens(fixture(name))
    print(f"{name}: estimate {n} tokens")
    assert low <= n <= high


def test_count_tokens_response_shape() -> None:
    body = fixture(MAIN_TURN1)
    assert count_tokens_response(body) == {"input_tokens": estimate_tokens(body)}


@pytest.mark.skipif(
    not os.environ.get("CCM_CLAUDE_TOKENIZER_JSON"),
    reason="set CCM_CLAUDE_TOKENIZER_JSON to the legacy Claude tokenizer.json (anthropic==0.38.0 wheel)",
)
def test_estimate_against_the_legacy_claude_tokenizer() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tk = tokenizers.Tokenizer.from_file(os.environ["CCM_CLAUDE_TOKENIZER_JSON"])
    for name in (MAIN_TURN1, MAIN_TURN2, TITLE):
        body = fixture(name)
        texts = [b["text"] for b in body["system"]]
        texts += [orjson.dumps(body["tools"]).decode()] if body["tools"] else []
        for m in body["messages"]:
            for b in [m["content"]] if isinstance(m["content"], str) else m["content"]:
                if isinstance(b, str):
                    texts.append(b)
                elif b["type"] in ("text", "thinking"):
                    texts.append(b.get("text") or b.get("thinking"))
                elif b["type"] == "tool_use":
                    texts.append(b["name"] + orjson.dumps(b["input"]).decode())
                elif b["type"] == "tool_result":
                    texts.append(b["content"] if isinstance(b["content"], str) else orjson.dumps(b["content"]).decode())
        fmt = body.get("output_config", {}).get("format")
        texts += [orjson.dumps(fmt).decode()] if fmt else []
        legacy = sum(len(tk.encode(t).ids) for t in texts)
        legacy += MESSAGE_OVERHEAD * len(body["messages"]) + (TOOL_PROMPT_TOKENS if body["tools"] else 0)
        err = estimate_tokens(body) / legacy - 1
        print(f"{name}: estimate {estimate_tokens(body)} legacy {legacy} error {err:+.1%}")
        assert -0.10 <= err <= 0.30


def test_benchmark_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """Routing cost per request on the recorded bodies (printed, not asserted: machines differ)."""
    cfg = make_cfg(ALL_TARGETS)
    cfg_rules = make_cfg(
        ALL_TARGETS,
        "[[router.rules]]\npattern = '^/fast\\\\b'\nmodel = \"fast\"\nstrip_match = true\n",
    )
    lines = []
    for name in (MAIN_TURN1, MAIN_TURN2, TITLE):
        body = fixture(name)
        headers = fixture_headers(name)
        size = len(orjson.dumps(body))
        n = 2000
        est = min(timeit.repeat(lambda b=body: estimate_tokens(b), number=n, repeat=5)) / n * 1e6
        dec = min(timeit.repeat(lambda b=body, h=headers: decide(b, h, cfg), number=n, repeat=5)) / n * 1e6
        dec_r = min(timeit.repeat(lambda b=body, h=headers: decide(b, h, cfg_rules), number=n, repeat=5)) / n
        parse = min(timeit.repeat(lambda b=body: orjson.loads(orjson.dumps(b)), number=200, repeat=3)) / 200
        lines.append(
            f"{name} ({size / 1024:.0f} KB): estimate_tokens {est:.1f} us,"
            f" decide (all targets, incl. estimate) {dec:.1f} us, + a prompt rule {dec_r * 1e6:.1f} us;"
            f" for scale orjson dumps+loads {parse * 1e6:.1f} us"
        )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
