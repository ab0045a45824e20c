"""A faithful in-process mock of the Anthropic Messages API, built on aiohttp.web.

Use it from async tests::

    async with MockAnthropic(name="up1") as mock:
        client = AsyncAnthropic(api_key="k", base_url=mock.url, max_retries=0)
        ...
        assert mock.messages_requests()[0].json["model"] == "claude-x"

or standalone (the real Claude Code CLI works against it)::

    python -m tests.mocks.anthropic --port 0 --fault 429:2 --retry-after 1
    # prints "LISTENING <port>" once bound

Endpoints (any path prefix is accepted, e.g. ``/anthropic/v1/messages``; the query is ignored):

  POST /v1/messages               stream (SSE) and non-stream
  POST /v1/messages/count_tokens  {"input_tokens": N}, N = body chars / 4
  GET  /v1/models[/ID]            Anthropic list / model shapes
  HEAD <any>                      200, no body (Claude Code's preconnect)
  GET  /_mock/log                 JSON array of the recorded requests
  GET|POST /_mock/faults          pending faults / replace them: {"faults": [...], "append": false}
  POST /_mock/clear               drop records and faults
  GET|POST /_mock/quota[/reset]   per-account subscription quotas (see tests/mocks/quota.py)
  GET  /api/oauth/usage           an account's windows (percent, resets_at), for a quota-tracked bearer
  GET  /_mock/health              {"ok": true}
  anything else                   404 in the Anthropic error envelope

Replies are scripted from the request alone, like ``cc_mock.py`` (see :func:`plan_reply`):
tool_result in the last user turn -> ``TOOL_RESULT: <output>``; a backticked `` `echo ...` `` with a
Bash tool offered -> Bash tool_use; "read the file PATH" with Read offered -> Read tool_use;
"Reply with exactly: X" -> X; ``output_config.format`` json_schema -> schema-valid JSON; a forced
``tool_choice`` -> tool_use with a sample input; otherwise the default text.

Every request is recorded (raw body bytes, headers in wire order) before any fault is applied.
Every response carries ``request-id`` and ``x-mock-name`` headers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import json
import re
import secrets
import socket
import ssl
import string
import struct
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from aiohttp import web

from tests.mocks.quota import Quotas, family_of
from tests.mocks.serve import serve_until_stopped

__all__ = [
    "DEFAULT_MODELS",
    "ERROR_TYPES",
    "FAULT_KINDS",
    "Fault",
    "MockAnthropic",
    "RecordedRequest",
    "main",
    "parse_fault_spec",
    "plan_reply",
]

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES: dict[int, str] = {
    400: "Invalid request (mock)",
    401: "invalid x-api-key",
    402: "Your credit balance is too low to access the Anthropic API (mock)",
    403: "Your API key does not have permission to use the specified resource (mock)",
    404: "Not Found",
    413: "Request exceeds the maximum allowed number of bytes (mock)",
    429: "Number of request tokens has exceeded your per-minute rate limit (mock)",
    500: "Internal server error",
    502: "Bad gateway (mock)",
    503: "Service unavailable (mock)",
    504: "Request timed out (mock)",
    529: "Overloaded",
}
FAULT_KINDS = frozenset(
    {"status", "reset", "stall", "drop", "stall_mid", "error_event", "error_mid", "malformed", "truncate"}
)
# cc_mock.py spellings accepted by parse_fault_spec / POST /_mock/faults
_BODY_FAULTS = frozenset({"drop", "malformed", "truncate", "stall_mid", "error_event", "error_mid"})
_FAULT_ALIASES = {"sse_error": "error_mid", "hang": "stall_mid", "error": "error_event"}

DEFAULT_MODELS: tuple[tuple[str, str, str], ...] = (
    ("claude-opus-4-8", "Claude Opus 4.8", "2026-06-01T00:00:00Z"),
    ("claude-sonnet-5", "Claude Sonnet 5", "2026-03-01T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
)

MAX_BODY_BYTES = 32 * 1024 * 1024  # the real API's limit for /v1/messages and count_tokens
THINKING_TEXT = "Let me think about this request step by step."
THINKING_SIGNATURE = base64.b64encode(b"mock-thinking-signature:" + b"\x00" * 8).decode()
MALFORMED_LINE = b"event: content_block_delta\ndata: {not json at all\n\n"
_B62 = string.ascii_letters + string.digits
_POLL_S = 0.02
_REQUEST_ID = web.RequestKey("mock_request_id", str)
_QUOTA = web.RequestKey("mock_quota_headers", dict)


@dataclass
class RecordedRequest:
    """One request as the mock received it."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]  # wire order and case
    body: bytes  # exactly as received (transfer decoding removed, no content decoding)
    json: Any | None  # parsed body, or None
    disconnected: bool = False  # the client closed the connection before the response ended
    fault: Fault | None = None  # the fault applied to this request, if any
    status: int | None = None  # response status sent (None: no response, e.g. reset/drop)
    request_id: str = ""
    time: float = 0.0

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [list(h) for h in self.headers],
            "body": self.body.decode("utf-8", "replace"),
            "body_bytes": len(self.body),
            "json": self.json,
            "disconnected": self.disconnected,
            "fault": asdict(self.fault) if self.fault else None,
            "status": self.status,
            "request_id": self.request_id,
            "time": self.time,
        }


