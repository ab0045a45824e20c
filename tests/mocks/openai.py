"""A faithful in-process mock of the OpenAI Chat Completions API, built on aiohttp.web.

Use it from async tests::

    async with MockOpenAI(name="up1") as mock:
        client = AsyncOpenAI(api_key="k", base_url=mock.url + "/v1", max_retries=0)
        ...
        assert mock.requests[0].json["model"] == "gpt-x"

or standalone (a translating router in front of it serves the real Claude Code CLI)::

    python -m tests.mocks.openai --port 0 --reasoning --fault 429:1 --retry-after 1
    # prints "LISTENING <port>" once bound

Endpoints (any path prefix is accepted, e.g. ``/api/v1/chat/completions``; the query is ignored):

  POST .../chat/completions   stream (SSE, ``data:`` lines, ``[DONE]``) and non-stream
  GET  .../models[/ID]        OpenAI list / model shapes
  GET  /_mock/log             JSON array of the recorded requests
  GET|POST /_mock/faults      pending faults / replace them: {"faults": [...], "append": false}
  POST /_mock/clear           drop records and faults
  GET  /_mock/health          {"ok": true}
  anything else               404 in the OpenAI error shape

Requests are validated like the real API, strictly: unknown top-level parameters, a ``tool`` message
that does not answer the assistant ``tool_calls`` right before it, an unanswered tool call, bad content
parts or tool names are HTTP 400 ``{"error": {"message", "type", "param", "code"}}``.  That makes the
mock a check on the request translator.

Replies are scripted from the request alone, like ``cc_mock.py`` (see :func:`plan_reply`): trailing
``role: "tool"`` messages -> ``TOOL_RESULT: <content>``; a backticked `` `echo ...` `` with a ``Bash``
function offered -> a Bash tool call ``{"command", "description"}``; "read the file PATH" with ``Read``
offered -> a Read tool call; a forced ``tool_choice`` -> that tool with a sample input; "Reply with
exactly: X" -> X; ``response_format`` json_schema -> schema-valid JSON; otherwise the default text.

Options: ``reasoning`` (``reasoning_content`` — or ``reasoning_field="reasoning"`` — deltas first),
``tool_first`` (tool calls before text), ``no_finish_reason``, ``no_done``, ``cached_tokens``; the usage
chunk is sent when the request asks with ``stream_options.include_usage``.  Faults: see :class:`Fault`.
Every response carries ``x-mock-name`` and ``x-request-id``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import socket
import string
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

from tests.mocks.serve import serve_until_stopped

__all__ = [
    "ERRORS",
    "Fault",
    "MockOpenAI",
    "RecordedRequest",
    "Reply",
    "main",
    "plan_reply",
    "validate_chat_request",
]

# status -> (error type, code, message), as api.openai.com sends them
ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (mock)"),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (mock)"),
    403: ("permission_denied", "unsupported_country_region_territory", "Country not supported (mock)"),
    404: ("invalid_request_error", "model_not_found", "The model does not exist (mock)"),
    413: ("invalid_request_error", "request_too_large", "Request too large (mock)"),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (mock)"),
    500: ("server_error", None, "The server had an error while processing your request (mock)"),
    502: ("server_error", None, "Bad gateway (mock)"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later (mock)"),
}
FAULT_KINDS = frozenset(
    {"status", "reset", "stall", "drop", "stall_mid", "error_event", "error_mid", "malformed", "truncate"}
)
_BODY_FAULTS = frozenset({"drop", "malformed", "truncate", "stall_mid", "error_event", "error_mid"})
KNOWN_PARAMS = frozenset(
    {
        *("model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens"),
        *("max_completion_tokens", "temperature", "top_p", "stop", "stream", "stream_options", "user"),
        *("n", "seed", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs"),
        *("response_format", "reasoning_effort", "metadata", "store", "modalities", "audio", "prediction"),
        *("service_tier", "functions", "function_call", "web_search_options", "safety_identifier"),
        *("prompt_cache_key", "verbosity", "reasoning"),
    }
)
USER_PARTS = frozenset({"text", "image_url", "input_audio", "file"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
REASONING_TEXT = "Let me think about this request step by step."
DEFAULT_MODELS = ("gpt-mock-1", "gpt-mock-mini", "o-mock-reasoner")
_B62 = string.ascii_letters + string.digits
_POLL_S = 0.02


@dataclass
class RecordedRequest:
    """One request as the mock received it."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]  # wire order and case
    body: bytes
    json: Any | None
    fault: Fault | None = None
    status: int | None = None
    disconnected: bool = False
    time: float = 0.0
    peer: str = ""  # the client's address and port: one value per TCP connection

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["body"] = self.body.decode("utf-8", "replace")
        d["headers"] = [list(h) for h in self.headers]
        d["fault"] = asdict(self.fault) if self.fault else None
        return d


