"""``ccm login``, ``ccm logout``, ``ccm tokens`` and ``ccm tokens refresh``: subscription OAuth in a shell.

``login`` opens the browser when it can and catches the redirect on a loopback callback server (first free
port in the ``[oauth] callback_ports`` range, 180 s); the code can always be pasted instead, and
``--no-browser`` uses the hosted page that shows ``code#state``. ``--import-claude-code`` takes Claude Code's
own login; rotated tokens are then written back to its file after every refresh. Login ids ``chatgpt`` and
``chatgpt-*`` (and ``--import-codex``) run the ChatGPT login instead (:mod:`claude_code_mux.cli.chatgpt_login`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import webbrowser
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from claude_code_mux.auth.chatgpt import is_chatgpt_id
from claude_code_mux.auth.claude_credentials import default_credentials_path, import_claude_code
from claude_code_mux.auth.login import CALLBACK_TIMEOUT_S, DEFAULT_PROVIDER_ID, CallbackServer, PendingLogins
from claude_code_mux.auth.oauth import CallbackInput
from claude_code_mux.auth.settings import read_oauth_settings
from claude_code_mux.auth.store import TOKEN_FILE_NAME, FileStore, default_home, format_rfc3339
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.auth.wiring import make_manager, oauth_client
from claude_code_mux.cli.logout_models import _cleanup_plan, _offer_model_cleanup
from claude_code_mux.cli.tokens_seal import register_sealing
from claude_code_mux.errors import CcmError, OAuthError

T = TypeVar("T")
_IMPORT_DEFAULT = "\0default"


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    """Register ``login``, ``logout`` and ``tokens`` (with ``tokens refresh``)."""
    login = sub.add_parser(
        "login",
        parents=[common],
        help="log in to a Claude Pro/Max subscription, or ChatGPT with `ccm login chatgpt` (OAuth)",
        description="Log in with OAuth 2.0 + PKCE and store the tokens in <home>/oauth_tokens.json.",
    )
    login.add_argument("provider_id", nargs="?", default=DEFAULT_PROVIDER_ID, metavar="PROVIDER_ID")
    login.add_argument(
        "--mode",
        choices=("max", "console"),
        default="max",
        help="max: Claude Pro/Max subscription (default); console: also create an API key",
    )
    login.add_argument(
        "--no-browser", action="store_true", help="do not open a browser; print the URL and paste the code"
    )
    login.add_argument(
        "--import-claude-code",
        nargs="?",
        const=_IMPORT_DEFAULT,
        default=None,
        metavar="PATH",
        help="import Claude Code's login (default ~/.claude/.credentials.json) instead of logging in",
    )
    login.add_argument(
        "--import-codex",
        nargs="?",
        const=_IMPORT_DEFAULT,
        default=None,
        metavar="PATH",
        help="import the Codex CLI's ChatGPT login (default ~/.codex/auth.json) instead of logging in",
    )
    from claude_code_mux.cli import gemini_login

    gemini_login.add_arguments(login)
    login.set_defaults(func=cmd_login)

    logout = sub.add_parser("logout", parents=[common], help="forget a stored OAuth login")
    logout.add_argument("provider_id", nargs="?", default=DEFAULT_PROVIDER_ID, metavar="PROVIDER_ID")
    logout.add_argument(
        "--remove-models", action="store_true", help="also remove [[models]] entries that only use this login"
    )
    logout.add_argument(
        "--repoint",
        metavar="MODEL",
        default=None,
        help="with --remove-models: point router.* settings that name a removed model at MODEL instead",
    )
    logout.set_defaults(func=cmd_logout)

    tokens = sub.add_parser("tokens", parents=[common], help="show stored OAuth logins (no secrets)")
    tokens.set_defaults(func=cmd_tokens)
    tokens_sub = tokens.add_subparsers(dest="tokens_command", metavar="{refresh,encrypt,decrypt}")
    refresh = tokens_sub.add_parser("refresh", parents=[common], help="refresh a login's tokens now")
    refresh.add_argument("provider_id", metavar="PROVIDER_ID")
    refresh.set_defaults(func=cmd_tokens_refresh)
    register_sealing(tokens_sub, common)


# -- plumbing --


def _store(args: argparse.Namespace) -> FileStore:
    home = getattr(args, "home", None)
    return FileStore((Path(home) if home else default_home()) / TOKEN_FILE_NAME)


def _run(args: argparse.Namespace, body: Callable[[TokenManager], Awaitable[int]]) -> int:
    """Build settings, store and manager around ``body``; turn our errors into a message and exit code 1."""

    async def main() -> int:
        async with oauth_client() as session:
            manager = make_manager(_store(args), settings, lambda: session)
            return await body(manager)

    try:
        config_path = getattr(args, "config_path", None)
        settings = read_oauth_settings(Path(config_path) if config_path else None)
        return asyncio.run(main())
    except CcmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking call that may never return (stdin, a browser) without holding up interpreter exit."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # reported to the loop, not lost in the thread
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=work, daemon=True, name="ccm-login-io").start()
    return fut


# -- login --


async def _wait_for_code(server: CallbackServer | None, stdin: TextIO, out: TextIO) -> str | CallbackInput:
    """The first of: the loopback callback, or a non-empty line pasted on stdin."""
    callback = asyncio.ensure_future(server.wait(CALLBACK_TIMEOUT_S)) if server else None
    prompt = "Paste the code here" + (" (or just finish in the browser)" if server else "") + ": "
    print(prompt, end="", file=out, flush=True)
    paste: asyncio.Future[str] | None = _in_daemon_thread(stdin.readline)
    try:
        while True:
            waiting = {f for f in (callback, paste) if f is not None}
            if not waiting:
                raise OAuthError("no authorization code was entered")
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if callback is not None and callback in done:
                try:
                    return callback.result()
                except TimeoutError:
                    raise OAuthError(
                        f"no browser callback within {CALLBACK_TIMEOUT_S:.0f} s; run the login again "
                        "(use --no-browser to paste the code instead)"
                    ) from None
            if paste is not None and paste in done:
                try:
                    line = paste.result()
                except Exception:  # no usable stdin: treat as end of input
                    line = ""
                if not line:  # EOF: only the callback can still deliver
                    paste = None
                elif line.strip():
                    print(file=out)
                    return line
                else:
                    paste = _in_daemon_thread(stdin.readline)
    finally:
        if callback is not None:
            callback.cancel()


async def _interactive_login(manager: TokenManager, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    provider_id: str = args.provider_id
    pending = PendingLogins(manager)
    server = None if args.no_browser else await CallbackServer.start(manager.settings.callback_ports)
    try:
        info = pending.start(args.mode, provider_id, server.redirect_uri if server else None)
        if server is not None:
            server.expected_state = info["state"]
        print(info["instructions"], file=out)
        print(f"\n  {info['url']}\n", file=out, flush=True)
        if server is not None:
            launch = _in_daemon_thread(webbrowser.open, info["url"])
            launch.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "unretrieved"
            try:  # some browser commands only return when the browser exits
                opened = await asyncio.wait_for(asyncio.shield(launch), 5)
            except TimeoutError:
                opened = True  # still running, so it started
            except Exception:
                opened = False
            if not opened:
                print("Could not open a browser; open the URL above yourself.", file=out)
        code_input = await _wait_for_code(server, stdin, out)
        record = await pending.complete(code_input, info["state"])
    finally:
        if server is not None:
            await server.close()
    print(
        f"Logged in as '{provider_id}'; the access token expires {format_rfc3339(record.expires_at)}.",
        file=out,
    )
    if record.api_key is not None:
        print("Created an API key (also saved with the login); keep it secret:", file=out)
        print(f"  {record.api_key.reveal()}", file=out)
    print(f'Use it from a provider with auth_type = "oauth" and oauth_provider = "{provider_id}".', file=out)
    return 0


async def _import_login(manager: TokenManager, args: argparse.Namespace, path: Path, out: TextIO) -> int:
    record = await import_claude_code(args.provider_id, path)
    await manager.save_record(record)
    print(
        f"Imported Claude Code's login from {path} as '{args.provider_id}' "
        f"(access token expires {format_rfc3339(record.expires_at)}).",
        file=out,
    )
    if record.refresh_token:
        print("Refreshed tokens will be written back to that file so Claude Code stays logged in.", file=out)
    else:
        print("It has no refresh token, so it stops working when the access token expires.", file=out)
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    """``ccm login [PROVIDER_ID] [--mode max|console] [--no-browser] [--import-claude-code [PATH]]``."""

    from claude_code_mux.cli import gemini_login

    if gemini_login.is_gemini_login(args):  # Google account login for Gemini Code Assist (cli/gemini_login.py)
        config_path = getattr(args, "config_path", None)
        ports = read_oauth_settings(Path(config_path) if config_path else None).callback_ports
        return gemini_login.cmd_gemini_login(args, ports)
    raw = args.import_claude_code
    path = default_credentials_path() if raw == _IMPORT_DEFAULT else Path(raw or ".").expanduser()
    codex = getattr(args, "import_codex", None)
    if codex is not None or is_chatgpt_id(args.provider_id):
        codex_path = None if codex in (None, _IMPORT_DEFAULT) else Path(codex).expanduser()
        return _run(args, lambda manager: _chatgpt(manager, args, codex is not None, codex_path))

    async def body(manager: TokenManager) -> int:
        if raw is not None:
            return await _import_login(manager, args, path, sys.stdout)
        return await _interactive_login(manager, args, sys.stdin, sys.stdout)

    return _run(args, body)


async def _chatgpt(manager: TokenManager, args: argparse.Namespace, codex: bool, path: Path | None) -> int:
    """``ccm login chatgpt[-NAME]`` and ``--import-codex``: see :mod:`claude_code_mux.cli.chatgpt_login`."""
    from claude_code_mux.cli.chatgpt_login import chatgpt_login, codex_import

    if codex:
        if args.provider_id == DEFAULT_PROVIDER_ID:
            args.provider_id = "chatgpt"
        return await codex_import(manager, args, path, sys.stdout)
    return await chatgpt_login(manager, args, sys.stdin, sys.stdout)


# -- logout and tokens --


def cmd_logout(args: argparse.Namespace) -> int:
    """``ccm logout [PROVIDER_ID]``: exit 1 when there was no such login, 2 when ``--remove-models`` cannot
    remove what it should (checked before anything changes)."""
    plan = _cleanup_plan(args)
    if isinstance(plan, int):
        return plan

    async def body(manager: TokenManager) -> int:
        if await manager.delete(args.provider_id):
            print(f"Logged out '{args.provider_id}'.")
            return 0
        print(f"No OAuth login named '{args.provider_id}'.", file=sys.stderr)
        return 1

    rc = _run(args, body)
    if rc == 0 and plan is not None:
        return _offer_model_cleanup(args, *plan)
    return rc


def _human(seconds: int) -> str:
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h{rest // 60:02d}m" if hours else f"{sign}{rest // 60}m{rest % 60:02d}s"


def format_status_table(rows: list[dict[str, Any]]) -> str:
    """The ``ccm tokens`` table."""
    header = ("PROVIDER", "EXPIRES AT (UTC)", "EXPIRES IN", "STATUS", "SOURCE")
    lines = [header]
    for row in rows:
        status = "expired" if row["is_expired"] else "refresh due" if row["needs_refresh"] else "valid"
        origin = str(row.get("source") or "")
        source = "claude-code" if origin.startswith("claude-code:") else "ccm"
        source = {"chatgpt": "chatgpt", "codex": "codex"}.get(origin.split(":", 1)[0], source)
        if row.get("has_api_key"):
            source += " +api-key"
        lines.append((row["provider_id"], row["expires_at"], _human(row["expires_in_s"]), status, source))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def cmd_tokens(args: argparse.Namespace) -> int:
    """``ccm tokens``: expiry status of every stored login."""

    async def body(manager: TokenManager) -> int:
        rows = await manager.status()
        if not rows:
            print("No OAuth logins. Run: ccm login")
            return 0
        print(format_status_table(rows))
        return 0

    return _run(args, body)


def cmd_tokens_refresh(args: argparse.Namespace) -> int:
    """``ccm tokens refresh PROVIDER_ID``: refresh now, whatever the expiry."""

    async def body(manager: TokenManager) -> int:
        record = await manager.store.get(args.provider_id)
        if record is None:
            raise OAuthError(f"no OAuth login for '{args.provider_id}'; run: ccm login {args.provider_id}")
        if record.source == "gemini-cli":  # Google's token endpoint, not Anthropic's (auth/gemini_tokens.py)
            from claude_code_mux.auth.gemini_cli import GeminiCliSettings
            from claude_code_mux.auth.gemini_tokens import GeminiCliTokens

            google = GeminiCliTokens(manager.store, args.provider_id, GeminiCliSettings.from_env())
            try:
                await google.credentials(rejected=record.access_token.reveal())
            finally:
                await google.close()
            fresh = await manager.store.get(args.provider_id)
            expires = format_rfc3339(fresh.expires_at) if fresh else "?"
            print(f"Refreshed '{args.provider_id}'; the access token expires {expires}.")
            return 0
        await manager.force_refresh(args.provider_id, record.access_token.reveal())
        fresh = await manager.store.get(args.provider_id)
        expires = format_rfc3339(fresh.expires_at) if fresh else "?"
        print(f"Refreshed '{args.provider_id}'; the access token expires {expires}.")
        return 0

    return _run(args, body)