@dataclass
class Fault:
    """A failure to inject into the next ``times`` requests whose path ends with ``path``.

    kinds: "status" (HTTP error ``status``), "reset" (RST before headers), "stall" (no headers for
    ``seconds``, then the normal answer), "drop" (stream message_start and a delta, then close the
    connection without ending the body), "stall_mid" (send some events, wait ``seconds``, then
    finish normally), "error_event" (200 SSE whose first event is ``event: error``), "error_mid"
    (error event after message_start and a delta), "malformed" (a ``data:`` line that is not JSON,
    then end), "truncate" (clean end of the body in the middle of a block: no content_block_stop,
    message_delta or message_stop).  Mid-stream faults strike after the first non-empty
    content_block_delta (message_start, content_block_start, ping, one delta), or after
    ``after_events`` events when that is set.

    On non-streaming responses: drop closes the connection without a response, malformed sends
    half the JSON body with a matching Content-Length, truncate announces the full Content-Length
    and closes after half of it, stall_mid waits between the two halves, and error_event/error_mid
    become an HTTP ``status`` error.  ``times < 0`` means forever; ``path="*"`` matches every path.
    """

    kind: str
    status: int = 529
    retry_after: float | None = None
    x_should_retry: str | None = None
    seconds: float = 30.0
    error_type: str | None = None
    message: str | None = None
    times: int = 1
    path: str = "/v1/messages"
    after_events: int | None = None  # where mid-stream faults strike (events sent before the fault)
    stream: bool | None = None  # match only streaming (True) or only non-streaming (False) requests

    def __post_init__(self) -> None:
        self.kind = _FAULT_ALIASES.get(self.kind, self.kind)
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")

    def matches(self, path: str, stream: bool = False) -> bool:
        if self.stream is not None and self.stream != stream:
            return False
        return self.path in ("*", "") or path == self.path or path.endswith(self.path)


@dataclass
class _Armed:
    fault: Fault
    remaining: int


class _ClientGone(Exception):
    """The client went away while we were answering."""


# ---------------------------------------------------------------------------------------------
# helpers


def _dumps(obj: Any) -> str:
    """Compact JSON, as the real API sends it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_B62) for _ in range(24))


def _fmt_seconds(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def error_body(error_type: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    """The Anthropic error envelope."""
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def _error_type_for(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def _decode_body(raw: bytes, encoding: str) -> bytes:
    enc = encoding.strip().lower()
    with contextlib.suppress(Exception):
        if enc in ("gzip", "x-gzip"):
            return gzip.decompress(raw)
        if enc == "deflate":
            try:
                return zlib.decompress(raw)
            except zlib.error:
                return zlib.decompress(raw, -zlib.MAX_WBITS)
    return raw


def _split(s: str, n: int) -> list[str]:
    """Split ``s`` into at most ``n`` nearly equal non-empty pieces ([""] for an empty string)."""
    if not s:
        return [""]
    size = max(1, -(-len(s) // max(1, n)))
    return [s[i : i + size] for i in range(0, len(s), size)]


# ---------------------------------------------------------------------------------------------
# reply planning (stateless, from the request body alone; mirrors cc_mock.py)


def _strip_reminders(text: str) -> str:
    return re.sub(r"<system-reminder>.*?</system-reminder>", "", text, flags=re.S).strip()


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if isinstance(block, dict):
        if block.get("type") == "text":
            return str(block.get("text", ""))
        if block.get("type") == "tool_result":
            c = block.get("content")
            if isinstance(c, list):
                return "".join(_block_text(x) for x in c)
            return str(c or "")
    return ""


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    msgs = body.get("messages")
    return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []


def _prompt_of(body: dict[str, Any]) -> str:
    """The last user text block, with <system-reminder> sections removed."""
    for msg in reversed(_messages(body)):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        blocks: list[Any] = [content] if isinstance(content, str) else list(content or [])
        for b in reversed(blocks):
            is_text = isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")
            t = _strip_reminders(_block_text(b)) if is_text else ""
            if t:
                return t
    return ""


def _last_turn(body: dict[str, Any]) -> dict[str, Any] | None:
    """The last user/assistant message (Claude Code may append role "system" messages after it)."""
    turns: list[dict[str, Any]] = [m for m in _messages(body) if m.get("role") in ("user", "assistant")]
    return turns[-1] if turns else None


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    last = _last_turn(body)
    if not last or last.get("role") != "user" or not isinstance(last.get("content"), list):
        return []
    return [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    return [t for t in tools if isinstance(t, dict) and "name" in t] if isinstance(tools, list) else []


def sample_for_schema(schema: Any, depth: int = 0) -> Any:
    """Smallest value that satisfies a simple JSON schema."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return sample_for_schema(schema[key][0], depth + 1)
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), t[0] if t else None)
    if t == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        req = schema.get("required")
        keys = req if isinstance(req, list) else list(props)
        return {k: sample_for_schema(props.get(k, {}), depth + 1) for k in keys}
    if t == "array":
        n = int(schema.get("minItems") or 0)
        return [sample_for_schema(schema.get("items", {}), depth + 1) for _ in range(n)]
    if t == "integer":
        return int(schema.get("minimum", 0))
    if t == "number":
        return schema.get("minimum", 0)
    if t == "boolean":
        return False
    if t == "null":
        return None
    return "Mock title"


