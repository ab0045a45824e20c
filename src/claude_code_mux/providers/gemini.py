"""Gemini dialect: ``generateContent`` / ``streamGenerateContent?alt=sse`` and ``countTokens``.

One dialect for Google AI Studio (API key), Vertex AI (google-auth) and Code Assist (the Gemini CLI login); a
:mod:`~claude_code_mux.providers.gemini_targets` target per provider says where and how. The request, the
answer and the stream are translated by the sans-IO modules ``translate/gemini_*``. Built on the transport
seam: only ``TransportError`` is caught from it. A 401 from a token-based target forces one token refresh and
one retry; a 429's ``RetryInfo.retryDelay`` becomes ``retry-after``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from claude_code_mux import __version__
from claude_code_mux.errors import HttpError, TransportError, UpstreamError, error_body, error_event
from claude_code_mux.providers.base import RETRYABLE_STATUSES, Provider, RequestContext, UpstreamFailure, UpstreamReply
from claude_code_mux.providers.gemini_targets import GeminiTarget, Prepared
from claude_code_mux.providers.transport import Timeouts, Transport, UpstreamResponse
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.translate.anthropic_stream import message_to_events
from claude_code_mux.translate.gemini_request import to_gemini_request
from claude_code_mux.translate.gemini_response import (
    GeminiAnswerError,
    from_gemini_response,
    gemini_error,
    retry_after_header,
)
from claude_code_mux.translate.gemini_stream import GeminiStreamTranslator
from claude_code_mux.wire.gemini import GenerateContentRequest

_KEEP = ("retry-after", "x-request-id", "request-id")
MAX_SIGNATURES = 4096
MAX_DECLARATIONS = 512
_STATUS_FOR = {"rate_limit_error": 429, "overloaded_error": 529, "authentication_error": 401}


@dataclass(frozen=True, slots=True)
class GeminiRoute:
    """One provider's target and its configured safety settings."""

    target: GeminiTarget
    safety_settings: Sequence[dict[str, str]] = field(default_factory=tuple)


