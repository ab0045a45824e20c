"""Build the one ASGI application: a small dispatcher in front of the hot routes and a Starlette app.

``POST /v1/messages``, ``count_tokens`` and ``/v1/chat/completions`` go to the plain ASGI handler
(:mod:`.api.hot`); ``HEAD /`` (Claude Code's preconnect) and ``GET /health`` are answered here; everything else
— the rest of ``/v1/*``, the admin API and UI, ``/metrics`` — to Starlette. Policy that applies to every request
lives here once: the ``Host`` rules of HTTP/1.1, the browser checks and CORS on ``/v1/*`` and ``/metrics``, client
auth and limits on ``/v1/*``, the login-endpoint limit, and the Anthropic error envelope for every failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from claude_code_mux import __version__
from claude_code_mux.errors import ClientGone, HttpError, InvalidRequest, error_body, error_type_for_status
from claude_code_mux.server.api.body import identify
from claude_code_mux.server.api.exchange import Send
from claude_code_mux.server.api.hot import HOT_ROUTES, key_rate_limit, send_error, serve_hot
from claude_code_mux.server.api.limits import AUTH_PREFIXES, admit, admit_async
from claude_code_mux.server.api.security import check_host, check_origin, cors_headers, preflight
from claude_code_mux.server.state import RuntimeHolder

if TYPE_CHECKING:  # the Starlette side is built on the first request for it (RouterApp.starlette)
    from starlette.applications import Starlette
    from starlette.datastructures import State
    from starlette.routing import BaseRoute

Receive = Callable[[], Awaitable[dict[str, Any]]]


def health_body(holder: RuntimeHolder) -> bytes:
    """``GET /health``: readiness for load balancers. Always 200 while the process serves; ``"degraded"`` when the
    shared state (Redis) or the usage database is down, since requests still flow on local state."""
    fleet = holder.fleet
    state = fleet.status() if fleet is not None else {"backend": "memory", "ok": True}
    usage_writer = holder.observers.usage
    usage = usage_writer.status() if usage_writer is not None else None
    ok = bool(state.get("ok", True)) and (usage is None or bool(usage.get("ok", True)))
    body = {
        "status": "ok" if ok else "degraded",
        "service": "claude-code-mux",
        "version": __version__,
        "state": state,
        "usage": usage,
    }
    return orjson.dumps(body)


_JSON = "application/json"


def client_headers(scope: dict[str, Any]) -> dict[str, str]:
    """Lower-cased headers (the last of repeated ones); HTTP/1.1 needs exactly one ``Host`` (RFC 9112 §3.2)."""
    headers: dict[str, str] = {}
    hosts = 0
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key == "host":
            hosts += 1
        headers[key] = value.decode("latin-1")
    if hosts > 1:
        raise InvalidRequest("the request has more than one Host header")
    if hosts == 0 and scope.get("http_version") == "1.1":
        raise InvalidRequest("an HTTP/1.1 request must have a Host header")
    return headers


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


class RouterApp:
    """The ASGI application uvicorn serves."""

    def __init__(self, holder: RuntimeHolder, make_starlette: Callable[[RouterApp], Starlette]) -> None:
        self.holder = holder
        self._make_starlette = make_starlette
        self._built: Starlette | None = None

    @property
    def starlette(self) -> Starlette:
        """The Starlette side, built on the first request that is neither a hot route nor ``HEAD /`` nor
        ``/health``: a router that only serves ``/v1/messages`` never imports Starlette's application, routing
        and middleware, nor the ``/v1/*`` passthrough."""
        app = self._built
        if app is None:
            app = self._built = self._make_starlette(self)
        return app

    @property
    def starlette_state(self) -> State | None:
        """The Starlette side's ``state``, if it was built."""
        return self._built.state if self._built is not None else None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)  # type: ignore[arg-type]
            return
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            headers = client_headers(scope)
        except HttpError as err:
            await send_error(send, err)
            return
        hot = HOT_ROUTES.get(path)
        if hot is not None and method == "POST":
            await serve_hot(self.holder, hot, scope, receive, send, headers)
            return
        if path == "/" and method == "HEAD":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/health" and method == "GET":
            body = health_body(self.holder)
            hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": hdrs})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            if path.startswith("/v1/") or path == "/metrics":
                guarded = await self._guard(scope, method, path, headers, send)
                if method == "OPTIONS" and path.startswith("/v1/"):
                    extra = preflight(headers, self.holder.current.config.server)
                    await send({"type": "http.response.start", "status": 204, "headers": extra})
                    await send({"type": "http.response.body", "body": b""})
                    return
                send = guarded
            elif path.startswith(AUTH_PREFIXES):
                s = self.holder.current.config.server
                client = scope.get("client")
                release = admit(self.holder.limiter, s, method, path, "addr:" + (client[0] if client else "?"))
                release()
        except HttpError as err:
            await send_error(send, err)
            return
        await self._starlette(scope, receive, send)

    async def _guard(self, scope: dict[str, Any], method: str, path: str, headers: dict[str, str], send: Send) -> Send:
        """Browser checks (and CORS headers) for /v1/* and /metrics; client auth and limits for /v1/*."""
        rt = self.holder.current
        s = rt.config.server
        check_host(headers, s, self.holder.bound_host)
        origin = check_origin(headers, s)
        if origin is not None:
            send = _with_headers(send, cors_headers(origin))
        if method == "OPTIONS" or not path.startswith("/v1/"):
            return send
        client = scope.get("client")
        identity, key = identify(rt, headers, client[0] if client else None, self.holder.gate)
        scope.setdefault("state", {})["identity"] = identity
        release = await admit_async(self.holder.limiter, s, method, path, identity)
        release()  # only POST /v1/messages* holds a concurrency slot, and those are the hot routes
        if key is not None:
            key_rate_limit(self.holder.limiter, key)
        return send

    async def _starlette(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.starlette(scope, receive, tracking)  # type: ignore[arg-type]
        except Exception as exc:
            # Already logged and answered by the exception handler below, unless it failed before that.
            if not started:
                rid = self._log_internal(exc, path=scope.get("path", "?"))
                err = HttpError(f"internal error in claude-code-mux (request id {rid}); see the log", status=500)
                await send_error(send, err)

    def _log_internal(self, exc: BaseException, path: str) -> str:
        rid = uuid.uuid4().hex[:12]
        self.holder.logger.error("internal error request_id=%s path=%s", rid, path, exc_info=exc)
        return rid


def build_app(holder: RuntimeHolder, extra_routes: Callable[[], Sequence[BaseRoute]] | None = None) -> RouterApp:
    """The ASGI app: API routes, then ``extra_routes()`` (the admin side), behind the dispatcher."""
    return RouterApp(holder, lambda app: _starlette_app(app, extra_routes() if extra_routes is not None else ()))


def _starlette_app(app: RouterApp, extra_routes: Sequence[BaseRoute]) -> Starlette:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response

    from claude_code_mux.server.api.routes import api_routes

    def envelope(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return Response(error_body(error_type_for_status(status), message), status, headers, _JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HttpError)
        return Response(exc.body(), exc.status, exc.headers, _JSON)

    async def starlette_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            msg = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            msg = f"method {request.method} is not allowed on {request.url.path}"
        else:
            msg = str(exc.detail)
        return envelope(exc.status_code, msg, dict(exc.headers or {}))

    async def client_gone(request: Request, exc: Exception) -> Response:
        return Response(status_code=499)  # nobody is listening (or the connection answered 408 itself)

    async def internal_error(request: Request, exc: Exception) -> Response:
        rid = app._log_internal(exc, request.url.path)
        return envelope(500, f"internal error in claude-code-mux (request id {rid}); see the log")

    starlette = Starlette(
        routes=[*api_routes(), *extra_routes],
        exception_handlers={
            HttpError: http_error,
            HTTPException: starlette_error,
            ClientGone: client_gone,
            Exception: internal_error,
        },
    )
    starlette.state.holder = app.holder
    return starlette
