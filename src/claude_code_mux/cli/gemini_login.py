"""``ccm login gemini``: log in with the Gemini CLI's Google account flow, or import ``~/.gemini/oauth_creds.json``.

The browser flow catches Google's redirect on the loopback callback server (first free port of ``[oauth]
callback_ports``); ``--no-browser`` uses Google's hosted code page and the code is pasted. After the token
exchange the Code Assist project is discovered (onboarding the free tier when needed) and the login is stored
in ``<home>/oauth_tokens.json`` with ``source = "gemini-cli"``. Tokens never appear in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import webbrowser
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from claude_code_mux.auth.gemini_cli import (
    NOTICE,
    SOURCE,
    GeminiCliSettings,
    build_authorize_url,
    default_gemini_creds_path,
    discover_project,
    exchange_code,
    import_gemini_cli,
)
from claude_code_mux.auth.login import DEFAULT_PROVIDER_ID, CallbackServer
from claude_code_mux.auth.oauth import CallbackInput, parse_code_input
from claude_code_mux.auth.pkce import challenge, generate_state, generate_verifier
from claude_code_mux.auth.store import TOKEN_FILE_NAME, FileStore, TokenRecord, default_home, format_rfc3339
from claude_code_mux.auth.wiring import oauth_client
from claude_code_mux.errors import CcmError, OAuthError

MANUAL_REDIRECT = "https://codeassist.google.com/authcode"
IMPORT_DEFAULT = "\0default"


def is_gemini_login(args: argparse.Namespace) -> bool:
    pid = str(getattr(args, "provider_id", ""))
    return getattr(args, "import_gemini_cli", None) is not None or pid == "gemini" or pid.startswith("gemini-")


def add_arguments(login: argparse.ArgumentParser) -> None:
    login.add_argument(
        "--import-gemini-cli",
        nargs="?",
        const=IMPORT_DEFAULT,
        default=None,
        metavar="PATH",
        help="import the Gemini CLI's login (default ~/.gemini/oauth_creds.json) as PROVIDER_ID (default gemini)",
    )
    login.add_argument("--project", default=None, help="Google Cloud project for Code Assist (gemini logins)")


def _login_id(args: argparse.Namespace) -> str:
    """``gemini`` unless the user named the login (the parser's default is the Claude login's id)."""
    return str(args.provider_id) if args.provider_id != DEFAULT_PROVIDER_ID else "gemini"


def _store(args: argparse.Namespace) -> FileStore:
    home = getattr(args, "home", None)
    return FileStore((Path(home) if home else default_home()) / TOKEN_FILE_NAME)


async def _save(store: FileStore, record: TokenRecord) -> None:
    async with store.locked():
        await store.put(record)


async def _paste(stdin: TextIO, out: TextIO) -> str:
    print("Paste the authorization code here: ", end="", file=out, flush=True)
    line = await asyncio.to_thread(stdin.readline)
    if not line.strip():
        raise OAuthError("no authorization code was entered")
    return line.strip()


async def login(
    args: argparse.Namespace,
    settings: GeminiCliSettings,
    ports: tuple[int, int],
    stdin: TextIO,
    out: TextIO,
    *,
    open_browser: bool = True,
) -> TokenRecord:
    """The interactive login; returns the stored record."""
    provider_id = _login_id(args)
    verifier, state = generate_verifier(), generate_state()
    server = None if args.no_browser else await CallbackServer.start(ports)
    try:
        redirect = server.redirect_uri if server else MANUAL_REDIRECT
        if server is not None:
            server.expected_state = state
        url = build_authorize_url(settings, redirect_uri=redirect, state=state, challenge=challenge(verifier))
        print("Sign in with your Google account to use Gemini Code Assist:", file=out)
        print(f"\n  {url}\n", file=out, flush=True)
        if server is not None and open_browser:
            await asyncio.to_thread(webbrowser.open, url)
        if server is not None:
            got: CallbackInput = await server.wait()
            code = got.code
        else:
            code = parse_code_input(await _paste(stdin, out), None)
    finally:
        if server is not None:
            await server.close()
    async with oauth_client() as session:
        tokens = await exchange_code(session, settings, code=code, verifier=verifier, redirect_uri=redirect)
        if tokens.refresh_token is None:
            raise OAuthError("Google returned no refresh token; run the login again")
        project = await discover_project(session, settings, tokens.access_token.reveal(), project=args.project)
    record = replace(TokenRecord.from_token_set(provider_id, tokens, time.time()), project_id=project, source=SOURCE)
    await _save(_store(args), record)
    return record


async def import_login(args: argparse.Namespace, path: Path) -> TokenRecord:
    provider_id = _login_id(args)
    record = import_gemini_cli(provider_id, path)
    if args.project:
        record = replace(record, project_id=args.project)
    await _save(_store(args), record)
    return record


def cmd_gemini_login(args: argparse.Namespace, ports: tuple[int, int]) -> int:
    """Run the Gemini login (or import) and print the result; exit code 1 on our errors."""
    raw = getattr(args, "import_gemini_cli", None)
    settings = GeminiCliSettings.from_env()
    try:
        if raw is not None:
            path = default_gemini_creds_path() if raw == IMPORT_DEFAULT else Path(raw).expanduser()
            record = asyncio.run(import_login(args, path))
            print(f"Imported the Gemini CLI login from {path} as '{record.provider_id}'.")
        else:
            record = asyncio.run(login(args, settings, ports, sys.stdin, sys.stdout))
            print(
                f"Logged in as '{record.provider_id}' (Code Assist project {record.project_id}); "
                f"the access token expires {format_rfc3339(record.expires_at)}."
            )
    except CcmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(NOTICE)
    print(f'Use it from a provider with provider_type = "gemini-cli" (login "{record.provider_id}").')
    return 0
