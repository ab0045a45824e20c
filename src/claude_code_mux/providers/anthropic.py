"""Anthropic Messages dialect: lossless passthrough of the client's bytes, headers and SSE stream.

It POSTs through the provider's :class:`~claude_code_mux.providers.transport.Transport` and catches only
``TransportError``; every failure leaves as an ``UpstreamFailure`` for the dispatcher.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Any, Protocol

import orjson

from claude_code_mux.errors import TransportError, error_body, error_type_for_status
from claude_code_mux.providers.base import (
    HOP_BY_HOP,
    RETRYABLE_STATUSES,
    Provider,
    RequestContext,
    UpstreamFailure,
    UpstreamReply,
)
from claude_code_mux.providers.credentials import TokenSource, auth_headers, static_auth_headers
from claude_code_mux.providers.reading import (
    first_event_end,
    read_error_body,
    read_first_event,
    transport_failure,
)
from claude_code_mux.providers.transport import Timeouts, Transport, UpstreamResponse
from claude_code_mux.wire.sse import SSEDecoder

# Client headers that are ours or credentials (credentials are set per provider).
_NOT_FORWARDED = HOP_BY_HOP | {"x-api-key", "authorization", "x-provider", "cookie"}
# Upstream response headers that we never pass back.
_NOT_RETURNED = HOP_BY_HOP | {"date", "server", "set-cookie", "alt-svc", "via"}
# Status an in-stream error event stands for, for failover and pass-through.
_EVENT_STATUS = {
    "overloaded_error": 529,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
}


def forward_headers(client: Mapping[str, str], provider: Provider) -> dict[str, str]:
    out = {k: v for k, v in client.items() if k not in _NOT_FORWARDED and not k.startswith("x-ccm-")}
    out.setdefault("anthropic-version", "2023-06-01")
    for k, v in provider.headers.items():
        out[k.lower()] = v
    return out


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


def response_headers(resp: _HasHeaders) -> dict[str, str]:
    """The upstream's headers we pass back (a transport's header names are lower-cased already)."""
    return {k: v for k, v in resp.headers.items() if k not in _NOT_RETURNED}


_START = b"event: message_start\ndata: "


def rewrite_start_model(first: bytes, model: str) -> bytes:
    """Echo the client's model in ``message_start`` (only the first event is touched, and only when the model
    differs: then it is re-serialised)."""
    end = first_event_end(first)
    if end == -1 or not first.startswith(b"event: message_start"):
        return first
    data: Any = None
    if first.startswith(_START) and first.find(b"\n", len(_START)) == end - 2 and first.find(b"\r", 0, end) == -1:
        # The usual frame, one data line: parsed from the bytes (the decoder below would decode it to str first).
        try:
            data = orjson.loads(first[len(_START) : end - 2])
        except orjson.JSONDecodeError:
            data = None  # e.g. invalid UTF-8, which the decoder replaces: decided below as before
    if data is None:
        events = SSEDecoder().feed(first[:end])
        if not events or events[0].event != "message_start":
            return first
        try:
            data = orjson.loads(events[0].data)
        except orjson.JSONDecodeError:
            return first
    try:
        message = data["message"]
        if type(message) is dict and message.get("model") == model:
            return first  # already the client's model (a passthrough's usual case): the upstream's bytes as they are
        message["model"] = model
    except (KeyError, TypeError):
        return first
    return _START + orjson.dumps(data) + b"\n\n" + first[end:]


def echo_model(body: bytes, model: str) -> bytes:
    """Answer with the model name the client asked for, like the original claude-code-mux."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(data, dict) or "model" not in data or data["model"] == model:
        return body
    data["model"] = model
    return orjson.dumps(data)