def _failure(provider: Provider, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamFailure:
    etype, message, delay = gemini_error(status, body)
    kept = {k: v for k, v in headers.items() if k.lower() in _KEEP}
    kept.update(retry_after_header(delay))
    if etype == "authentication_error":
        status = 401
    return UpstreamFailure(
        f"{provider.name}: HTTP {status}: {message}"[:500],
        status=status,
        body=error_body(etype, f"{provider.name}: {message}"),
        headers=kept,
        retryable=status in RETRYABLE_STATUSES,
        error_type=etype,
    )


class GeminiDialect:
    """Anthropic in, Gemini out, Anthropic back."""

    def __init__(
        self, transports: Mapping[str, Transport], timeouts: Timeouts, *, routes: Mapping[str, GeminiRoute]
    ) -> None:
        self._transports = transports
        self._timeouts = timeouts
        self._routes = routes
        # tool_use id -> Gemini's thoughtSignature for that call, sent back with the history (bounded, oldest out).
        self._signatures: OrderedDict[str, str] = OrderedDict()
        # A tool's JSON -> its Gemini declaration (the same tools come with every request); emptied when full.
        self._declarations: dict[bytes, dict[str, Any]] = {}

    def remember_signatures(self, found: Mapping[str, str]) -> None:
        self._signatures.update(found)
        while len(self._signatures) > MAX_SIGNATURES:
            self._signatures.popitem(last=False)

    def _route(self, provider: Provider) -> tuple[GeminiRoute, Transport]:
        route, transport = self._routes.get(provider.name), self._transports.get(provider.name)
        if route is None or transport is None:
            raise UpstreamFailure(f"{provider.name}: no Gemini route configured", status=500, retryable=True)
        return route, transport

    def _request(
        self, ctx: RequestContext, provider: Provider, model: str, route: GeminiRoute
    ) -> GenerateContentRequest:
        if len(self._declarations) > MAX_DECLARATIONS:
            self._declarations.clear()
        req = to_gemini_request(
            ctx.working_body(),
            model=model,
            safety_settings=route.safety_settings,
            signatures=self._signatures,
            declarations=self._declarations,
        )
        cap = provider.max_output_tokens
        gen = req.get("generationConfig")
        if cap is not None and gen is not None and gen.get("maxOutputTokens", 0) > cap:
            gen["maxOutputTokens"] = cap
        return req

    async def _post(
        self,
        provider: Provider,
        route: GeminiRoute,
        transport: Transport,
        model: str,
        method: str,
        req: GenerateContentRequest,
    ) -> UpstreamResponse:
        """POST, refreshing the token once after a 401 (the error response is returned as it is otherwise)."""
        rejected: str | None = None
        for attempt in (0, 1):
            prepared = await self._prepare(provider, route, model, method, req, rejected)
            headers = {
                "content-type": "application/json",
                "user-agent": f"claude-code-mux/{__version__}",
                **{k.lower(): v for k, v in provider.headers.items()},
                **prepared.headers,
            }
            try:
                resp = await transport.post(prepared.url, headers, orjson.dumps(prepared.body), self._timeouts)
            except TransportError as exc:
                raise UpstreamFailure(f"{provider.name}: {type(exc).__name__}: {exc}") from None
            if resp.status == 401 and attempt == 0 and route.target.refreshable and prepared.token:
                with contextlib.suppress(TransportError):
                    await resp.read()
                resp.release()
                rejected = prepared.token
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    async def _prepare(
        self,
        provider: Provider,
        route: GeminiRoute,
        model: str,
        method: str,
        req: GenerateContentRequest,
        rejected: str | None,
    ) -> Prepared:
        try:
            return await route.target.prepare(model, method, req, rejected)
        except HttpError as exc:  # no usable credentials: the next candidate may have some
            raise UpstreamFailure(
                f"{provider.name}: {exc.message}",
                status=exc.status,
                body=error_body(exc.error_type, f"{provider.name}: {exc.message}"),
                error_type=exc.error_type,
            ) from None
        except UpstreamError as exc:
            raise UpstreamFailure(f"{provider.name}: {exc}", status=502) from None

    # ---- count_tokens ----------------------------------------------------------------------------

    async def count_tokens(self, ctx: RequestContext, provider: Provider, model: str) -> UpstreamReply:
        """Gemini's exact ``countTokens``; the local estimate when that fails for any reason."""
        n: int | None = None
        kind = "estimate"
        with contextlib.suppress(UpstreamFailure, TransportError):
            route, transport = self._route(provider)
            req = self._request(ctx, provider, model, route)
            resp = await self._post(provider, route, transport, model, "countTokens", req)
            try:
                raw = await resp.read()
            finally:
                resp.release()
            data = orjson.loads(raw) if resp.status == 200 else None
            data = data.get("response", data) if isinstance(data, dict) and "totalTokens" not in data else data
            total = data.get("totalTokens") if isinstance(data, dict) else None
            if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
                n, kind = total, "exact"
        if n is None:
            n = estimate_tokens(ctx.working_body())
        return UpstreamReply(
            status=200,
            headers={"content-type": "application/json", "x-ccm-count": kind},
            body=orjson.dumps({"input_tokens": n}),
        )

    # ---- messages --------------------------------------------------------------------------------

    async def send(self, ctx: RequestContext, provider: Provider, model: str) -> UpstreamReply:
        route, transport = self._route(provider)
        req = self._request(ctx, provider, model, route)
        method = "streamGenerateContent" if ctx.stream else "generateContent"
        resp = await self._post(provider, route, transport, model, method, req)
        try:
            if resp.status >= 400:
                raw = await resp.read()
                resp.release()
                raise _failure(provider, resp.status, raw, resp.headers)
            out_headers = {k: v for k, v in resp.headers.items() if k.lower() in _KEEP}
            if ctx.stream and resp.headers.get("content-type", "").startswith("text/event-stream"):
                return await self._stream(ctx, provider, resp, out_headers)
            raw = await resp.read()
            resp.release()
            msg = self._message(ctx, provider, raw)
            if ctx.stream:
                out_headers["content-type"] = "text/event-stream; charset=utf-8"
                return UpstreamReply(status=200, headers=out_headers, first=message_to_events(msg), chunks=_nothing())
            out_headers["content-type"] = "application/json"
            return UpstreamReply(status=200, headers=out_headers, body=orjson.dumps(msg), usage=msg.get("usage", {}))
        except TransportError as exc:
            resp.close()
            raise UpstreamFailure(f"{provider.name}: {type(exc).__name__}: {exc}") from None
        except BaseException:
            resp.close()
            raise

    def _message(self, ctx: RequestContext, provider: Provider, raw: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamFailure(f"{provider.name}: answer is not JSON", status=502) from None
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise UpstreamFailure(f"{provider.name}: answer is not a JSON object", status=502)
        if "error" in data and "candidates" not in data:
            raise _failure(provider, 502, raw, {})
        found: dict[str, str] = {}
        try:
            msg = from_gemini_response(data, model=ctx.client_model, signatures=found)
            self.remember_signatures(found)
            return msg
        except GeminiAnswerError as exc:
            raise UpstreamFailure(
                f"{provider.name}: {exc.message}",
                status=502,
                body=error_body(exc.etype, f"{provider.name}: {exc.message}"),
                error_type=exc.etype,
            ) from None

    async def _stream(
        self, ctx: RequestContext, provider: Provider, resp: UpstreamResponse, headers: dict[str, str]
    ) -> UpstreamReply:
        tr = GeminiStreamTranslator(model=ctx.client_model, message_id="msg_" + uuid.uuid4().hex[:24])
        first = b""
        while not first and not tr.finished:
            chunk = await resp.readany()
            first = tr.feed(chunk) if chunk else tr.close()
            if not chunk and not first and not tr.finished:
                raise UpstreamFailure(f"{provider.name}: stream ended before any output", status=502)
        if tr.error is not None and not tr.started:
            resp.close()
            etype, message = tr.error
            status = _STATUS_FOR.get(etype, 502)
            raise UpstreamFailure(
                f"{provider.name}: error in stream: {message}"[:500],
                status=status,
                body=error_body(etype, f"{provider.name}: {message}"),
                retryable=True,
                error_type=etype,
            )
        headers["content-type"] = "text/event-stream; charset=utf-8"
        headers["cache-control"] = "no-cache"
        reply = UpstreamReply(status=200, headers=headers, first=first, close=resp.close)
        reply.chunks = _translate(resp, tr, reply, self.remember_signatures)
        return reply


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


async def _translate(
    resp: UpstreamResponse,
    tr: GeminiStreamTranslator,
    reply: UpstreamReply,
    remember: Callable[[Mapping[str, str]], None],
) -> AsyncIterator[bytes]:
    try:
        if not tr.finished:
            try:
                async for chunk in resp.iter_any():
                    out = tr.feed(chunk)
                    if out:
                        yield out
                    if tr.finished:
                        break
            except TransportError as exc:  # after the first byte: the stream ends with an error event
                yield error_event("api_error", f"upstream connection failed: {type(exc).__name__}")
                return
            tail = tr.close()
            if tail:
                yield tail
        reply.usage = dict(tr.usage)
        if tr.finished:
            resp.release()
    finally:
        remember(tr.signatures)
        resp.close()
