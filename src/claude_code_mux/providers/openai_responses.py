"""OpenAI Responses dialect (``POST {base_url}/responses``): the API, Azure OpenAI and the ChatGPT Codex backend.

The translation is sans-IO (:mod:`~claude_code_mux.translate.responses_request`, ``responses_response``,
``responses_stream``); this module only sends, reads and decides about failover. A preset with
``stream_only`` (the ChatGPT backend) is always asked for a stream; a non-streaming client request is then
answered by folding the translated stream into one message. That backend also gets the account id header
from the token's claims and no sampling or output-limit parameters (it rejects them).

Claude Code asks for thinking on most requests; a model without reasoning support answers 400 to
``reasoning``, so such a 400 is retried once without it and the (provider, model) is remembered.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from claude_code_mux import __version__
from claude_code_mux.auth.chatgpt_claims import account_id_from_token
from claude_code_mux.errors import TransportError, error_body
from claude_code_mux.providers.base import (
    RETRYABLE_STATUSES,
    Provider,
    RequestContext,
    UpstreamFailure,
    UpstreamReply,
)
from claude_code_mux.providers.credentials import TokenSource, auth_headers
from claude_code_mux.providers.transport import Timeouts, Transport, UpstreamResponse
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.translate.anthropic_fold import fold_anthropic_events
from claude_code_mux.translate.anthropic_stream import message_to_events
from claude_code_mux.translate.quirks import tool_name_map
from claude_code_mux.translate.responses_request import to_responses_request
from claude_code_mux.translate.responses_response import (
    error_status,
    from_responses_response,
    responses_error_to_anthropic,
)
from claude_code_mux.translate.responses_stream import ResponsesStreamTranslator
from claude_code_mux.wire.anthropic import Usage

_KEEP = ("retry-after", "x-request-id", "request-id")
# The ChatGPT backend rejects these ("Unsupported parameter").
_STREAM_ONLY_DROP = ("max_output_tokens", "temperature", "top_p")
DEFAULT_INSTRUCTIONS = "You are a helpful assistant."
USER_AGENT = f"claude-code-mux/{__version__}"
# A folded (non-streaming) answer read from a stream is bounded like any body.
_MAX_FOLD_BYTES = 64 * 1024 * 1024


def _url(base: str, path: str) -> str:
    """``base`` + ``path``, keeping a query written into the base URL (Azure ``?api-version=...``)."""
    head, sep, query = base.partition("?")
    return head.rstrip("/") + path + (sep + query if sep else "")


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() in _KEEP}


def _failure(provider: Provider, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamFailure:
    try:
        payload: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        payload = raw.decode("utf-8", "replace").strip()[:500] or None
    etype, message = responses_error_to_anthropic(status, payload)
    return UpstreamFailure(
        f"{provider.name}: HTTP {status}: {message}"[:500],
        status=status,
        body=error_body(etype, f"{provider.name}: {message}"),
        headers=_kept(headers),
        retryable=status in RETRYABLE_STATUSES,
        error_type=etype,
    )


def _stream_failure(provider: Provider, error: tuple[str, str]) -> UpstreamFailure:
    etype, message = error
    status = error_status(etype)
    return UpstreamFailure(
        f"{provider.name}: error in stream: {message}"[:500],
        status=status,
        body=error_body(etype, f"{provider.name}: {message}"),
        retryable=status in RETRYABLE_STATUSES or status == 502,
        error_type=etype,
    )


class OpenAIResponsesDialect:
    """POST ``{base_url}/responses`` with a translated body; answers come back as Anthropic."""

    def __init__(self, transports: Mapping[str, Transport], *, timeouts: Timeouts, tokens: TokenSource | None) -> None:
        self._transports = transports
        self._timeouts = timeouts
        self._tokens = tokens
        # (provider, model) pairs that rejected ``reasoning`` (non-reasoning models): it is left out for them.
        self._no_reasoning: set[tuple[str, str]] = set()

    async def count_tokens(self, ctx: RequestContext, provider: Provider, model: str) -> UpstreamReply:
        n = estimate_tokens(ctx.working_body())
        return UpstreamReply(
            status=200, headers={"content-type": "application/json"}, body=orjson.dumps({"input_tokens": n})
        )

    def body_for(self, ctx: RequestContext, provider: Provider, model: str) -> dict[str, Any]:
        """The upstream JSON body (public for tests and ``ccm route``-style inspection)."""
        stream_only = provider.preset.stream_only
        body: dict[str, Any] = dict(
            to_responses_request(ctx.working_body(), model=model, stream=True if stream_only else ctx.stream)
        )
        cap = provider.max_output_tokens
        if cap is not None and isinstance(body.get("max_output_tokens"), int) and body["max_output_tokens"] > cap:
            body["max_output_tokens"] = cap
        if (provider.name, model) in self._no_reasoning:
            body.pop("reasoning", None)
        if stream_only:
            for key in _STREAM_ONLY_DROP:
                body.pop(key, None)
            body.setdefault("instructions", DEFAULT_INSTRUCTIONS)
        return body

    async def _headers(self, ctx: RequestContext, provider: Provider, stream: bool) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "user-agent": USER_AGENT,
        }
        for k, v in provider.headers.items():
            headers[k.lower()] = v
        headers.update(
            await auth_headers(provider, ctx.headers, router_key=ctx.router_key, tokens=self._tokens, oauth_beta="")
        )
        return headers

    def _set_token(self, provider: Provider, headers: dict[str, str], token: str) -> None:
        headers["authorization"] = f"Bearer {token}"
        if provider.preset.stream_only:
            account = account_id_from_token(token)
            if account:
                headers["chatgpt-account-id"] = account

    async def send(self, ctx: RequestContext, provider: Provider, model: str) -> UpstreamReply:
        body = self.body_for(ctx, provider, model)
        upstream_stream = body.get("stream") is True
        names = tool_name_map(ctx.working_body())
        headers = await self._headers(ctx, provider, upstream_stream)
        if provider.auth_type == "oauth" and "authorization" in headers:
            self._set_token(provider, headers, headers["authorization"][7:])
        data = orjson.dumps(body)
        resp = await self._post(provider, headers, data)
        if resp.status == 401 and provider.auth_type == "oauth" and self._tokens is not None:
            # One forced refresh and one retry, never a loop.
            rejected = headers["authorization"][7:]
            raw = await self._read(provider, resp)
            fresh = await self._tokens.force_refresh(provider.oauth_provider or provider.name, rejected)
            if fresh == rejected:
                raise _failure(provider, 401, raw, resp.headers)
            self._set_token(provider, headers, fresh)
            resp = await self._post(provider, headers, data)
        if resp.status == 400 and "reasoning" in body:
            raw = await self._read(provider, resp)
            if b"reasoning" not in raw:
                raise _failure(provider, 400, raw, resp.headers)
            # A model without reasoning support: remember it and ask once more without (a 400 did not run).
            self._no_reasoning.add((provider.name, model))
            del body["reasoning"]
            resp = await self._post(provider, headers, orjson.dumps(body))
        try:
            if resp.status >= 400:
                raw = await resp.read()
                resp.release()
                raise _failure(provider, resp.status, raw, resp.headers)
            out_headers = _kept(resp.headers)
            is_sse = resp.headers.get("content-type", "").startswith("text/event-stream")
            if ctx.stream and is_sse:
                return await self._stream(ctx, provider, resp, out_headers, names)
            if is_sse:
                return await self._fold(ctx, provider, resp, out_headers, names)
            raw = await resp.read()
            resp.release()
            msg = self._message(ctx, provider, raw, names)
            if ctx.stream:  # a server that ignored `stream`: replay the answer as a stream
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

    async def _post(self, provider: Provider, headers: Mapping[str, str], data: bytes) -> UpstreamResponse:
        transport = self._transports.get(provider.name)
        if transport is None:
            raise UpstreamFailure(f"{provider.name}: no transport configured", status=502)
        try:
            return await transport.post(_url(provider.base_url, "/responses"), headers, data, self._timeouts)
        except TransportError as exc:
            raise UpstreamFailure(f"{provider.name}: {type(exc).__name__}: {exc}") from None

    @staticmethod
    async def _read(provider: Provider, resp: UpstreamResponse) -> bytes:
        """The (error) body of ``resp``, which is then released."""
        try:
            raw = await resp.read()
        except TransportError as exc:
            resp.close()
            raise UpstreamFailure(f"{provider.name}: {type(exc).__name__}: {exc}") from None
        resp.release()
        return raw

    def _message(self, ctx: RequestContext, provider: Provider, raw: bytes, names: dict[str, str]) -> dict[str, Any]:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamFailure(f"{provider.name}: answer is not JSON", status=502) from None
        if not isinstance(data, dict):
            raise UpstreamFailure(f"{provider.name}: answer is not a JSON object", status=502)
        if data.get("status") == "failed" or ("error" in data and "output" not in data):
            raise _failure(provider, 502, raw, {})
        return dict(from_responses_response(data, model=ctx.client_model, tool_names=names))

    async def _fold(
        self,
        ctx: RequestContext,
        provider: Provider,
        resp: UpstreamResponse,
        headers: dict[str, str],
        names: dict[str, str],
    ) -> UpstreamReply:
        """A non-streaming answer from an upstream stream: translate it and fold the events into one message."""
        tr = ResponsesStreamTranslator(model=ctx.client_model, tool_names=names)
        out: list[bytes] = []
        size = 0
        async for chunk in resp.iter_any():
            size += len(chunk)
            if size > _MAX_FOLD_BYTES:
                resp.close()
                raise UpstreamFailure(f"{provider.name}: streamed answer exceeds {_MAX_FOLD_BYTES} bytes", status=502)
            out.append(tr.feed(chunk))
            if tr.finished:
                break
        out.append(tr.close())
        resp.close()
        if tr.error is not None:  # nothing reached the client yet: a failure, failover allowed
            raise _stream_failure(provider, tr.error)
        msg = fold_anthropic_events(b"".join(out))
        headers["content-type"] = "application/json"
        return UpstreamReply(status=200, headers=headers, body=orjson.dumps(msg), usage=_usage_dict(tr.usage))

    async def _stream(
        self,
        ctx: RequestContext,
        provider: Provider,
        resp: UpstreamResponse,
        headers: dict[str, str],
        names: dict[str, str],
    ) -> UpstreamReply:
        tr = ResponsesStreamTranslator(
            model=ctx.client_model, message_id="msg_" + uuid.uuid4().hex[:24], tool_names=names
        )
        first = b""
        # Read until the translator produced output: a failure before that allows failover.
        while not first and not tr.finished:
            chunk = await resp.readany()
            first = tr.feed(chunk) if chunk else tr.close()
            if not chunk:
                break
        if tr.error is not None and not tr.started:
            resp.close()
            raise _stream_failure(provider, tr.error)
        headers["content-type"] = "text/event-stream; charset=utf-8"
        headers["cache-control"] = "no-cache"
        reply = UpstreamReply(status=200, headers=headers, first=first, close=resp.close)
        reply.chunks = _translate(resp, tr, reply)
        return reply


def _usage_dict(usage: Usage) -> dict[str, int]:
    return {k: v for k, v in usage.items() if isinstance(v, int)}


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


async def _translate(
    resp: UpstreamResponse, tr: ResponsesStreamTranslator, reply: UpstreamReply
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
            except TransportError:
                pass  # the stream is cut: close() ends it with an error event
            tail = tr.close()
            if tail:
                yield tail
        reply.usage = _usage_dict(tr.usage)
    finally:
        resp.close()
