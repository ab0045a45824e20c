"""ChatGPT and Gemini CLI logins started from the admin API or the device page.

One :class:`AdminLogins` per server (kept in the admin state, like the Claude :class:`PendingLogins`). A login is
keyed by its ``state``; the PKCE verifier never leaves the process. While a login is pending, a loopback
:class:`~claude_code_mux.auth.login.CallbackServer` listens where its redirect points (ChatGPT: the port and path
of ``[oauth.chatgpt] redirect_uri``, 1455 ``/auth/callback``; Gemini: the first free port of ``[oauth]
callback_ports``, ``/callback``) and completes the login by itself when the browser comes back to this machine.
When that port is busy, or the browser runs elsewhere, the user pastes the address the browser ended on
(``complete``); the listener of a login completed by paste is closed, a new start of the same kind takes the
port over (the older attempt can still be pasted), and listeners live at most ``ttl_s`` and end with the server.

Gemini logins exchange the code at Google, discover the Code Assist project (``loadCodeAssist`` /
``onboardUser``) and store a record with ``source = "gemini-cli"`` and ``project_id`` in the shared store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import stat
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from claude_code_mux.auth import gemini_cli, pkce
from claude_code_mux.auth.chatgpt import NOTICE as CHATGPT_NOTICE
from claude_code_mux.auth.chatgpt import ChatGPTLogins
from claude_code_mux.auth.code_input import CallbackInput, check_state, parse_callback
from claude_code_mux.auth.codex_credentials import default_codex_path, import_codex
from claude_code_mux.auth.gemini_cli import NOTICE as GEMINI_NOTICE
from claude_code_mux.auth.gemini_cli import GeminiCliSettings
from claude_code_mux.auth.gemini_tokens import GeminiCliTokens
from claude_code_mux.auth.login import CallbackServer
from claude_code_mux.auth.oauth import TokenEndpointError
from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import TokenRecord
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.errors import CcmError, OAuthError

log = logging.getLogger(__name__)

Kind = Literal["chatgpt", "gemini"]
NOTICES: dict[str, str] = {"chatgpt": CHATGPT_NOTICE, "gemini": GEMINI_NOTICE}
GEMINI_MANUAL_REDIRECT = "https://codeassist.google.com/authcode"  # Google's page that shows the code
MAX_RESULTS = 64
MAX_CODEX_FILE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _GeminiPending:
    verifier: Secret
    provider_id: str
    redirect_uri: str
    project: str | None
    created_at: float
    code_assist_url: str | None = None


def loopback_address(redirect_uri: str) -> tuple[int, str] | None:
    """(port, path) when ``redirect_uri`` is a ``http://localhost:PORT/...`` address we can listen on."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("localhost", "127.0.0.1") or parts.port is None:
        return None
    return parts.port, parts.path or "/"


def _check_small_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return  # import_codex says what to do about a missing login
    except OSError as exc:
        raise OAuthError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CODEX_FILE:
        raise OAuthError(f"{path} is not a Codex CLI login file (a JSON file of at most {MAX_CODEX_FILE} bytes)")


