"""Interactive login: pending attempts kept server-side, completion, and the loopback callback server.

:class:`PendingLogins` is shared by the CLI and the admin API. ``start`` returns only the URL, the ``state``
and instructions; the PKCE verifier never leaves the process. ``complete`` takes whatever the user pasted
(or the loopback callback) and stores the login through the :class:`TokenManager`. :class:`CallbackServer` is
that loopback listener: a one-route Starlette app served by ``uvicorn.Server`` on sockets we bind ourselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from claude_code_mux.auth import pkce
from claude_code_mux.auth.oauth import (
    CallbackInput,
    TokenEndpointError,
    build_authorize_url,
    check_state,
    create_api_key,
    exchange_code,
    parse_callback,
)
from claude_code_mux.auth.pending import PendingStates
from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import TokenRecord
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.errors import OAuthError

log = logging.getLogger(__name__)

Mode = Literal["max", "console"]
DEFAULT_PROVIDER_ID = "claude-max"
CALLBACK_TIMEOUT_S = 180.0


def is_loopback(redirect_uri: str) -> bool:
    """A ``http://localhost:PORT/callback`` redirect served by our own callback server."""
    parts = urlsplit(redirect_uri)
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1") and parts.path == "/callback"


@dataclass(frozen=True, slots=True)
class _Pending:
    verifier: Secret
    mode: Mode
    provider_id: str
    redirect_uri: str
    created_at: float