@dataclass
class Fault:
    """A failure for the next ``times`` requests whose path ends with ``path`` (``times < 0``: forever).

    kinds: "status" (HTTP ``status`` with an OpenAI error body, ``retry_after`` header), "reset"
    (RST before headers), "stall" (no headers for ``seconds``, then the answer), "error_event" (200
    stream whose first chunk is an error payload), "error_mid" (error payload after some output),
    "drop" (close the connection mid-stream), "truncate" (end the body mid-stream: no finish_reason,
    no [DONE]), "malformed" (a data line that is not JSON), "stall_mid" (pause ``seconds`` mid-stream).
    Mid-stream faults strike after the first chunk with content, or after ``after_chunks`` chunks.
    On non-streaming requests the body faults break the JSON body instead (error_* become ``status``).
    """

    kind: str
    status: int = 429
    retry_after: float | None = None
    seconds: float = 30.0
    message: str | None = None
    error_type: str | None = None
    code: str | None = None
    times: int = 1
    path: str = "/chat/completions"
    after_chunks: int | None = None
    stream: bool | None = None

    def __post_init__(self) -> None:
        if self.kind.isdigit():
            self.kind, self.status = "status", int(self.kind)
        self.kind = {"sse_error": "error_mid", "hang": "stall_mid", "error": "error_event"}.get(self.kind, self.kind)
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")

    def matches(self, path: str, stream: bool) -> bool:
        if self.stream is not None and self.stream != stream:
            return False
        return self.path in ("*", "") or path.endswith(self.path)

    def error(self) -> dict[str, Any]:
        etype, code, message = ERRORS.get(
            self.status,
            ("server_error" if self.status >= 500 else "invalid_request_error", None, "error (mock)"),
        )
        return error_body(self.message or message, self.error_type or etype, self.code or code)


def parse_fault_spec(spec: str | dict[str, Any], **defaults: Any) -> Fault:
    """``KIND[:TIMES[:SECONDS]]`` (KIND may be an HTTP status) or a dict/JSON of :class:`Fault` fields."""
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        spec = json.loads(spec)
    if isinstance(spec, dict):
        unknown = set(spec) - {f.name for f in fields(Fault)}
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        kw = dict(spec)
    else:
        parts = str(spec).strip().split(":")
        kw = {"kind": parts[0].strip()}
        if len(parts) > 1 and parts[1]:
            kw["times"] = int(parts[1])
        if len(parts) > 2 and parts[2]:
            kw["seconds"] = float(parts[2])
    for key, value in defaults.items():
        if value is not None:
            kw.setdefault(key, value)
    return Fault(**kw)