class AdminLogins:
    """Pending ChatGPT and Gemini CLI logins with their loopback listeners, and how each ended."""

    def __init__(
        self,
        manager: TokenManager,
        *,
        gemini: GeminiCliSettings | None = None,
        ttl_s: float = 600.0,
        max_pending: int = 16,
    ) -> None:
        self.manager = manager
        self.chatgpt = ChatGPTLogins(manager, ttl_s=ttl_s, max_pending=max_pending)
        self.gemini_settings = gemini or GeminiCliSettings.from_env()
        self._ttl_s = ttl_s
        self._max_pending = max_pending
        self._gemini: dict[str, _GeminiPending] = {}
        self._kinds: dict[str, Kind] = {}
        self._listeners: dict[Kind, tuple[str, CallbackServer, asyncio.Task[None]]] = {}
        self._results: OrderedDict[str, dict[str, str]] = OrderedDict()

    def __repr__(self) -> str:
        return f"AdminLogins({len(self._kinds)} pending)"

    # -- starting --

    async def start(
        self, kind: Kind, provider_id: str, *, project: str | None = None, code_assist_url: str | None = None
    ) -> dict[str, object]:
        """Begin a login: ``{url, state, redirect_uri, instructions, notice, listening}`` (nothing secret).

        Gemini: ``project`` is the Code Assist project to use (else discovered), ``code_assist_url`` where
        discovery goes (the base URL of the provider that uses this login; else the settings').
        """
        if kind == "chatgpt":
            info: dict[str, object] = dict(self.chatgpt.start(provider_id))
            address = loopback_address(str(info["redirect_uri"]))
            server = None
            if address is not None:
                await self._close_listener(kind)
                server = await CallbackServer.start((address[0], address[0]), path=address[1])
        else:
            await self._close_listener(kind)
            server = await CallbackServer.start(self.manager.settings.callback_ports)
            info = self._start_gemini(provider_id, project, server.redirect_uri if server else None, code_assist_url)
        state = str(info["state"])
        self._remember_kind(state, kind)
        if server is not None:
            server.expected_state = state
            task = asyncio.create_task(self._await_callback(kind, state, server), name=f"{kind}-login-callback")
            self._listeners[kind] = (state, server, task)
        elif kind == "chatgpt":
            info["instructions"] = (
                f"Open the URL and sign in. This server cannot listen on {info['redirect_uri']} (the port is taken), "
                "so the browser will end on a page that does not load: paste that page's address here."
            )
        info["notice"] = NOTICES[kind]
        info["listening"] = server is not None
        self._results[state] = {"status": "pending", "provider_id": provider_id}
        self._trim_results()
        return info

    def _start_gemini(
        self, provider_id: str, project: str | None, loopback: str | None, code_assist_url: str | None
    ) -> dict[str, object]:
        if not provider_id.strip():
            raise OAuthError("provider id must not be empty")
        verifier, state = pkce.generate_verifier(), pkce.generate_state()
        redirect = loopback or GEMINI_MANUAL_REDIRECT
        self._purge()
        self._gemini[state] = _GeminiPending(
            Secret(verifier), provider_id, redirect, project, self.manager.clock(), code_assist_url
        )
        url = gemini_cli.build_authorize_url(
            self.gemini_settings, redirect_uri=redirect, state=state, challenge=pkce.challenge(verifier)
        )
        if loopback:
            how = (
                f"The browser comes back to {loopback} and the login completes by itself; if that page does not "
                "load (another machine), paste the address the browser ended on."
            )
        else:
            how = "Google then shows an authorization code: paste it here."
        return {
            "url": url,
            "state": state,
            "redirect_uri": redirect,
            "instructions": f"Open the URL and sign in with your Google account. {how}",
        }

    def _purge(self) -> None:
        now = self.manager.clock()
        for state in [s for s, p in self._gemini.items() if now - p.created_at > self._ttl_s]:
            del self._gemini[state]
        while len(self._gemini) >= self._max_pending:
            del self._gemini[next(iter(self._gemini))]

    def _remember_kind(self, state: str, kind: Kind) -> None:
        self._kinds[state] = kind
        while len(self._kinds) > 2 * self._max_pending:
            del self._kinds[next(iter(self._kinds))]

    def _trim_results(self) -> None:
        while len(self._results) > MAX_RESULTS:
            self._results.popitem(last=False)

    # -- completing --

    def owns(self, state: str | None) -> bool:
        """True when ``state`` names a ChatGPT or Gemini login started here."""
        return state is not None and state in self._kinds

    def state_of(self, code_input: str, state: str | None) -> str | None:
        """The login a paste belongs to: the given state, else the one inside the pasted URL (if ours)."""
        if state is not None:
            return state
        with contextlib.suppress(OAuthError):
            found = parse_callback(code_input).state
            return found if self.owns(found) else None
        return None

    async def complete(self, code_input: str | CallbackInput, state: str) -> TokenRecord:
        """Finish the login ``state`` from a paste (URL, ``code=..&state=..``, bare code) or the callback."""
        kind = self._kinds.get(state)
        if kind is None:
            raise OAuthError("this login attempt is unknown or has expired; start the login again")
        try:
            if kind == "chatgpt":
                record = await self.chatgpt.complete(code_input, state)
            else:
                record = await self._complete_gemini(code_input, state)
        except CcmError as exc:
            self._results[state] = {"status": "failed", "message": str(exc)[:500]}
            raise
        self._kinds.pop(state, None)
        self._results[state] = {"status": "done", "provider_id": record.provider_id}
        listener = self._listeners.get(kind)
        if listener is not None and listener[0] == state and asyncio.current_task() is not listener[2]:
            await self._close_listener(kind)
        return record

    async def _complete_gemini(self, code_input: str | CallbackInput, state: str) -> TokenRecord:
        parsed = code_input if isinstance(code_input, CallbackInput) else parse_callback(code_input)
        check_state(parsed.state, state)
        self._purge()
        pending = self._gemini.pop(state, None)
        if pending is None:
            raise OAuthError("this login attempt is unknown or has expired; start the login again")
        session = self.manager.session_factory()
        settings = self.gemini_settings
        if pending.code_assist_url:
            settings = replace(settings, code_assist_url=pending.code_assist_url)
        try:
            tokens = await gemini_cli.exchange_code(
                session,
                settings,
                code=parsed.code,
                verifier=pending.verifier.reveal(),
                redirect_uri=pending.redirect_uri,
            )
        except TokenEndpointError as exc:
            if exc.transient:
                self._gemini[state] = pending
            raise
        if tokens.refresh_token is None:
            raise OAuthError("Google returned no refresh token; start the login again")
        record = replace(
            TokenRecord.from_token_set(pending.provider_id, tokens, self.manager.clock()),
            source=gemini_cli.SOURCE,
            project_id=pending.project,
        )
        # Store first: the code is spent, so a failing discovery must not lose the login (it is retried on use).
        await self.manager.save_record(record)
        project = await gemini_cli.discover_project(
            session, settings, tokens.access_token.reveal(), project=pending.project
        )
        record = replace(record, project_id=project)
        await self.manager.save_record(record)
        log.info("logged in '%s' (Gemini CLI, project %s)", pending.provider_id, project)
        return record

    def result(self, state: str) -> dict[str, str]:
        """How the login ``state`` stands: ``pending``, ``done`` (with ``provider_id``), ``failed`` or ``unknown``."""
        return dict(self._results.get(state) or {"status": "unknown"})

    # -- the loopback listeners --

    async def _await_callback(self, kind: Kind, state: str, server: CallbackServer) -> None:
        try:
            got = await server.wait(self._ttl_s)
            await self.complete(got, state)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the result says why; the listener must not leak an unretrieved error
            if self._results.get(state, {}).get("status") == "pending":
                self._results[state] = {"status": "failed", "message": str(exc)[:500]}
            log.warning("%s login from the loopback callback failed: %s", kind, type(exc).__name__)
        finally:
            await server.close()
            current = self._listeners.get(kind)
            if current is not None and current[1] is server:
                del self._listeners[kind]

    async def _close_listener(self, kind: Kind) -> None:
        current = self._listeners.pop(kind, None)
        if current is None:
            return
        _, server, task = current
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await server.close()

    async def close(self) -> None:
        for kind in list(self._listeners):
            await self._close_listener(kind)

    # -- imports and refreshes --

    async def import_codex(self, provider_id: str, path: str | None) -> TokenRecord:
        """Import the Codex CLI's login from ``path`` (default ``~/.codex/auth.json``): a regular file of at most
        ``MAX_CODEX_FILE`` bytes (a path like ``/dev/zero`` must not make the server read forever)."""
        where = (Path(path) if path else default_codex_path()).expanduser()
        await asyncio.to_thread(_check_small_file, where)
        record = await import_codex(provider_id, where)
        await self.manager.save_record(record)
        return record

    async def refresh_gemini(self, record: TokenRecord, code_assist_url: str | None = None) -> None:
        """Refresh a Gemini CLI login now (Google's token endpoint), discovering its project when missing."""
        settings = self.gemini_settings
        if code_assist_url:
            settings = replace(settings, code_assist_url=code_assist_url)
        tokens = GeminiCliTokens(self.manager.store, record.provider_id, settings)
        try:
            await tokens.credentials(rejected=record.access_token.reveal())
        finally:
            await tokens.close()
