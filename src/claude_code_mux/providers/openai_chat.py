"""OpenAI Chat Completions dialect: translate the request, the answer and the stream (sans-IO translators).

It POSTs through the provider's :class:`~claude_code_mux.providers.transport.Transport` and catches only
``TransportError``; every failure leaves as an ``UpstreamFailure`` for the dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping

import orjson

from claude_code_mux.errors import TransportError, error_body, error_type_for_status
from claude_code_mux.providers.anthropic import response_headers
from claude_code_mux.providers.base import (
    RETRYABLE_STATUSES,
    Provider,
    RequestContext,
    UpstreamFailure,
    UpstreamReply,
)
from claude_code_mux.providers.credentials import TokenSource, auth_headers
from claude_code_mux.providers.reading import MAX_FIRST_EVENT_BYTES, read_error_body, transport_failure
from claude_code_mux.providers.transport import Timeouts, Transport, UpstreamResponse
from claude_code_mux.routing.estimate import estimate_tokens
from claude_code_mux.translate.openai_request import to_openai_request
from claude_code_mux.translate.openai_response import from_openai_response, openai_error_to_anthropic
from claude_code_mux.translate.openai_stream import OpenAIStreamTranslator
from claude_code_mux.translate.quirks import tool_name_map

_KEEP = ("retry-after", "x-request-id", "request-id")


def _failure(provider: Provider, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamFailure:
    etype, message = openai_error_to_anthropic(status, body)
    return UpstreamFailure(
        f"{provider.name}: HTTP {status}: {message}"[:500],
        status=status,
        body=error_body(etype, f"{provider.name}: {message}"),
        headers={k: v for k, v in headers.items() if k.lower() in _KEEP},
        retryable=status in RETRYABLE_STATUSES,
        error_type=etype,
    )


class OpenAIChatDialect:
    """POST ``{base_url}/chat/completions`` with a translated body; answers come back as Anthropic."""

    def __init__(
        self,
        transports: Mapping[str, Transport],
        *,
        timeouts: Timeouts,
        tokens: TokenSource | None,
    ) -> None:
        self._transports = transports
        self._timeouts = timeouts
        self._tokens = tokens

    async def count_tokens(self, ctx: RequestContext, provider: Provider, model: str) -> UpstreamReply:
        n = estimate_tokens(ctx.working_body())
        return UpstreamReply(
            status=200, headers={"content-type": "application/json"}, body=orjson.dumps({"input_tokens": n})
        )

    async def send(self, ctx: RequestContext, provider: Provider, model: str) -> UpstreamReply:
        body = to_openai_request(ctx.working_body(), model=model, preset=provider.preset)
        names = tool_name_map(ctx.working_body()) if provider.preset.quirks else None
        cap = provider.max_output_tokens
        if cap is not None:
            for key in ("max_tokens", "max_completion_tokens"):
                if isinstance(body.get(key), int) and body[key] > cap:
                    body[key] = cap
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if ctx.stream else "application/json",
        }
        for k, v in provider.headers.items():
            headers[k.lower()] = v
        headers.update(
            await auth_headers(provider, ctx.headers, router_key=ctx.router_key, tokens=self._tokens, oauth_beta="")
        )
        url = provider.base_url + "/chat/completions"
        transport = self._transports.get(provider.name)
        if transport is None:
            raise UpstreamFailure(f"{provider.name}: no transport for this provider")
        try:
            resp = await transport.post(url, headers, orjson.dumps(body), self._timeouts)
        except TransportError as exc:
            raise transport_failure(provider.name, exc) from None
        try:
            if resp.status >= 400:
                raw = await read_error_body(resp)
                raise _failure(provider, resp.status, b"error body too long" if raw is None else raw, resp.headers)
            out_headers = {k: v for k, v in response_headers(resp).items() if k.lower() in _KEEP}
            ctype = resp.headers.get("content-type", "")
            if ctx.stream:
                if not ctype.startswith("text/event-stream"):
                    # Some servers ignore `stream`: translate the JSON answer into a stream.
                    raw = await resp.read()
                    resp.release()
                    return self._json_as_stream(ctx, provider, raw, out_headers, names)
                return await self._stream(ctx, provider, resp, out_headers, names)
            raw = await resp.read()
            resp.release()
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise UpstreamFailure(f"{provider.name}: answer is not JSON", status=502) from None
            if isinstance(data, dict) and "error" in data and "choices" not in data:
                raise _failure(provider, 502, raw, resp.headers)
            msg = from_openai_response(data, model=ctx.client_model, tool_names=names)
            out_headers["content-type"] = "application/json"
            return UpstreamReply(status=200, headers=out_headers, body=orjson.dumps(msg), usage=msg.get("usage", {}))
        except TransportError as exc:
            resp.close()
            raise transport_failure(provider.name, exc) from None
        except BaseException:
            resp.close()
            raise

    def _json_as_stream(
        self,
        ctx: RequestContext,
        provider: Provider,
        raw: bytes,
        headers: dict[str, str],
        names: dict[str, str] | None,
    ) -> UpstreamReply:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamFailure(f"{provider.name}: answer is not JSON", status=502) from None
        from claude_code_mux.translate.anthropic_stream import message_to_events

        msg = from_openai_response(data, model=ctx.client_model, tool_names=names)
        sse = message_to_events(msg)
        headers["content-type"] = "text/event-stream; charset=utf-8"

        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""  # pragma: no cover

        return UpstreamReply(status=200, headers=headers, first=sse, chunks=nothing())

    async def _stream(
        self,
        ctx: RequestContext,
        provider: Provider,
        resp: UpstreamResponse,
        headers: dict[str, str],
        names: dict[str, str] | None,
    ) -> UpstreamReply:
        tr = OpenAIStreamTranslator(model=ctx.client_model, message_id="msg_" + uuid.uuid4().hex[:24], tool_names=names)
        first = b""
        seen = 0
        # Read until the translator produced output: an error payload before that triggers failover.
        while not first:
            chunk = await resp.readany()
            seen += len(chunk)
            if seen > MAX_FIRST_EVENT_BYTES:
                raise UpstreamFailure(
                    f"{provider.name}: no output in the first {MAX_FIRST_EVENT_BYTES} bytes", status=502
                )
            if not chunk:
                first = tr.close()
                if tr.error is not None and not tr.started:
                    break
                if not first:
                    raise UpstreamFailure(f"{provider.name}: stream ended before any output", status=502)
                break
            first = tr.feed(chunk)
            if tr.error is not None and not first:
                break
        if tr.error is not None and not tr.started:
            resp.close()
            etype, message = tr.error
            status = {"rate_limit_error": 429, "overloaded_error": 529, "authentication_error": 401}.get(etype, 502)
            raise UpstreamFailure(
                f"{provider.name}: error in stream: {message}"[:500],
                status=status,
                body=error_body(etype, f"{provider.name}: {message}"),
                retryable=status in RETRYABLE_STATUSES or status == 502,
                error_type=etype if etype else error_type_for_status(status),
            )
        headers["content-type"] = "text/event-stream; charset=utf-8"
        headers["cache-control"] = "no-cache"
        reply = UpstreamReply(status=200, headers=headers, first=first, close=resp.close)
        reply.chunks = _translate(resp, tr, reply, provider.name)
        return reply


async def _translate(
    resp: UpstreamResponse, tr: OpenAIStreamTranslator, reply: UpstreamReply, name: str
) -> AsyncIterator[bytes]:
    try:
        if not tr.finished:
            async for chunk in resp.iter_any():
                out = tr.feed(chunk)
                if out:
                    yield out
                if tr.finished:
                    break
            tail = tr.close()
            if tail:
                yield tail
        reply.usage = dict(tr.usage)
        if tr.finished:
            await _drain_end(resp)
    except TransportError as exc:
        raise transport_failure(name, exc) from None
    finally:
        resp.close()  # a no-op when the drained connection already went back to its pool


async def _drain_end(resp: UpstreamResponse, limit_s: float = 0.5) -> None:
    """Read what follows the end of the answer (``[DONE]``, the chunked terminator) so the connection is reused.

    The translator stops at ``finish_reason`` / ``[DONE]``; without this the connection was dropped and every
    request paid a new TCP (and TLS) handshake. A server that keeps sending after the end is cut off.
    """
    with contextlib.suppress(TimeoutError, TransportError):
        async with asyncio.timeout(limit_s):
            while await resp.readany():
                pass