def error_body(message: str, etype: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _new_id(prefix: str, n: int = 24) -> str:
    return prefix + "".join(secrets.choice(_B62) for _ in range(n))


def _split(s: str, n: int) -> list[str]:
    if not s:
        return []
    size = max(1, -(-len(s) // max(1, n)))
    return [s[i : i + size] for i in range(0, len(s), size)]


# ---------------------------------------------------------------------------------------------
# validation (what api.openai.com rejects)


def _text_parts_only(content: Any) -> bool:
    return isinstance(content, str) or (
        isinstance(content, list)
        and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content)
    )


def _check_message(i: int, m: Any) -> str | None:
    if not isinstance(m, dict):
        return f"Invalid type for 'messages[{i}]': expected an object."
    role = m.get("role")
    content = m.get("content")
    if role in ("system", "developer"):
        if not _text_parts_only(content):
            return f"Invalid value for 'messages[{i}].content': {role} content must be text."
    elif role == "user":
        if isinstance(content, list):
            for j, p in enumerate(content):
                if not isinstance(p, dict) or p.get("type") not in USER_PARTS:
                    kind = p.get("type") if isinstance(p, dict) else type(p).__name__
                    return (
                        f"Invalid value: '{kind}'. Supported values are: 'text', 'image_url', "
                        f"'input_audio', and 'file'. (messages[{i}].content[{j}].type)"
                    )
                if p["type"] == "image_url" and not isinstance((p.get("image_url") or {}).get("url"), str):
                    return f"Missing required parameter: 'messages[{i}].content[{j}].image_url.url'."
        elif not isinstance(content, str):
            return f"Invalid type for 'messages[{i}].content': expected one of a string or array of objects."
    elif role == "assistant":
        calls = m.get("tool_calls")
        if content is None and not calls and not m.get("function_call"):
            return f"Invalid value for 'messages[{i}].content': expected a string, got null."
        if content is not None and not isinstance(content, str | list):
            return f"Invalid type for 'messages[{i}].content'."
        for j, c in enumerate(calls or []):
            fn = c.get("function") if isinstance(c, dict) else None
            if not isinstance(fn, dict) or not isinstance(c.get("id"), str) or c.get("type") != "function":
                return f"Invalid value for 'messages[{i}].tool_calls[{j}]'."
            if not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments"), str):
                return f"Missing required parameter: 'messages[{i}].tool_calls[{j}].function.arguments'."
    elif role == "tool":
        if not isinstance(m.get("tool_call_id"), str):
            return f"Missing required parameter: 'messages[{i}].tool_call_id'."
        if not _text_parts_only(content):
            return f"Invalid value for 'messages[{i}].content': tool content must be text."
    elif role != "function":
        return (
            f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
            f"'function', 'tool', and 'developer'. (messages[{i}].role)"
        )
    return None


def _check_tool_order(messages: list[dict[str, Any]]) -> str | None:
    open_ids: list[str] = []
    for i, m in enumerate(messages):
        if m.get("role") == "tool":
            if m.get("tool_call_id") not in open_ids:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    f"message with 'tool_calls'. (messages[{i}])"
                )
            open_ids.remove(m["tool_call_id"])
            continue
        if open_ids:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to "
                "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                + ", ".join(open_ids)
            )
        if m.get("role") == "assistant":
            open_ids = [c["id"] for c in m.get("tool_calls") or []]
    return None


def _check_tools(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            return "Invalid 'tools': empty array. Expected an array with minimum length 1."
        for i, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, dict) else None
            if not isinstance(fn, dict) or t.get("type") != "function":
                return f"Missing required parameter: 'tools[{i}].function'."
            if not isinstance(fn.get("name"), str) or not TOOL_NAME.match(fn["name"]):
                return (
                    f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string "
                    "that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters."
                )
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                return f"Invalid type for 'tools[{i}].function.parameters': expected an object."
    choice = body.get("tool_choice")
    if choice is not None:
        if not tools:
            return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
        names = {t["function"]["name"] for t in tools}
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            if choice.get("type") != "function" or name not in names:
                return "Invalid value for 'tool_choice': the named function was not found in 'tools'."
        elif choice not in ("none", "auto", "required"):
            return "Invalid value for 'tool_choice'. Supported values are: 'none', 'auto', and 'required'."
    return None