def _json_format_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of a structured-output request (``output_config.format`` or ``output_format``)."""
    oc = body.get("output_config")
    fmt = oc.get("format") if isinstance(oc, dict) else None
    if fmt is None:
        fmt = body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema: Any = fmt.get("schema")
        return schema if isinstance(schema, dict) else {}
    return None


def _thinking_requested(body: dict[str, Any]) -> bool:
    th = body.get("thinking")
    return not (isinstance(th, dict) and th.get("type") == "disabled")


def plan_reply(
    body: dict[str, Any], default_text: str, *, thinking: bool = False
) -> tuple[list[dict[str, Any]], str, str | None]:
    """Return (content blocks in final form, stop_reason, stop_sequence) for this request."""
    blocks: list[dict[str, Any]]
    stop = "end_turn"
    tools = _tools(body)
    names = [str(t["name"]) for t in tools]
    tc = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
    tc_type = tc.get("type") if isinstance(tc, dict) else None
    if tc_type == "none":
        names = []
    schema = _json_format_schema(body)
    results = _tool_results(body)
    prompt = _prompt_of(body)
    echo = re.search(r"`(echo [^`\n]+)`", prompt) or re.search(
        r"(echo [A-Za-z0-9_.:=+-]+(?: [A-Za-z0-9_.:=+-]+)*)", prompt
    )
    read = re.search(r"read (?:the )?file (\S+)", prompt, re.I)
    exact = re.search(r"Reply with exactly:\s*(.+)", prompt)
    forced = tc.get("name") if tc_type == "tool" and isinstance(tc, dict) else None
    if forced is None and tc_type == "any" and names:
        forced = names[0]
    if schema is not None:  # structured output (e.g. Claude Code's session title)
        blocks = [{"type": "text", "text": json.dumps(sample_for_schema(schema))}]
    elif results:
        texts = [("ERROR " if r.get("is_error") else "") + _block_text(r).strip() for r in results]
        blocks = [{"type": "text", "text": "TOOL_RESULT: " + " | ".join(texts)}]
    elif echo and "Bash" in names and forced in (None, "Bash"):
        blocks = [
            {"type": "text", "text": "I'll run that command."},
            {
                "type": "tool_use",
                "id": _new_id("toolu_01"),
                "name": "Bash",
                "input": {"command": echo.group(1), "description": "Run the requested echo"},
            },
        ]
        stop = "tool_use"
    elif read and "Read" in names and forced in (None, "Read"):
        path = read.group(1).rstrip(".,;`'\"").lstrip("`'\"")
        blocks = [{"type": "tool_use", "id": _new_id("toolu_01"), "name": "Read", "input": {"file_path": path}}]
        stop = "tool_use"
    elif forced is not None and forced in names:
        tool = tools[names.index(forced)]
        tool_input = sample_for_schema(tool.get("input_schema") or {"type": "object"})
        blocks = [{"type": "tool_use", "id": _new_id("toolu_01"), "name": forced, "input": tool_input or {}}]
        stop = "tool_use"
    elif exact:
        blocks = [{"type": "text", "text": exact.group(1).strip().splitlines()[0]}]
    else:
        blocks = [{"type": "text", "text": default_text}]

    stop_sequence: str | None = None
    seqs = body.get("stop_sequences")
    if stop == "end_turn" and isinstance(seqs, list) and blocks and blocks[0]["type"] == "text":
        text = blocks[0]["text"]
        hits = [(text.find(s), s) for s in seqs if isinstance(s, str) and s and s in text]
        if hits:
            pos, stop_sequence = min(hits)
            blocks[0]["text"] = text[:pos]
            stop = "stop_sequence"
    if thinking and _thinking_requested(body):
        blocks.insert(0, {"type": "thinking", "thinking": THINKING_TEXT, "signature": THINKING_SIGNATURE})
    return blocks, stop, stop_sequence


def _output_tokens(blocks: list[dict[str, Any]]) -> int:
    chars = 0
    for b in blocks:
        if b["type"] == "text":
            chars += len(b["text"])
        elif b["type"] == "thinking":
            chars += len(b["thinking"])
        elif b["type"] == "tool_use":
            chars += len(json.dumps(b["input"])) + len(b["name"])
    return max(1, round(chars / 4))


# ---------------------------------------------------------------------------------------------
# the mock server


class MockAnthropic:
    """An aiohttp server that imitates api.anthropic.com; see the module docstring."""

    def __init__(
        self,
        *,
        name: str = "anthropic",
        chunks: int = 3,
        require_key: str | None = None,
        text: str | None = None,
        thinking: bool = False,
        delay_ms: float = 0,
        models: Sequence[str] | None = None,
        usage: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        # Fixed usage for every reply (cache fields included), instead of the body-size estimate.
        self.usage = dict(usage) if usage is not None else None
        self.chunks = max(1, chunks)
        self.require_key = require_key
        self.text = text if text is not None else f"Hello from {name}."
        self.thinking = thinking
        self.delay_ms = delay_ms
        if models is None:
            self.models: list[tuple[str, str, str]] = list(DEFAULT_MODELS)
        else:
            self.models = [(m, m, "2025-01-01T00:00:00Z") for m in models]
        self.url = ""
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self._faults: list[_Armed] = []
        self.quotas = Quotas()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None) -> str:
        """Listen on ``host:port``; with ``ssl_context`` it serves https (the URL then names ``localhost``)."""
        if self._runner is not None:
            raise RuntimeError("mock already started")
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=MAX_BODY_BYTES + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._on_prepare)
        runner = web.AppRunner(app, access_log=None, auto_decompress=False, shutdown_timeout=0.5)
        await runner.setup()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
            site = web.SockSite(runner, sock, ssl_context=ssl_context)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(sock.getsockname()[1])
        self.url = f"http://[{host}]:{self.port}" if family == socket.AF_INET6 else f"http://{host}:{self.port}"
        if ssl_context is not None:
            self.url = f"https://localhost:{self.port}"
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            self._closing.set()
            await runner.cleanup()

    async def __aenter__(self) -> MockAnthropic:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test helpers ------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self._faults.append(_Armed(fault, fault.times))

    def clear(self) -> None:
        """Forget recorded requests, pending faults and the disconnect counter."""
        self.requests.clear()
        self._faults.clear()
        self.disconnects = 0

    @property
    def faults(self) -> list[Fault]:
        """Faults not yet used up, in order."""
        return [a.fault for a in self._faults if a.remaining != 0]

    def messages_requests(self) -> list[RecordedRequest]:
        """Recorded POST /v1/messages requests (any prefix), in arrival order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/v1/messages")]

    def _take_fault(self, path: str, stream: bool) -> Fault | None:
        for armed in self._faults:
            if armed.remaining != 0 and armed.fault.matches(path, stream):
                if armed.remaining > 0:
                    armed.remaining -= 1
                return armed.fault
        self._faults = [a for a in self._faults if a.remaining != 0]
        return None

    # ---- plumbing ------------------------------------------------------------------------------

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("request-id", request.get(_REQUEST_ID) or _new_id("req_011"))
        response.headers["x-mock-name"] = self.name
        for k, v in (request.get(_QUOTA) or {}).items():
            response.headers[k] = v

    def _gone(self, request: web.Request) -> bool:
        tr = request.transport
        return tr is None or tr.is_closing()

    def _mark_gone(self, rec: RecordedRequest) -> None:
        if not rec.disconnected:
            rec.disconnected = True
            self.disconnects += 1

    async def _wait(self, request: web.Request, rec: RecordedRequest, seconds: float) -> None:
        """Sleep up to ``seconds``, raising _ClientGone as soon as the client disconnects."""
        deadline = time.monotonic() + seconds
        while True:
            if self._gone(request):
                raise _ClientGone
            left = deadline - time.monotonic()
            if left <= 0 or self._closing.is_set():
                return
            await asyncio.sleep(min(_POLL_S, left))

    def _close(self, request: web.Request, *, reset: bool) -> None:
        tr = request.transport
        if tr is None:
            return
        if reset:
            sock = tr.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tr.abort()
        else:
            tr.close()  # flushes what was written, then FIN

    def _json(self, rec: RecordedRequest, status: int, obj: Any, headers: dict[str, str] | None = None) -> web.Response:
        rec.status = status
        return web.Response(status=status, body=_dumps(obj).encode(), content_type="application/json", headers=headers)

    def _error(
        self,
        rec: RecordedRequest,
        status: int,
        error_type: str | None = None,
        message: str | None = None,
        fault: Fault | None = None,
    ) -> web.Response:
        headers: dict[str, str] = {}
        if fault is not None:
            if fault.retry_after is not None:
                headers["retry-after"] = _fmt_seconds(fault.retry_after)
            if fault.x_should_retry is not None:
                headers["x-should-retry"] = fault.x_should_retry
        etype = error_type or _error_type_for(status)
        msg = message or ERROR_MESSAGES.get(status, f"{etype} (mock)")
        return self._json(rec, status, error_body(etype, msg, rec.request_id), headers)

    def _fault_error(self, rec: RecordedRequest, fault: Fault) -> web.Response:
        return self._error(rec, fault.status, fault.error_type, fault.message, fault)

    # ---- dispatch ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_mock/"):
            return await self._control(request)
        raw = await request.read()
        rid = _new_id("req_011")
        request[_REQUEST_ID] = rid
        parsed: Any | None = None
        if raw:
            with contextlib.suppress(ValueError):
                parsed = json.loads(_decode_body(raw, request.headers.get("Content-Encoding", "")))
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=request.query_string,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
            body=raw,
            json=parsed,
            request_id=rid,
            time=time.time(),
        )
        self.requests.append(rec)
        fault = self._take_fault(path, isinstance(parsed, dict) and parsed.get("stream") is True)
        rec.fault = fault
        try:
            return await self._dispatch(request, rec, fault)
        except _ClientGone:
            self._mark_gone(rec)
            return web.Response(status=499)
        except asyncio.CancelledError:
            self._mark_gone(rec)
            raise

    async def _dispatch(self, request: web.Request, rec: RecordedRequest, fault: Fault | None) -> web.StreamResponse:
        method, path = request.method, request.path
        if fault is not None:
            if fault.kind == "status":
                return self._fault_error(rec, fault)
            if fault.kind == "reset":
                self._close(request, reset=True)
                return web.Response(status=499)
            if fault.kind == "stall":
                await self._wait(request, rec, fault.seconds)
                fault = None
        if method == "HEAD":
            rec.status = 200
            return web.Response(status=200)

        route: str | None = None
        model_id: str | None = None
        if method == "POST" and path.endswith("/v1/messages"):
            route = "messages"
        elif method == "POST" and path.endswith("/v1/messages/count_tokens"):
            route = "count_tokens"
        elif method == "GET" and path.endswith("/v1/models"):
            route = "models"
        elif method == "GET" and "/v1/models/" in path:
            route, model_id = "model", path.rsplit("/v1/models/", 1)[1]
        elif method == "GET" and path.endswith("/api/oauth/usage"):
            quota = self.quotas.accounts.get(_token_of(request) or "")
            if quota is None:
                return self._error(rec, 403, "permission_error", "OAuth token does not meet scope requirement")
            return self._json(rec, 200, quota.usage_body(self.quotas.clock()))
        if route is None:
            return self._error(rec, 404, "not_found_error", "Not Found")

        if self.require_key is not None:
            auth = request.headers.get("Authorization", "")
            bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
            key = request.headers.get("x-api-key")
            if key is None and bearer is None:
                return self._error(rec, 401, "authentication_error", "x-api-key header is required")
            if self.require_key not in (key, bearer):
                return self._error(rec, 401, "authentication_error", "invalid x-api-key")

        if route == "models":
            return await self._reply_json(request, rec, self._models_list(request), fault)
        if route == "model":
            for mid, display, created in self.models:
                if mid == model_id:
                    obj = {"type": "model", "id": mid, "display_name": display, "created_at": created}
                    return await self._reply_json(request, rec, obj, fault)
            return self._error(rec, 404, "not_found_error", f"model: {model_id}")

        if len(rec.body) > MAX_BODY_BYTES:
            return self._error(rec, 413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
        body = rec.json
        if body is None:
            detail = "empty request body" if not rec.body else "request body is not valid JSON"
            return self._error(rec, 400, "invalid_request_error", f"There was an issue parsing your request: {detail}")
        if not isinstance(body, dict):
            return self._error(rec, 400, "invalid_request_error", "Input should be a valid dictionary")
        problem = _validate(body, need_max_tokens=route == "messages")
        if problem:
            return self._error(rec, 400, "invalid_request_error", problem)
        if route == "count_tokens":
            return await self._reply_json(request, rec, {"input_tokens": max(1, len(rec.body) // 4)}, fault)
        quota = self.quotas.accounts.get(_token_of(request) or "")
        if quota is not None:
            family = family_of(str(body.get("model", "")))
            over = quota.rejected(family)
            request[_QUOTA] = quota.headers(family, self.quotas.clock())
            if over is not None:
                return self._error(
                    rec, 429, "rate_limit_error", f"This request would exceed your account's rate limit ({over})"
                )
            quota.charge(family)
            request[_QUOTA] = quota.headers(family, self.quotas.clock())
        return await self._messages(request, rec, body, fault)

    def _models_list(self, request: web.Request) -> dict[str, Any]:
        data = [
            {"type": "model", "id": mid, "display_name": display, "created_at": created}
            for mid, display, created in self.models
        ]
        ids = [d["id"] for d in data]
        after, before = request.query.get("after_id"), request.query.get("before_id")
        if after in ids:
            data = data[ids.index(after) + 1 :]
        elif before in ids:
            data = data[: ids.index(before)]
        has_more = False
        with contextlib.suppress(ValueError):
            limit = int(request.query.get("limit", "20"))
            has_more = len(data) > limit
            data = data[: max(1, limit)]
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    async def _reply_json(
        self, request: web.Request, rec: RecordedRequest, obj: Any, fault: Fault | None
    ) -> web.StreamResponse:
        """A 200 JSON answer, with body-level faults applied."""
        kind = fault.kind if fault else None
        if fault is None or kind not in _BODY_FAULTS:
            return self._json(rec, 200, obj)
        if kind in ("error_event", "error_mid"):
            return self._fault_error(rec, fault)
        if kind == "drop":
            self._close(request, reset=False)
            return web.Response(status=499)
        data = _dumps(obj).encode()
        half = max(1, len(data) // 2)
        rec.status = 200
        if kind == "malformed":
            return web.Response(status=200, body=data[:half], content_type="application/json")
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        resp.content_length = len(data)
        await resp.prepare(request)
        await self._write(request, resp, data[:half])
        if kind == "truncate":
            self._close(request, reset=False)
            return resp
        await self._wait(request, rec, fault.seconds)
        await self._write(request, resp, data[half:])
        await resp.write_eof()
        return resp

    async def _write(self, request: web.Request, resp: web.StreamResponse, data: bytes) -> None:
        if self._gone(request):
            raise _ClientGone
        try:
            await resp.write(data)
        except ConnectionError as e:  # aiohttp's ClientConnectionResetError is a ConnectionResetError
            raise _ClientGone from e

    # ---- /v1/messages --------------------------------------------------------------------------

    async def _messages(
        self, request: web.Request, rec: RecordedRequest, body: dict[str, Any], fault: Fault | None
    ) -> web.StreamResponse:
        blocks, stop, stop_seq = plan_reply(body, self.text, thinking=self.thinking)
        model = body["model"]
        in_tokens = max(1, len(rec.body) // 4)
        out_tokens = _output_tokens(blocks)
        if self.usage is not None:
            out_tokens = int(self.usage.get("output_tokens", out_tokens))
        msg_id = _new_id("msg_01")
        if not body.get("stream"):
            full = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": blocks,
                "stop_reason": stop,
                "stop_sequence": stop_seq,
                "usage": self._usage_of(in_tokens, out_tokens),
            }
            return await self._reply_json(request, rec, full, fault)

        start = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._usage_of(in_tokens, 1),
        }
        events = _stream_events(start, blocks, stop, stop_seq, out_tokens, self.chunks)
        kind = fault.kind if fault else None
        err_event = b""
        if fault is not None and kind in ("error_event", "error_mid"):
            etype = fault.error_type or _error_type_for(fault.status)
            emsg = fault.message or ERROR_MESSAGES.get(fault.status, f"{etype} (mock)")
            err_event = _sse("error", _dumps(error_body(etype, emsg)))

        resp = web.StreamResponse(status=200)
        resp.headers["Content-Type"] = "text/event-stream; charset=utf-8"
        resp.headers["Cache-Control"] = "no-cache"
        resp.headers["anthropic-ratelimit-requests-remaining"] = "999"
        rec.status = 200
        await resp.prepare(request)
        if kind == "error_event":
            await self._write(request, resp, err_event)
            await resp.write_eof()
            return resp
        cut = _cut_index(events) if fault is None or fault.after_events is None else fault.after_events
        delay = self.delay_ms / 1000.0
        for i, ev in enumerate(events):
            if i == cut and fault is not None:
                if kind == "drop":
                    self._close(request, reset=False)
                    return resp
                if kind == "error_mid":
                    await self._write(request, resp, err_event)
                    await resp.write_eof()
                    return resp
                if kind == "malformed":
                    await self._write(request, resp, MALFORMED_LINE)
                    await resp.write_eof()
                    return resp
                if kind == "truncate":
                    break
                if kind == "stall_mid":
                    await self._wait(request, rec, fault.seconds)
            await self._write(request, resp, ev)
            if delay > 0:
                await self._wait(request, rec, delay)
        try:
            await resp.write_eof()
        except ConnectionError as e:
            raise _ClientGone from e
        return resp

    def _usage_of(self, in_tokens: int, out_tokens: int) -> dict[str, Any]:
        if self.usage is None:
            return _usage(in_tokens, out_tokens)
        return {**self.usage, "output_tokens": out_tokens}

    # ---- control endpoints -------------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_mock/quota"):
            try:
                req = json.loads(await request.read() or b"{}") if request.method == "POST" else {}
                return web.json_response(self.quotas.control(path, req))
            except (ValueError, KeyError, TypeError) as e:
                return web.json_response(error_body("invalid_request_error", str(e)), status=400)
        if path == "/_mock/health":
            return web.json_response({"ok": True, "name": self.name})
        if path == "/_mock/log":
            return web.json_response([r.to_dict() for r in self.requests], dumps=_dumps)
        if path == "/_mock/clear" and request.method == "POST":
            self.clear()
            return web.json_response({"ok": True})
        if path == "/_mock/faults":
            if request.method == "POST":
                try:
                    req = json.loads(await request.read() or b"{}")
                    new = [parse_fault_spec(f) for f in req.get("faults", [])]
                except (ValueError, TypeError, AttributeError) as e:
                    return web.json_response(error_body("invalid_request_error", str(e)), status=400)
                if not req.get("append"):
                    self._faults.clear()
                for f in new:
                    self.add_fault(f)
            pending = [dict(asdict(a.fault), remaining=a.remaining) for a in self._faults if a.remaining != 0]
            return web.json_response({"faults": pending})
        return web.json_response(error_body("not_found_error", f"unknown control path {path}"), status=404)


def _token_of(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _validate(body: dict[str, Any], *, need_max_tokens: bool) -> str | None:
    """The first validation problem, phrased like the real API ("field: problem"), or None."""
    if "model" not in body:
        return "model: Field required"
    if not isinstance(body["model"], str):
        return "model: Input should be a valid string"
    if need_max_tokens:
        if "max_tokens" not in body:
            return "max_tokens: Field required"
        mt = body["max_tokens"]
        if not isinstance(mt, int) or isinstance(mt, bool):
            return "max_tokens: Input should be a valid integer"
        if mt < 1:
            return "max_tokens: Input should be greater than or equal to 1"
    if "messages" not in body:
        return "messages: Field required"
    if not isinstance(body["messages"], list):
        return "messages: Input should be a valid list"
    for i, m in enumerate(body["messages"]):
        if not isinstance(m, dict):
            return f"messages.{i}: Input should be a valid dictionary"
        if m.get("role") not in ("user", "assistant", "system"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if "content" not in m:
            return f"messages.{i}.content: Field required"
    if "stream" in body and not isinstance(body["stream"], bool):
        return "stream: Input should be a valid boolean"
    return None


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def _sse(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def _stream_events(
    start: dict[str, Any],
    blocks: list[dict[str, Any]],
    stop: str,
    stop_seq: str | None,
    out_tokens: int,
    chunks: int,
) -> list[bytes]:
    """The full SSE byte stream, one element per event."""
    ev = [_sse("message_start", _dumps({"type": "message_start", "message": start}))]

    def delta(i: int, d: dict[str, Any]) -> bytes:
        return _sse("content_block_delta", _dumps({"type": "content_block_delta", "index": i, "delta": d}))

    for i, b in enumerate(blocks):
        if b["type"] == "thinking":
            cb: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif b["type"] == "tool_use":
            cb = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
        else:
            cb = {"type": "text", "text": ""}
        ev.append(
            _sse(
                "content_block_start",
                _dumps({"type": "content_block_start", "index": i, "content_block": cb}),
            )
        )
        if i == 0:
            ev.append(_sse("ping", '{"type": "ping"}'))  # sic: the real API puts a space here
        if b["type"] == "thinking":
            ev += [delta(i, {"type": "thinking_delta", "thinking": p}) for p in _split(b["thinking"], chunks)]
            ev.append(delta(i, {"type": "signature_delta", "signature": b["signature"]}))
        elif b["type"] == "tool_use":
            pieces = ["", *_split(json.dumps(b["input"], ensure_ascii=False), chunks)]
            ev += [delta(i, {"type": "input_json_delta", "partial_json": p}) for p in pieces]
        else:
            ev += [delta(i, {"type": "text_delta", "text": p}) for p in _split(b["text"], chunks)]
        ev.append(_sse("content_block_stop", _dumps({"type": "content_block_stop", "index": i})))
    md = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": stop_seq},
        "usage": {"output_tokens": out_tokens},
    }
    ev.append(_sse("message_delta", _dumps(md)))
    ev.append(_sse("message_stop", _dumps({"type": "message_stop"})))
    return ev


def _cut_index(events: list[bytes]) -> int:
    """Where mid-stream faults strike: right after the first non-empty content_block_delta."""
    for i, ev in enumerate(events):
        if ev.startswith(b"event: content_block_delta") and b'"partial_json":""' not in ev:
            return i + 1
    return 1


# ---------------------------------------------------------------------------------------------
# standalone use


def parse_fault_spec(
    spec: str | dict[str, Any],
    *,
    retry_after: float | None = None,
    x_should_retry: str | None = None,
    seconds: float | None = None,
    path: str | None = None,
) -> Fault:
    """A Fault from ``{"kind": ...}`` (JSON object or dict) or ``KIND[:TIMES[:SECONDS]]``.

    KIND is a fault kind, a cc_mock.py alias (sse_error, hang) or an HTTP status (``429:2``).
    The keyword arguments fill in fields the spec leaves out.
    """
    kw: dict[str, Any] = {}
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        spec = json.loads(spec)
    if isinstance(spec, dict):
        known = {f.name for f in fields(Fault)}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        kw = dict(spec)
    else:
        parts = str(spec).strip().split(":")
        kind = parts[0].strip()
        kw = {"kind": "status", "status": int(kind)} if kind.isdigit() else {"kind": kind}
        if len(parts) > 1 and parts[1]:
            kw["times"] = int(parts[1])
        if len(parts) > 2 and parts[2]:
            kw["seconds"] = float(parts[2])
    for key, val in (("retry_after", retry_after), ("x_should_retry", x_should_retry), ("seconds", seconds)):
        if val is not None:
            kw.setdefault(key, val)
    if path is not None:
        kw.setdefault("path", path)
    if "kind" not in kw:
        raise ValueError("fault needs a kind")
    return Fault(**kw)


async def _serve(args: argparse.Namespace) -> int:
    mock = MockAnthropic(
        name=args.name,
        chunks=args.chunks,
        require_key=args.require_key,
        text=args.text,
        thinking=args.thinking,
        delay_ms=args.delay_ms,
    )
    for spec in args.fault or []:
        mock.add_fault(
            parse_fault_spec(
                spec,
                retry_after=args.retry_after,
                x_should_retry=args.x_should_retry,
                seconds=args.stall_s,
                path=args.fault_path,
            )
        )
    return await serve_until_stopped(mock, args.host, args.port, args.max_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.mocks.anthropic",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--name", default="anthropic", help="value of the x-mock-name header")
    ap.add_argument("--chunks", type=int, default=3, help="deltas per text/tool block")
    ap.add_argument("--require-key", default=None, help="accept only this x-api-key / Bearer token")
    ap.add_argument("--text", default=None, help="default reply text")
    ap.add_argument("--thinking", action="store_true", help="prepend a signed thinking block")
    ap.add_argument("--delay-ms", type=float, default=0, help="pause between SSE events")
    ap.add_argument(
        "--fault",
        action="append",
        help="KIND[:TIMES[:SECONDS]] (KIND: a status like 429, or reset|stall|drop|stall_mid|"
        "error_event|error_mid|malformed|truncate) or a JSON Fault object; repeatable, used in order",
    )
    ap.add_argument("--retry-after", type=float, default=None, help="retry-after for --fault status errors")
    ap.add_argument("--x-should-retry", choices=("true", "false"), default=None)
    ap.add_argument("--stall-s", type=float, default=None, help="seconds for stall/stall_mid faults")
    ap.add_argument("--fault-path", default=None, help="path suffix the faults apply to (default /v1/messages)")
    ap.add_argument("--max-seconds", type=float, default=3600, help="exit by itself after this long")
    args = ap.parse_args(argv)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
