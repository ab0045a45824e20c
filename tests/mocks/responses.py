"""A faithful in-process mock of the OpenAI Responses API (and the ChatGPT Codex backend), built on aiohttp.web.

Use it from async tests::

    async with MockResponses(name="up1") as mock:
        client = AsyncOpenAI(api_key="k", base_url=mock.url + "/v1", max_retries=0)
        ...

or standalone (the router in front of it serves the real Claude Code CLI)::

    python -m tests.mocks.responses --port 0 --reasoning --chunks 8
    # prints "LISTENING <port>" once bound

Endpoints (any prefix: ``/v1/responses``, ``/backend-api/codex/responses``, ``/openai/v1/responses?api-version``):

  POST .../responses        JSON (``stream`` false) or SSE (``event: <type>`` + ``data:`` with ``sequence_number``)
  GET  .../models           OpenAI list shape
  GET|POST /_mock/...       log, faults, clear, health (as tests/mocks/openai.py)

Requests are validated strictly, like the real API: unknown parameters, a ``function_call`` without its
``function_call_output`` (or the reverse), bad tool definitions or ``tool_choice`` are HTTP 400 in the OpenAI
error shape. ``chatgpt=True`` behaves like the ChatGPT Codex backend instead: ``stream`` must be true and
``store`` false, ``instructions`` are required, sampling and output-limit parameters are rejected with
``{"detail": "Unsupported parameter: ..."}``, and the bearer token must be one ``token_ok`` accepts, with a
``chatgpt-account-id`` header equal to its claim.

Replies are planned from the request alone by :func:`tests.mocks.openai.plan_reply` (the Responses input is
mapped onto chat messages first): a backticked `` `echo ...` `` with a ``Bash`` function -> a Bash call;
``function_call_output`` items last -> ``TOOL_RESULT: <output>``; "Reply with exactly: X" -> X. Function-call
arguments, text and reasoning summaries are split into ``chunks`` deltas each. Options: ``reasoning`` (a
reasoning item with ``summary_parts`` summary parts before the answer; also when the request asks for
``reasoning``), ``cached_tokens`` / ``cache_write_tokens`` (reported in ``input_tokens_details``).
Faults (:class:`Fault`, path default ``/responses``): ``status``, ``reset``, ``stall``, ``error_event``
(``response.failed`` before any output), ``error_mid`` (an ``error`` event after some output), ``drop``,
``truncate`` (no ``response.completed``), ``malformed``, ``stall_mid``. Models in ``no_reasoning_models``
reject ``reasoning`` with a 400, as non-reasoning models do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from tests.mocks.openai import (
    Fault,
    MockOpenAI,
    RecordedRequest,
    Reply,
    _dumps,
    _new_id,
    _split,
    plan_reply,
)
from tests.mocks.serve import serve_until_stopped

__all__ = ["Fault", "MockResponses", "main", "to_chat_view", "validate_responses_request"]

KNOWN_PARAMS = frozenset(
    {
        *("model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens"),
        *("temperature", "top_p", "stream", "stream_options", "store", "reasoning", "text", "include", "user"),
        *("metadata", "previous_response_id", "truncation", "service_tier", "prompt_cache_key", "background"),
        *("safety_identifier", "prompt", "max_tool_calls", "top_logprobs", "conversation", "prompt_cache_retention"),
    }
)
CHATGPT_UNSUPPORTED = ("max_output_tokens", "temperature", "top_p", "max_tokens", "prompt_cache_retention")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
INPUT_PARTS = frozenset({"input_text", "input_image", "input_file"})
REASONING_PARTS = ("First I look at what was asked.", "Then I decide how to answer it.")


# ---------------------------------------------------------------------------------------------
# validation


def _check_item(i: int, item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"Invalid type for 'input[{i}]': expected an object."
    kind = item.get("type", "message")
    if kind == "message":
        role, content = item.get("role"), item.get("content")
        if role not in ("user", "assistant", "system", "developer"):
            return f"Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system', and 'developer'."
        if isinstance(content, list):
            allowed = {"output_text", "refusal"} if role == "assistant" else INPUT_PARTS
            for j, p in enumerate(content):
                if not isinstance(p, dict) or p.get("type") not in allowed:
                    kind_j = p.get("type") if isinstance(p, dict) else type(p).__name__
                    return f"Invalid value: '{kind_j}'. (input[{i}].content[{j}].type)"
        elif not isinstance(content, str):
            return f"Invalid type for 'input[{i}].content': expected one of a string or array of objects."
    elif kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            if not isinstance(item.get(key), str):
                return f"Missing required parameter: 'input[{i}].{key}'."
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str) or not isinstance(item.get("output"), str | list):
            return f"Missing required parameter: 'input[{i}].output'."
    elif kind not in ("reasoning", "item_reference"):
        return f"Invalid value: '{kind}'. (input[{i}].type)"
    return None


def _check_pairs(items: list[dict[str, Any]]) -> str | None:
    calls = [it["call_id"] for it in items if it.get("type") == "function_call"]
    outputs = [it["call_id"] for it in items if it.get("type") == "function_call_output"]
    seen: set[str] = set()
    for it in items:
        if it.get("type") == "function_call":
            seen.add(it["call_id"])
        elif it.get("type") == "function_call_output" and it["call_id"] not in seen:
            return f"No tool call found for function call output with call_id {it['call_id']}."
    for cid in calls:
        if cid not in outputs:
            return f"No tool output found for function call {cid}."
    return None


def _check_tools(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid type for 'tools': expected an array."
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or t.get("type") != "function":
                return f"Invalid value for 'tools[{i}].type'."
            if not isinstance(t.get("name"), str) or not TOOL_NAME.match(t["name"]):
                return f"Invalid 'tools[{i}].name': string does not match pattern '^[a-zA-Z0-9_-]+$' (max 64)."
            if "parameters" in t and not isinstance(t["parameters"], dict):
                return f"Invalid type for 'tools[{i}].parameters': expected an object."
            if t.get("strict", True) is True:
                return f"Invalid schema for function '{t['name']}': strict mode needs a closed schema (mock)."
            names.add(t["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if isinstance(choice, dict):
            if choice.get("type") != "function" or choice.get("name") not in names:
                return "Tool choice 'function' not found in 'tools' parameter."
        elif choice not in ("none", "auto", "required"):
            return "Invalid value for 'tool_choice'."
    return None


def validate_responses_request(body: Any, *, chatgpt: bool = False) -> tuple[str, str] | None:
    """(kind, message) of the first problem the API would report, or None. kind "detail" = Codex backend style."""
    if not isinstance(body, dict):
        return "error", "We could not parse the JSON body of your request."
    for key in body:
        if key not in KNOWN_PARAMS:
            return "error", f"Unknown parameter: '{key}'."
    if chatgpt:
        for key in CHATGPT_UNSUPPORTED:
            if key in body:
                return "detail", f"Unsupported parameter: {key}"
        if body.get("store") is not False:
            return "detail", "Store must be set to false"
        if body.get("stream") is not True:
            return "detail", "Stream must be set to true"
        if not isinstance(body.get("instructions"), str):
            return "detail", "Instructions are required"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "error", "Missing required parameter: 'model'."
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    if not isinstance(items, list):
        return "error", "Invalid type for 'input': expected a string or an array."
    for i, it in enumerate(items):
        problem = _check_item(i, it)
        if problem:
            return "error", problem
    v = body.get("max_output_tokens")
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 16):
        return "error", "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16."
    for key, hi in (("temperature", 2.0), ("top_p", 1.0)):
        t = body.get(key)
        if t is not None and (not isinstance(t, int | float) or isinstance(t, bool) or not 0 <= t <= hi):
            return "error", f"Invalid '{key}': decimal out of range. Expected a value between 0 and {hi:g}."
    reasoning = body.get("reasoning")
    if reasoning is not None and (
        not isinstance(reasoning, dict) or reasoning.get("effort") not in (None, "minimal", "low", "medium", "high")
    ):
        return "error", "Invalid value for 'reasoning.effort'."
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if fmt is not None and fmt.get("type") == "json_schema" and not isinstance(fmt.get("schema"), dict):
        return "error", "Missing required parameter: 'text.format.schema'."
    problem = _check_tools(body) or _check_pairs(items)
    return ("error", problem) if problem else None


# ---------------------------------------------------------------------------------------------
# reply planning


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def to_chat_view(body: dict[str, Any]) -> dict[str, Any]:
    """The request seen as a chat.completions body, so :func:`plan_reply` can plan the answer."""
    messages: list[dict[str, Any]] = []
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    for it in items or []:
        kind = it.get("type", "message")
        if kind == "message":
            role = "system" if it.get("role") in ("system", "developer") else it.get("role")
            messages.append({"role": role, "content": _text(it.get("content"))})
        elif kind == "function_call":
            call = {
                "id": it["call_id"],
                "type": "function",
                "function": {"name": it["name"], "arguments": it["arguments"]},
            }
            if messages and messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": it["call_id"], "content": _text(it.get("output"))})
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    tools = [
        {"type": "function", "function": {"name": t["name"], "parameters": t.get("parameters") or {}}}
        for t in body.get("tools") or []
    ]
    if tools:
        chat["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        chat["tool_choice"] = choice
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {"schema": fmt.get("schema")}}
    if isinstance(body.get("max_output_tokens"), int):
        chat["max_tokens"] = body["max_output_tokens"]
    return chat


class MockResponses(MockOpenAI):
    """An aiohttp server that imitates ``POST /v1/responses``; see the module docstring."""

    def __init__(
        self,
        name: str = "responses",
        chunks: int = 3,
        require_key: str | None = None,
        *,
        text: str | None = None,
        reasoning: bool = False,
        summary_parts: int = 2,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        delay_ms: float = 0,
        chatgpt: bool = False,
        token_ok: Callable[[str, str | None], bool] | None = None,
        no_reasoning_models: Sequence[str] = (),
        models: Sequence[str] = ("gpt-5-mock", "gpt-5-codex-mock"),
    ) -> None:
        super().__init__(
            name,
            chunks,
            require_key,
            text=text,
            reasoning=reasoning,
            cached_tokens=cached_tokens,
            delay_ms=delay_ms,
            models=models,
        )
        self.summary_parts = max(1, summary_parts)
        self.cache_write_tokens = cache_write_tokens
        self.chatgpt = chatgpt
        self.token_ok = token_ok
        self.no_reasoning_models = set(no_reasoning_models)

    def add_fault(self, fault: Fault | str | dict[str, Any], **fields_: Any) -> Fault:
        if not isinstance(fault, Fault):
            fields_.setdefault("path", "/responses")
        return super().add_fault(fault, **fields_)

    def responses_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/responses")]

    # ---- dispatch ----------------------------------------------------------------------------

    def _detail(self, rec: RecordedRequest, status: int, detail: str) -> web.Response:
        return self._json(rec, status, {"detail": detail})

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
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if self.chatgpt:
            account = request.headers.get("chatgpt-account-id")
            if not token or (self.token_ok is not None and not self.token_ok(token, account)):
                return self._json(
                    rec, 401, {"detail": "Could not parse your authentication token. Please try signing in again."}
                )
        elif self.require_key is not None and self.require_key not in (token, request.headers.get("api-key")):
            return self._error(rec, 401, "Incorrect API key provided (mock).", "invalid_api_key")
        if method == "GET" and path.endswith("/models"):
            data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": self.name} for m in self.models]
            return self._json(rec, 200, {"object": "list", "data": data})
        if method != "POST" or not path.endswith("/responses"):
            return self._error(rec, 404, f"Invalid URL ({method} {path})")
        if rec.json is None:
            return self._error(rec, 400, "We could not parse the JSON body of your request.")
        problem = validate_responses_request(rec.json, chatgpt=self.chatgpt)
        if (
            problem is None
            and isinstance(rec.json.get("reasoning"), dict)
            and rec.json["model"] in self.no_reasoning_models
        ):
            problem = ("error", "Unsupported parameter: 'reasoning.effort' is not supported with this model.")
        if problem is not None:
            kind, message = problem
            return self._detail(rec, 400, message) if kind == "detail" else self._error(rec, 400, message)
        return await self._respond(request, rec, rec.json, fault)

    # ---- the answer --------------------------------------------------------------------------

    def _plan(self, body: dict[str, Any]) -> tuple[Reply, list[str]]:
        want = self.reasoning or isinstance(body.get("reasoning"), dict)
        reply = plan_reply(to_chat_view(body), self.text)
        summaries = list(REASONING_PARTS[: self.summary_parts]) if want else []
        return reply, summaries

    def _usage(self, raw_len: int, reply: Reply, summaries: list[str]) -> dict[str, Any]:
        chars = len(reply.text or "") + sum(len(c["arguments"]) + len(c["name"]) for c in reply.tool_calls)
        reasoning = sum(len(s) for s in summaries) // 4
        prompt = max(1, raw_len // 4)
        output = max(1, round(chars / 4)) + reasoning
        return {
            "input_tokens": prompt,
            "input_tokens_details": {
                "cached_tokens": min(self.cached_tokens, prompt),
                "cache_write_tokens": min(self.cache_write_tokens, prompt - min(self.cached_tokens, prompt)),
            },
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + output,
        }

    def _items(self, reply: Reply, summaries: list[str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if summaries:
            items.append(
                {
                    "type": "reasoning",
                    "id": _new_id("rs_"),
                    "summary": [{"type": "summary_text", "text": s} for s in summaries],
                }
            )
        if reply.text:
            items.append(
                {
                    "type": "message",
                    "id": _new_id("msg_"),
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}],
                }
            )
        for c in reply.tool_calls:
            items.append(
                {
                    "type": "function_call",
                    "id": _new_id("fc_"),
                    "call_id": c["id"],
                    "name": c["name"],
                    "arguments": c["arguments"],
                    "status": "completed",
                }
            )
        return items

    def _response(self, body: dict[str, Any], rid: str, created: int, status: str, output: list[Any]) -> dict[str, Any]:
        return {
            "id": rid,
            "object": "response",
            "created_at": created,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body["model"],
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": None,
            "user": None,
            "metadata": {},
        }

    def _final(
        self, body: dict[str, Any], rid: str, created: int, reply: Reply, summaries: list[str], raw_len: int
    ) -> dict[str, Any]:
        resp = self._response(body, rid, created, "completed", self._items(reply, summaries))
        if reply.finish_reason == "length":
            resp["status"] = "incomplete"
            resp["incomplete_details"] = {"reason": "max_output_tokens"}
        resp["usage"] = self._usage(raw_len, reply, summaries)
        return resp

    def _events(self, body: dict[str, Any], final: dict[str, Any]) -> list[dict[str, Any]]:
        """The SSE events of ``final``, in the API's order (sequence numbers added by the caller)."""
        start = {**final, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": start},
            {"type": "response.in_progress", "response": start},
        ]
        for n, item in enumerate(final["output"]):
            base = {"output_index": n, "item_id": item["id"]}
            if item["type"] == "reasoning":
                events.append(
                    {"type": "response.output_item.added", "output_index": n, "item": {**item, "summary": []}}
                )
                for k, part in enumerate(item["summary"]):
                    empty = {"type": "summary_text", "text": ""}
                    events.append(
                        {"type": "response.reasoning_summary_part.added", **base, "summary_index": k, "part": empty}
                    )
                    for piece in _split(part["text"], self.chunks):
                        events.append(
                            {
                                "type": "response.reasoning_summary_text.delta",
                                **base,
                                "summary_index": k,
                                "delta": piece,
                            }
                        )
                    events.append(
                        {
                            "type": "response.reasoning_summary_text.done",
                            **base,
                            "summary_index": k,
                            "text": part["text"],
                        }
                    )
                    events.append(
                        {"type": "response.reasoning_summary_part.done", **base, "summary_index": k, "part": part}
                    )
            elif item["type"] == "message":
                events.append(
                    {
                        "type": "response.output_item.added",
                        "output_index": n,
                        "item": {**item, "status": "in_progress", "content": []},
                    }
                )
                part = item["content"][0]
                events.append(
                    {"type": "response.content_part.added", **base, "content_index": 0, "part": {**part, "text": ""}}
                )
                for piece in _split(part["text"], self.chunks):
                    events.append(
                        {
                            "type": "response.output_text.delta",
                            **base,
                            "content_index": 0,
                            "delta": piece,
                            "logprobs": [],
                        }
                    )
                events.append(
                    {
                        "type": "response.output_text.done",
                        **base,
                        "content_index": 0,
                        "text": part["text"],
                        "logprobs": [],
                    }
                )
                events.append({"type": "response.content_part.done", **base, "content_index": 0, "part": part})
            else:
                added = {**item, "arguments": "", "status": "in_progress"}
                events.append({"type": "response.output_item.added", "output_index": n, "item": added})
                for piece in _split(item["arguments"], self.chunks):
                    events.append({"type": "response.function_call_arguments.delta", **base, "delta": piece})
                events.append({"type": "response.function_call_arguments.done", **base, "arguments": item["arguments"]})
            events.append({"type": "response.output_item.done", "output_index": n, "item": item})
        end = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        events.append({"type": end, "response": final})
        return events

    @staticmethod
    def _failure_code(fault: Fault) -> str:
        if fault.code:
            return fault.code
        if fault.status == 429:
            return "rate_limit_exceeded"
        return "server_error" if fault.status >= 500 else "invalid_prompt"

    async def _respond(
        self, request: web.Request, rec: RecordedRequest, body: dict[str, Any], fault: Fault | None
    ) -> web.StreamResponse:
        reply, summaries = self._plan(body)
        rid, created = _new_id("resp_"), int(time.time())
        final = self._final(body, rid, created, reply, summaries, len(rec.body))
        kind = fault.kind if fault else None
        if not body.get("stream"):
            return await self._reply_body(request, rec, _dumps(final).encode(), fault)
        events = self._events(body, final)
        resp = web.StreamResponse(status=200)
        resp.headers["Content-Type"] = "text/event-stream; charset=utf-8"
        resp.headers["Cache-Control"] = "no-cache"
        rec.status = 200
        await resp.prepare(request)
        seq = 0

        def frame(ev: dict[str, Any]) -> bytes:
            nonlocal seq
            ev = {**ev, "sequence_number": seq}
            seq += 1
            return f"event: {ev['type']}\ndata: {_dumps(ev)}\n\n".encode()

        message = (fault.message if fault else None) or "The server had an error processing your request (mock)."
        if kind == "error_event" and fault is not None:
            failed = {**final, "status": "failed", "output": [], "usage": None}
            failed["error"] = {"code": self._failure_code(fault), "message": message}
            for ev in (events[0], events[1], {"type": "response.failed", "response": failed}):
                await self._write(request, resp, frame(ev))
            await resp.write_eof()
            return resp
        # mid-stream faults strike after the first delta with content, or after `after_chunks` events
        first_delta = next((i for i, e in enumerate(events) if e["type"].endswith(".delta")), 2)
        cut = fault.after_chunks if fault is not None and fault.after_chunks is not None else first_delta + 1
        for i, ev in enumerate(events):
            if fault is not None and i == cut:
                if kind == "drop":
                    self._close(request, reset=False)
                    return resp
                if kind == "error_mid":
                    err = {"type": "error", "code": self._failure_code(fault), "message": message, "param": None}
                    await self._write(request, resp, frame(err))
                    await resp.write_eof()
                    return resp
                if kind == "malformed":
                    await self._write(request, resp, b"event: response.output_text.delta\ndata: {not json\n\n")
                    await resp.write_eof()
                    return resp
                if kind == "truncate":
                    break
                if kind == "stall_mid":
                    await self._wait(request, fault.seconds)
            await self._write(request, resp, frame(ev))
            if self.delay_ms:
                await self._wait(request, self.delay_ms / 1000)
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp


# ---------------------------------------------------------------------------------------------
# standalone use


async def _serve(args: argparse.Namespace) -> int:
    mock = MockResponses(
        args.name,
        args.chunks,
        args.require_key,
        text=args.text,
        reasoning=args.reasoning,
        delay_ms=args.delay_ms,
        cached_tokens=args.cached_tokens,
    )
    for spec in args.fault or []:
        mock.add_fault(spec)
    return await serve_until_stopped(mock, args.host, args.port, args.max_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.mocks.responses",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--name", default="responses")
    ap.add_argument("--chunks", type=int, default=3)
    ap.add_argument("--require-key", default=None)
    ap.add_argument("--text", default=None)
    ap.add_argument("--reasoning", action="store_true")
    ap.add_argument("--cached-tokens", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--fault", action="append", help="KIND[:TIMES[:SECONDS]] or JSON; repeatable")
    ap.add_argument("--max-seconds", type=float, default=3600)
    args = ap.parse_args(argv)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