def validate_chat_request(body: Any) -> str | None:
    """The first problem api.openai.com would report for this chat.completions body, or None."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    for key in body:
        if key not in KNOWN_PARAMS:
            return f"Unrecognized request argument supplied: {key}"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Invalid 'messages': empty array. Expected an array with minimum length 1."
    for i, m in enumerate(messages):
        problem = _check_message(i, m)
        if problem:
            return problem
    for key in ("max_tokens", "max_completion_tokens"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            return f"Invalid '{key}': integer below minimum value. Expected a value >= 1."
    if "max_tokens" in body and "max_completion_tokens" in body:
        return "Invalid request: set either 'max_tokens' or 'max_completion_tokens', not both."
    for key, hi in (("temperature", 2.0), ("top_p", 1.0)):
        v = body.get(key)
        if v is not None and (not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= hi):
            return f"Invalid '{key}': decimal out of range. Expected a value between 0 and {hi:g}."
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))
    ):
        return "Invalid 'stop': expected a string or an array of at most 4 strings."
    if body.get("stream_options") is not None and body.get("stream") is not True:
        return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    return _check_tools(body) or _check_tool_order(messages)


# ---------------------------------------------------------------------------------------------
# reply planning (stateless, from the request body alone; mirrors cc_mock.py)


@dataclass
class Reply:
    text: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"id", "name", "arguments": str}]
    reasoning: str | None = None
    finish_reason: str = "stop"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _prompt_of(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            text = re.sub(r"<system-reminder>.*?</system-reminder>", "", _text_of(m.get("content")), flags=re.S).strip()
            if text:
                return text
    return ""


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
        t = next((x for x in t if x != "null"), None)
    if t == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        keys = schema["required"] if isinstance(schema.get("required"), list) else list(props)
        return {k: sample_for_schema(props.get(k, {}), depth + 1) for k in keys}
    return {"array": [], "integer": 0, "number": 0, "boolean": False, "null": None}.get(str(t), "Mock title")


def plan_reply(body: dict[str, Any], default_text: str, *, reasoning: bool = False) -> Reply:
    """What the mock answers to ``body`` (see the module docstring)."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tools = {
        t["function"]["name"]: t["function"]
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }
    turns = [m for m in messages if m.get("role") in ("user", "assistant", "tool")]
    choice = body.get("tool_choice")
    forced = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if forced is None and choice == "required" and tools:
        forced = next(iter(tools))
    fmt = body.get("response_format")
    prompt = _prompt_of(messages)
    echo = re.search(r"`(echo [^`\n]+)`", prompt) or re.search(
        r"(echo [A-Za-z0-9_.:=+-]+(?: [A-Za-z0-9_.:=+-]+)*)", prompt
    )
    read = re.search(r"read (?:the )?file (\S+)", prompt, re.I)
    exact = re.search(r"Reply with exactly:\s*(.+)", prompt)
    reply = Reply(text=default_text)

    def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"id": _new_id("call_"), "name": name, "arguments": json.dumps(args, ensure_ascii=False)}

    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        reply.text = json.dumps(sample_for_schema((fmt.get("json_schema") or {}).get("schema") or {}))
    elif turns and turns[-1].get("role") == "tool":
        results = []
        for m in reversed(turns):
            if m.get("role") != "tool":
                break
            text = _text_of(m.get("content")).strip()
            results.insert(0, "ERROR " + text[len("[tool error] ") :] if text.startswith("[tool error] ") else text)
        reply.text = "TOOL_RESULT: " + " | ".join(results)
    elif echo and "Bash" in tools and forced in (None, "Bash") and choice != "none":
        reply = Reply(
            "I'll run that command.",
            [call("Bash", {"command": echo.group(1), "description": "Run the requested echo"})],
        )
    elif read and "Read" in tools and forced in (None, "Read") and choice != "none":
        path = read.group(1).rstrip(".,;`'\"").lstrip("`'\"")
        reply = Reply(None, [call("Read", {"file_path": path})])
    elif forced in tools:
        reply = Reply(
            None,
            [call(forced, sample_for_schema(tools[forced].get("parameters") or {"type": "object"}) or {})],
        )
    elif exact:
        reply.text = exact.group(1).strip().splitlines()[0]
    if reply.tool_calls:
        reply.finish_reason = "tool_calls"
    elif reply.text:
        stops = body.get("stop")
        stops = [stops] if isinstance(stops, str) else stops or []
        hits = [reply.text.find(s) for s in stops if s and s in reply.text]
        if hits:
            reply.text = reply.text[: min(hits)]
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and len(reply.text) > limit * 4:
            reply.text, reply.finish_reason = reply.text[: limit * 4], "length"
    if reasoning:
        reply.reasoning = REASONING_TEXT
    return reply


def _usage(body_len: int, reply: Reply, cached: int) -> dict[str, Any]:
    chars = (
        len(reply.text or "")
        + len(reply.reasoning or "")
        + sum(len(c["arguments"]) + len(c["name"]) for c in reply.tool_calls)
    )
    prompt = max(1, body_len // 4)
    completion = max(1, round(chars / 4))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": min(cached, prompt), "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": len(reply.reasoning or "") // 4, "audio_tokens": 0},
    }


# ---------------------------------------------------------------------------------------------
# the server