class PendingLogins:
    """Login attempts in progress, keyed by ``state``; each expires after ``ttl_s`` and is used once."""

    def __init__(self, manager: TokenManager, *, ttl_s: float = 600.0, max_pending: int = 16) -> None:
        self.manager = manager
        self._pending: PendingStates[_Pending] = PendingStates(
            lambda: manager.clock(), ttl_s=ttl_s, max_pending=max_pending
        )

    def __repr__(self) -> str:
        return f"PendingLogins({len(self._pending)} pending)"

    def start(
        self, mode: Mode = "max", provider_id: str = DEFAULT_PROVIDER_ID, redirect_uri: str | None = None
    ) -> dict[str, str]:
        """Begin a login: ``{url, state, instructions}``. Nothing secret is returned."""
        if mode not in ("max", "console"):
            raise OAuthError("mode must be 'max' or 'console'")
        if not provider_id or not provider_id.strip():
            raise OAuthError("provider id must not be empty")
        settings = self.manager.settings
        redirect = redirect_uri or settings.redirect_uri
        verifier = pkce.generate_verifier()
        state = pkce.generate_state()
        self._pending.add(state, _Pending(Secret(verifier), mode, provider_id, redirect, self.manager.clock()))
        url = build_authorize_url(
            settings, mode=mode, challenge=pkce.challenge(verifier), state=state, redirect_uri=redirect
        )
        if is_loopback(redirect):
            instructions = (
                "Open the URL and approve access. The browser comes back to this machine and the login "
                "completes by itself; if it does not, paste the address of the page the browser ended on."
            )
        else:
            instructions = (
                "Open the URL, approve access, then paste the code shown on the page (it looks like code#state)."
            )
        if mode == "console":
            instructions += " Console mode also creates an API key."
        return {"url": url, "state": state, "instructions": instructions}

    def is_pending(self, state: str) -> bool:
        return self._pending.has(state)

    async def complete(
        self, code_input: str | CallbackInput, state: str | None = None, *, provider_id: str | None = None
    ) -> TokenRecord:
        """Finish a login from a paste (``code#state``, URL, query, bare code) or a callback; store it under
        ``provider_id`` when given (the original's exchange names it there), else the id given at start."""
        parsed = code_input if isinstance(code_input, CallbackInput) else parse_callback(code_input)
        check_state(parsed.state, state)
        key, pending = self._pending.take(
            state or parsed.state,
            whole_paste="paste the whole value shown after authorizing (code#state), not only the code",
            unknown="this login attempt is unknown or has expired (attempts last 10 minutes); start the login again",
        )
        manager = self.manager
        session = manager.session_factory()
        try:
            tokens = await exchange_code(
                session,
                manager.settings,
                code=parsed.code,
                state=key,
                verifier=pending.verifier.reveal(),
                redirect_uri=pending.redirect_uri,
            )
        except TokenEndpointError as exc:
            if exc.transient:  # the code may be unused: let the user try the same paste again
                self._pending.put_back(key, pending)
            raise
        # Store the login first: the code is spent, so a failure below must not lose the tokens.
        pid = provider_id or pending.provider_id
        record = await manager.save_login(pid, tokens)
        log.info("logged in '%s' (%s mode)", pid, pending.mode)
        if pending.mode == "console":
            raw = await create_api_key(session, manager.settings, tokens.access_token.reveal())
            record = replace(record, api_key=Secret(raw))
            await manager.save_record(record)
            log.info("created an API key for '%s'", pid)
        return record


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>claude-code-mux login</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em}}</style></head>
<body><h1>{title}</h1><p>{message}</p></body></html>
"""
CALLBACK_HEAD_LIMIT = 16 * 1024  # h11 refuses a head still incomplete past this many bytes
CALLBACK_QUERY_LIMIT = 8 * 1024  # a browser's redirect carries a few hundred bytes of query


def _page(title: str, message: str, status: int) -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message))
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``SO_REUSEADDR`` like asyncio's servers; IPv6 sockets v6-only)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C stays the CLI's (it aborts the login)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class CallbackServer:
    """A one-shot ``GET /callback`` listener on ``127.0.0.1`` for the loopback redirect."""

    def __init__(self, port: int, path: str = "/callback") -> None:
        self.port = port
        self.path = path
        self.expected_state: str | None = None
        self.result: asyncio.Future[CallbackInput] = asyncio.get_running_loop().create_future()
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def redirect_uri(self) -> str:
        return f"http://localhost:{self.port}{self.path}"

    @classmethod
    async def start(
        cls, ports: tuple[int, int] = (8765, 8795), *, host: str = "127.0.0.1", path: str = "/callback"
    ) -> CallbackServer | None:
        """Listen on the first free port in ``ports`` (inclusive); ``None`` if every port is taken.

        ``path`` is the callback path (the ChatGPT login's registered redirect uses ``/auth/callback``).
        """
        for port in range(ports[0], ports[1] + 1):
            try:
                sockets = [_listen(host, port)]
            except OSError:
                continue
            if host == "127.0.0.1":  # "localhost" may resolve to ::1 first; listen there too when possible
                with contextlib.suppress(OSError):
                    sockets.append(_listen("::1", port))
            server = cls(port, path)
            server._serve(sockets)
            return server
        return None

    def _serve(self, sockets: list[socket.socket]) -> None:
        async def handle(request: Request) -> HTMLResponse:
            return self._handle(request)

        app = Starlette(routes=[Route(self.path, handle, methods=["GET"])])
        config = uvicorn.Config(
            app,
            http="h11",  # bounds the request head (h11_max_incomplete_event_size)
            h11_max_incomplete_event_size=CALLBACK_HEAD_LIMIT,
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,  # no access log: URLs carry codes
            server_header=False,
            date_header=False,
            proxy_headers=False,
            limit_concurrency=16,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=2,
        )
        self._server = _Uvicorn(config)
        # The sockets already listen, so a browser that comes back at once waits in the backlog, not refused.
        self._task = asyncio.create_task(self._server.serve(sockets))
        self._task.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self.result.done():
            self.result.set_exception(OAuthError(f"the callback server stopped: {type(task.exception()).__name__}"))

    def _handle(self, request: Request) -> HTMLResponse:
        if len(request.url.query) > CALLBACK_QUERY_LIMIT:  # a whole head can arrive in one read, past h11's bound
            return _page("Login failed", "The callback address is too long.", 414)
        query = request.query_params
        if query.get("error"):
            error = query.get("error", "")[:100]
            desc = query.get("error_description", "")[:300]
            if not self.result.done():
                self.result.set_exception(OAuthError(f"authorization was refused: {error} {desc}".strip()))
            return _page("Login failed", f"{error}: {desc}" if desc else error, 400)
        code, state = query.get("code", ""), query.get("state", "")
        if not code or not state:
            return _page("Login failed", "The callback is missing its code or state.", 400)
        if self.expected_state is not None and state != self.expected_state:
            return _page("Login failed", "This response belongs to a different login attempt.", 400)
        if not self.result.done():
            self.result.set_result(CallbackInput(code, state))
        return _page("Login complete", "You can close this tab and return to the terminal.", 200)

    async def wait(self, seconds: float = CALLBACK_TIMEOUT_S) -> CallbackInput:
        """The callback's code and state; raises ``TimeoutError`` after ``seconds``."""
        async with asyncio.timeout(seconds):
            return await asyncio.shield(self.result)

    async def close(self) -> None:
        if self.result.done() and not self.result.cancelled():
            self.result.exception()  # mark retrieved
        else:
            self.result.cancel()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True  # uvicorn closes the sockets and idle connections, then returns
            await asyncio.wait([self._task], timeout=5)
            if not self._task.done():
                self._task.cancel()
