"""A cheap, honest estimate of a request's input tokens (long-context routing, local ``count_tokens``).

Method
------
One walk over the body sums the *characters the model reads* and divides by a fixed ratio
(:data:`CHARS_PER_TOKEN` = 3.5), plus small fixed costs:

- ``system`` (string or text blocks) and every message, including ``role:"system"`` messages: text,
  ``thinking`` text, ``tool_use`` name + compact JSON of ``input``, ``tool_result`` content (string or
  blocks, recursively), ``document`` text sources; unknown block types count as their compact JSON.
- ``tools``: name + description + compact JSON of ``input_schema`` per custom tool (server tools, which
  have a ``type``, as their compact JSON), plus :data:`TOOL_PROMPT_TOKENS` (346, the tool-use system prompt
  Anthropic documents for ``tool_choice`` auto/none), once when any tool is present.
- images: ``width*height/750`` tokens (Anthropic's published formula) after the same downscale the API
  applies (long edge <= 1568 px, <= ~1.15 MP, i.e. at most :data:`IMAGE_MAX_TOKENS`); width and height
  come from the PNG/GIF/JPEG/WebP header inside the base64 data (only a short prefix is decoded).
  URL or undecodable images cost :data:`IMAGE_MAX_TOKENS`.
- base64 PDFs: a rough :data:`PDF_PAGE_TOKENS` per estimated page (one page per 50 KB).
- :data:`MESSAGE_OVERHEAD` tokens per message for role markers.

The body is never serialised whole; only tool schemas and ``tool_use`` inputs go through orjson (C
speed). Base64 image and document data is never counted as text.

Cost, measured by ``tests/routing/test_estimate.py::test_benchmark_printed`` on the 2-core dev box
(Python 3.11): about 30 µs for the 75 KB Claude Code main request (two thirds of it is orjson on the 24
tool schemas), 3 µs for the 2 KB title request. For scale, ``orjson`` loads+dumps of the same 75 KB body
takes about 210 µs.

Error
-----
Anthropic's Claude 3+/4 tokenizers are not public. The reference here is the legacy Claude tokenizer that
the ``anthropic==0.38.0`` wheel shipped (``anthropic/tokenizer.json``, run with the ``tokenizers``
package) over the same text the estimate counts, plus the same fixed costs. Reproduce with
``CCM_CLAUDE_TOKENIZER_JSON=/path/to/tokenizer.json pytest tests/routing/test_estimate.py -k legacy -s``
(needs ``pip install tokenizers``).

=====================================  =================  =============================
text                                   legacy chars/token  estimate vs legacy tokenizer
=====================================  =================  =============================
Claude Code main request, turn 1 / 2   4.07                +13.5 % (21 294 vs 18 768)
Claude Code background title request   3.84                +9.2 % (474 vs 434)
Python source with line numbers        3.63                +3.7 %
Markdown with tables and code          3.34                -4.6 %
=====================================  =================  =============================

The ratio 3.5 deliberately errs high on prose: Anthropic states that newer tokenizers need more tokens
for the same text (up to ~1.35x for Opus 4.7 and later), and a high estimate makes long-context routing
and Claude Code's auto-compaction trigger early rather than late. If a current tokenizer needs 1.0-1.35x
the legacy count, the estimate is within about -16 %..+14 % of it on Claude Code bodies; that range is
inferred, not measured (no current tokenizer is available offline). Forward ``count_tokens`` to an
Anthropic upstream whenever one is configured.
"""

from __future__ import annotations

import binascii
import math
import struct
from typing import Any

import orjson

CHARS_PER_TOKEN = 3.5
TOOL_PROMPT_TOKENS = 346
MESSAGE_OVERHEAD = 4
IMAGE_MAX_TOKENS = 1600
PDF_PAGE_TOKENS = 2000
_PDF_BYTES_PER_PAGE = 50_000
_IMAGE_LONG_EDGE = 1568
_IMAGE_MAX_PIXELS = IMAGE_MAX_TOKENS * 750


def _content(content: Any) -> tuple[int, int]:
    """(characters, fixed tokens) of a ``system`` or message ``content``: a string or a list of blocks."""
    if isinstance(content, str):
        return len(content), 0
    if isinstance(content, list):
        return _blocks(content)
    return 0, 0