class AnthropicDialect:
    """Forwards to ``{base_url}/v1/...`` with only ``model`` changed."""

    def __init__(
        self,
        transports: Mapping[str, Transport],
        *,
        timeouts: Timeouts,
        tokens: TokenSource | None,
        oauth_beta: str,
    ) -> None:
        self._transports = transports
        self._timeouts = timeouts
        self._tokens = tokens
        self._oauth_beta = oauth_beta

    # send and count_tokens are plain functions handing out _post's coroutine: the dispatcher awaits it directly,
    # one coroutine layer less on each resumption of the request.
    def send(self, ctx: RequestContext, provider: Provider, model: str) -> Coroutine[Any, Any, UpstreamReply]:
        return self._post(ctx, provider, model, ctx.path, stream_ok=True)

    def count_tokens(self, ctx: RequestContext, provider: Provider, model: str) -> Coroutine[Any, Any, UpstreamReply]:
        return self._post(ctx, provider, model, "/v1/messages/count_tokens", stream_ok=False)

    async def _post(
        self, ctx: RequestContext, provider: Provider, model: str, path: str, *, stream_ok: bool
    ) -> UpstreamReply:
        data = ctx.anthropic_bytes(model)
        headers = forward_headers(ctx.headers, provider)
        oauth = provider.auth_type == "oauth"
        if oauth:
            creds = await auth_headers(
                provider, ctx.headers, router_key=ctx.router_key, tokens=self._tokens, oauth_beta=self._oauth_beta
            )
        else:
            creds = static_auth_headers(provider, ctx.headers, router_key=ctx.router_key)
        headers.update(creds)
        url = provider.base_url + path
        if ctx.query and path == ctx.path:
            url += "?" + ctx.query
        transport = self._transports.get(provider.name)
        if transport is None:
            raise UpstreamFailure(f"{provider.name}: no transport for this provider")
        retried = False
        while True:  # the attempt, written out here (no coroutine of its own): at most twice
            try:
                resp = await transport.post(url, headers, data, self._timeouts)
            except TransportError as exc:
                raise transport_failure(provider.name, exc) from None
            try:
                if resp.status >= 400:
                    failure = await _status_failure(resp, provider.name)
                else:
                    hdrs = response_headers(resp)
                    ctype = resp.headers.get("content-type", "")
                    if stream_ok and ctype.startswith("text/event-stream"):
                        first = await read_first_event(resp, provider.name)
                        event_failure = _error_event(first, provider.name)
                        if event_failure is None:
                            return UpstreamReply(
                                status=resp.status,
                                headers=hdrs,
                                first=rewrite_start_model(first, ctx.client_model),
                                chunks=_iterate(resp, provider.name),
                                close=resp.close,
                                guard=True,
                            )
                        resp.close()
                        failure = event_failure
                    else:
                        body = await resp.read()
                        resp.release()
                        if path == "/v1/messages":
                            body = echo_model(body, ctx.client_model)
                        return UpstreamReply(status=resp.status, headers=hdrs, body=body)
            except TransportError as exc:
                resp.close()
                raise transport_failure(provider.name, exc) from None
            except BaseException:
                resp.close()
                raise
            # One forced refresh and one retry on a 401 with an OAuth token, never a loop.
            if retried or not oauth or self._tokens is None or failure.status != 401:
                raise failure
            rejected = creds["authorization"][7:]
            fresh = await self._tokens.force_refresh(provider.oauth_id, rejected)
            if fresh == rejected:
                raise failure
            headers["authorization"] = f"Bearer {fresh}"
            retried = True


async def _status_failure(resp: UpstreamResponse, name: str) -> UpstreamFailure:
    """An HTTP error answer as the attempt's failure (its body read, bounded)."""
    body = await read_error_body(resp)
    if body is None:
        body = error_body(error_type_for_status(resp.status), f"{name}: HTTP {resp.status} (error body too long)")
    return UpstreamFailure(
        f"{name}: HTTP {resp.status}",
        status=resp.status,
        body=body,
        headers=response_headers(resp),
        retryable=resp.status in RETRYABLE_STATUSES,
    )


def _error_event(first: bytes, name: str) -> UpstreamFailure | None:
    if not first.lstrip().startswith(b"event: error"):
        return None
    etype, message = "api_error", "error event from upstream"
    for ev in SSEDecoder().feed(first) + SSEDecoder().close():
        if ev.event == "error":
            try:
                err = orjson.loads(ev.data)["error"]
                etype, message = str(err.get("type", etype)), str(err.get("message", message))
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                pass
            break
    status = _EVENT_STATUS.get(etype, 500)
    return UpstreamFailure(
        f"{name}: error event {etype}",
        status=status,
        body=error_body(etype, message),
        retryable=status in RETRYABLE_STATUSES,
        error_type=etype,
    )


async def _iterate(resp: UpstreamResponse, name: str) -> AsyncIterator[bytes]:
    """The rest of the stream; a transport failure mid-stream comes out as an UpstreamFailure."""
    try:
        while chunk := await resp.readany():
            yield chunk
    except TransportError as exc:
        raise transport_failure(name, exc) from None
    finally:
        resp.close()


def status_type(status: int) -> str:
    return error_type_for_status(status)