class _ClientGone(Exception):
    """The client went away while we were answering."""


@dataclass
class _Armed:
    fault: Fault
    remaining: int


class MockOpenAI:
    """An aiohttp server that imitates api.openai.com's chat completions; see the module docstring."""

    def __init__(
        self,
        name: str = "openai",
        chunks: int = 3,
        require_key: str | None = None,
        *,
        text: str | None = None,
        reasoning: bool = False,
        reasoning_field: str = "reasoning_content",
        tool_first: bool = False,
        no_finish_reason: bool = False,
        no_done: bool = False,
        cached_tokens: int = 0,
        delay_ms: float = 0,
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        self.name = name
        self.chunks = max(1, chunks)
        self.require_key = require_key
        self.text = text if text is not None else f"Hello from {name}."
        self.reasoning = reasoning
        self.reasoning_field = reasoning_field
        self.tool_first = tool_first
        self.no_finish_reason = no_finish_reason
        self.no_done = no_done
        self.cached_tokens = cached_tokens
        self.delay_ms = delay_ms
        self.models = list(models)
        self.url = ""
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Armed] = []
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen and return the base URL without ``/v1`` (e.g. ``http://127.0.0.1:PORT``)."""
        if self._runner is not None:
            raise RuntimeError("mock already started")
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._on_prepare)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(sock.getsockname()[1])
        self.url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            self._closing.set()
            await runner.cleanup()

    async def __aenter__(self) -> MockOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test helpers ------------------------------------------------------------------------

    def add_fault(self, fault: Fault | str | dict[str, Any], **fields_: Any) -> Fault:
        """Arm a fault: a :class:`Fault`, or a spec (``"429:2"``, ``"error_event"``, a dict) plus fields."""
        if not isinstance(fault, Fault):
            fault = parse_fault_spec(fault, **fields_)
        self._faults.append(_Armed(fault, fault.times))
        return fault

    def clear(self) -> None:
        """Forget recorded requests and pending faults."""
        self.requests.clear()
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return [a.fault for a in self._faults if a.remaining != 0]

    def completions_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    def _take_fault(self, path: str, stream: bool) -> Fault | None:
        for armed in self._faults:
            if armed.remaining != 0 and armed.fault.matches(path, stream):
                armed.remaining -= 1 if armed.remaining > 0 else 0
                return armed.fault
        return None

    # ---- plumbing ----------------------------------------------------------------------------

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["x-mock-name"] = self.name
        response.headers.setdefault("x-request-id", _new_id("req_"))

    def _gone(self, request: web.Request) -> bool:
        return request.transport is None or request.transport.is_closing()

    async def _wait(self, request: web.Request, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._closing.is_set():
            if self._gone(request):
                raise _ClientGone
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(_POLL_S, left))

    async def _write(self, request: web.Request, resp: web.StreamResponse, data: bytes) -> None:
        if self._gone(request):
            raise _ClientGone
        try:
            await resp.write(data)
        except ConnectionError as e:
            raise _ClientGone from e

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
            tr.close()

    def _json(self, rec: RecordedRequest, status: int, obj: Any, headers: dict[str, str] | None = None) -> web.Response:
        rec.status = status
        return web.Response(status=status, body=_dumps(obj).encode(), content_type="application/json", headers=headers)

    def _error(self, rec: RecordedRequest, status: int, message: str, code: str | None = None) -> web.Response:
        etype = ERRORS.get(status, ("invalid_request_error", None, ""))[0]
        return self._json(rec, status, error_body(message, etype, code))

    def _fault_error(self, rec: RecordedRequest, fault: Fault) -> web.Response:
        headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
        return self._json(rec, fault.status, fault.error(), headers)

    # ---- dispatch ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_mock/"):
            return await self._control(request)
        raw = await request.read()
        parsed: Any = None
        if raw:
            with contextlib.suppress(ValueError):
                parsed = json.loads(raw)
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
            body=raw,
            json=parsed,
            time=time.time(),
            peer=str(request.transport.get_extra_info("peername")) if request.transport else "",
        )
        self.requests.append(rec)
        stream = isinstance(parsed, dict) and parsed.get("stream") is True
        rec.fault = self._take_fault(request.path, stream)
        try:
            return await self._dispatch(request, rec, rec.fault)
        except _ClientGone:
            rec.disconnected = True
            return web.Response(status=499)

    async def _dispatch(self, request: web.Request, rec: RecordedRequest, fault: Fault | None) -> web.StreamResponse:
        if fault is not None and fault.kind == "status":
            return self._fault_error(rec, fault)
        if fault is not None and fault.kind == "reset":
            self._close(request, reset=True)
            return web.Response(status=499)
        if fault is not None and fault.kind == "stall":
            await self._wait(request, fault.seconds)
            fault = None
        path, method = request.path, request.method
        if self.require_key is not None:
            auth = request.headers.get("Authorization", "")
            if not auth.lower().startswith("bearer "):
                return self._error(
                    rec,
                    401,
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth.",
                )
            if auth[7:].strip() != self.require_key:
                return self._error(rec, 401, f"Incorrect API key provided: {auth[7:12]}****.", "invalid_api_key")
        if method == "GET" and path.endswith("/models"):
            data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": self.name} for m in self.models]
            return self._json(rec, 200, {"object": "list", "data": data})
        if method == "GET" and "/models/" in path:
            mid = path.rsplit("/models/", 1)[1]
            if mid in self.models:
                return self._json(
                    rec, 200, {"id": mid, "object": "model", "created": 1700000000, "owned_by": self.name}
                )
            return self._error(rec, 404, f"The model '{mid}' does not exist", "model_not_found")
        if method != "POST" or not path.endswith("/chat/completions"):
            return self._error(rec, 404, f"Invalid URL ({method} {path})")
        if rec.json is None:
            return self._error(rec, 400, "We could not parse the JSON body of your request.")
        problem = validate_chat_request(rec.json)
        if problem:
            return self._error(rec, 400, problem)
        return await self._completions(request, rec, rec.json, fault)

    # ---- chat completions --------------------------------------------------------------------

    def _completion(self, body: dict[str, Any], reply: Reply, cid: str, created: int, raw_len: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if reply.reasoning:
            message[self.reasoning_field] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in reply.tool_calls
            ]
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
            "usage": _usage(raw_len, reply, self.cached_tokens),
            "system_fingerprint": "fp_mock",
        }

    def _chunks(self, body: dict[str, Any], reply: Reply, cid: str, created: int, raw_len: int) -> list[bytes]:
        include_usage = (
            isinstance(body.get("stream_options"), dict) and body["stream_options"].get("include_usage") is True
        )
        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body["model"],
            "system_fingerprint": "fp_mock",
        }

        def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
            obj: dict[str, Any] = {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                obj["usage"] = None
            return f"data: {_dumps(obj)}\n\n".encode()

        out = [frame({"role": "assistant", "content": "", "refusal": None})]
        out += [frame({self.reasoning_field: p}) for p in _split(reply.reasoning or "", self.chunks)]
        text = [frame({"content": p}) for p in _split(reply.text or "", self.chunks)]
        tools: list[bytes] = []
        for i, c in enumerate(reply.tool_calls):
            head = {
                "index": i,
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": ""},
            }
            tools.append(frame({"tool_calls": [head]}))
            tools += [
                frame({"tool_calls": [{"index": i, "function": {"arguments": p}}]})
                for p in _split(c["arguments"], self.chunks)
            ]
        out += tools + text if self.tool_first else text + tools
        if not self.no_finish_reason:
            out.append(frame({}, reply.finish_reason))
        if include_usage:
            final = {**base, "choices": [], "usage": _usage(raw_len, reply, self.cached_tokens)}
            out.append(f"data: {_dumps(final)}\n\n".encode())
        if not self.no_done:
            out.append(b"data: [DONE]\n\n")
        return out

    async def _completions(
        self, request: web.Request, rec: RecordedRequest, body: dict[str, Any], fault: Fault | None
    ) -> web.StreamResponse:
        reply = plan_reply(body, self.text, reasoning=self.reasoning)
        cid, created = _new_id("chatcmpl-"), int(time.time())
        kind = fault.kind if fault else None
        if not body.get("stream"):
            data = _dumps(self._completion(body, reply, cid, created, len(rec.body))).encode()
            return await self._reply_body(request, rec, data, fault)
        chunks = self._chunks(body, reply, cid, created, len(rec.body))
        resp = web.StreamResponse(status=200)
        resp.headers["Content-Type"] = "text/event-stream; charset=utf-8"
        resp.headers["Cache-Control"] = "no-cache"
        rec.status = 200
        await resp.prepare(request)
        err = f"data: {_dumps(fault.error())}\n\n".encode() if fault is not None else b""
        if kind == "error_event":
            await self._write(request, resp, err)
            await resp.write_eof()
            return resp
        cut = fault.after_chunks if fault is not None and fault.after_chunks is not None else 2
        for i, chunk in enumerate(chunks):
            if fault is not None and i == cut:
                if kind == "drop":
                    self._close(request, reset=False)
                    return resp
                if kind in ("error_mid", "malformed"):
                    await self._write(request, resp, err if kind == "error_mid" else b"data: {not json at all\n\n")
                    await resp.write_eof()
                    return resp
                if kind == "truncate":
                    break
                if kind == "stall_mid":
                    await self._wait(request, fault.seconds)
            await self._write(request, resp, chunk)
            if self.delay_ms:
                await self._wait(request, self.delay_ms / 1000)
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp

    async def _reply_body(
        self, request: web.Request, rec: RecordedRequest, data: bytes, fault: Fault | None
    ) -> web.StreamResponse:
        kind = fault.kind if fault else None
        if fault is None or kind not in _BODY_FAULTS:
            rec.status = 200
            return web.Response(status=200, body=data, content_type="application/json")
        if kind in ("error_event", "error_mid"):
            return self._fault_error(rec, fault)
        if kind == "drop":
            self._close(request, reset=False)
            return web.Response(status=499)
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
        await self._wait(request, fault.seconds)
        await self._write(request, resp, data[half:])
        await resp.write_eof()
        return resp

    # ---- control endpoints -------------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.StreamResponse:
        path = request.path
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
                    return web.json_response(error_body(str(e), "invalid_request_error"), status=400)
                if not req.get("append"):
                    self._faults.clear()
                for f in new:
                    self.add_fault(f)
            return web.json_response(
                {"faults": [dict(asdict(a.fault), remaining=a.remaining) for a in self._faults if a.remaining != 0]}
            )
        return web.json_response(error_body(f"unknown control path {path}", "invalid_request_error"), status=404)


# ---------------------------------------------------------------------------------------------
# standalone use


async def _serve(args: argparse.Namespace) -> int:
    mock = MockOpenAI(
        args.name,
        args.chunks,
        args.require_key,
        text=args.text,
        reasoning=args.reasoning,
        reasoning_field=args.reasoning_field,
        tool_first=args.tool_first,
        no_finish_reason=args.no_finish_reason,
        no_done=args.no_done,
        delay_ms=args.delay_ms,
    )
    for spec in args.fault or []:
        mock.add_fault(spec, retry_after=args.retry_after, seconds=args.stall_s)
    return await serve_until_stopped(mock, args.host, args.port, args.max_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.mocks.openai",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--name", default="openai", help="value of the x-mock-name header")
    ap.add_argument("--chunks", type=int, default=3, help="deltas per text/reasoning/arguments")
    ap.add_argument("--require-key", default=None, help="accept only this Bearer token")
    ap.add_argument("--text", default=None, help="default reply text")
    ap.add_argument("--reasoning", action="store_true", help="send reasoning deltas first")
    ap.add_argument("--reasoning-field", default="reasoning_content", choices=("reasoning_content", "reasoning"))
    ap.add_argument("--tool-first", action="store_true", help="send tool calls before the text")
    ap.add_argument("--no-finish-reason", action="store_true")
    ap.add_argument("--no-done", action="store_true", help="end streams without data: [DONE]")
    ap.add_argument("--delay-ms", type=float, default=0, help="pause between chunks")
    ap.add_argument(
        "--fault",
        action="append",
        help="KIND[:TIMES[:SECONDS]] (KIND: an HTTP status, or a Fault kind) or JSON; repeatable",
    )
    ap.add_argument("--retry-after", type=float, default=None, help="retry-after for status faults")
    ap.add_argument("--stall-s", type=float, default=None, help="seconds for stall faults")
    ap.add_argument("--max-seconds", type=float, default=3600, help="exit by itself after this long")
    args = ap.parse_args(argv)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