def estimate_tokens(body: dict[str, Any]) -> int:
    """Estimated input tokens of a Messages API request body (never raises on odd shapes)."""
    chars, fixed = _content(body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in messages:
            if not isinstance(msg, dict):
                continue
            c, f = _content(msg.get("content"))
            chars += c
            fixed += f + MESSAGE_OVERHEAD
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chars += tools_len(tools)
        fixed += TOOL_PROMPT_TOKENS
    output_config = body.get("output_config")
    if isinstance(output_config, dict) and isinstance(output_config.get("format"), dict):
        chars += _json_len(output_config["format"])
    return fixed + math.ceil(chars / CHARS_PER_TOKEN)


def count_tokens_response(body: dict[str, Any]) -> dict[str, int]:
    """The local ``/v1/messages/count_tokens`` answer, shaped like Anthropic's."""
    return {"input_tokens": estimate_tokens(body)}


def tools_len(tools: list[Any]) -> int:
    """Name + description + compact JSON schema per custom tool; server tools (``type``) as compact JSON."""
    chars = 0
    for t in tools:
        if not isinstance(t, dict) or ("type" in t and t.get("type") != "custom"):
            chars += _json_len(t)
            continue
        name = t.get("name")
        desc = t.get("description")
        chars += len(name) if isinstance(name, str) else 0
        chars += len(desc) if isinstance(desc, str) else 0
        schema = t.get("input_schema")
        chars += _json_len(schema) if schema is not None else 0
    return chars


def _json_len(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError:
        return len(str(value))


def _blocks(blocks: list[Any]) -> tuple[int, int]:
    """(characters, fixed tokens) of a content block list."""
    chars = 0
    fixed = 0
    for b in blocks:
        if isinstance(b, str):
            chars += len(b)
            continue
        if not isinstance(b, dict):
            continue
        kind = b.get("type")
        if kind == "text":
            text = b.get("text")
            chars += len(text) if isinstance(text, str) else 0
        elif kind == "thinking":
            text = b.get("thinking")
            chars += len(text) if isinstance(text, str) else 0
        elif kind == "redacted_thinking":
            data = b.get("data")
            chars += len(data) if isinstance(data, str) else 0
        elif kind == "tool_use" or kind == "server_tool_use":
            name = b.get("name")
            chars += (len(name) if isinstance(name, str) else 0) + _json_len(b.get("input"))
        elif kind == "tool_result":
            c, f = _content(b.get("content"))
            chars += c
            fixed += f
        elif kind == "image":
            fixed += image_tokens(b)
        elif kind == "document":
            c, f = _document(b)
            chars += c
            fixed += f
        else:
            chars += _json_len(b)
    return chars, fixed


def _document(block: dict[str, Any]) -> tuple[int, int]:
    source = block.get("source")
    if not isinstance(source, dict):
        return 0, PDF_PAGE_TOKENS
    kind = source.get("type")
    if kind == "text":
        data = source.get("data")
        return (len(data) if isinstance(data, str) else 0), 0
    if kind == "content":
        return _content(source.get("content"))
    if kind == "base64":
        data = source.get("data")
        size = len(data) * 3 // 4 if isinstance(data, str) else 0
        return 0, PDF_PAGE_TOKENS * max(1, math.ceil(size / _PDF_BYTES_PER_PAGE))
    return 0, PDF_PAGE_TOKENS


def image_tokens(block: dict[str, Any]) -> int:
    """Tokens of one image block: Anthropic's ``w*h/750`` after its downscale; the maximum when unknown."""
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        return IMAGE_MAX_TOKENS
    data = source.get("data")
    if not isinstance(data, str):
        return IMAGE_MAX_TOKENS
    size = image_size(data)
    if size is None:
        return IMAGE_MAX_TOKENS
    w, h = size
    scale = min(1.0, _IMAGE_LONG_EDGE / max(w, h), math.sqrt(_IMAGE_MAX_PIXELS / (w * h)))
    return max(1, min(IMAGE_MAX_TOKENS, math.ceil((w * scale) * (h * scale) / 750)))


def image_size(b64: str) -> tuple[int, int] | None:
    """(width, height) from the header of base64 PNG, GIF, WebP or JPEG data; None when unknown."""
    head = _b64_prefix(b64, 64)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return _valid(w, h)
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        w, h = struct.unpack("<HH", head[6:10])
        return _valid(w, h)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        chunk = head[12:16]
        if chunk == b"VP8X":
            w = int.from_bytes(head[24:27], "little") + 1
            h = int.from_bytes(head[27:30], "little") + 1
            return _valid(w, h)
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", head[26:30])
            return _valid(w & 0x3FFF, h & 0x3FFF)
        if chunk == b"VP8L":
            bits = int.from_bytes(head[21:25], "little")
            return _valid((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        return None
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(_b64_prefix(b64, 65536))
    return None


def _b64_prefix(b64: str, nbytes: int) -> bytes:
    n = min(len(b64), (nbytes + 2) // 3 * 4) // 4 * 4
    try:
        return binascii.a2b_base64(b64[:n])
    except (binascii.Error, ValueError):
        return b""


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    end = len(data)
    while i + 9 < end:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return _valid(w, h)
        i += 2 + seg_len
    return None


def _valid(w: int, h: int) -> tuple[int, int] | None:
    return (w, h) if w > 0 and h > 0 else None
