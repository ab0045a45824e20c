"""``ccm login chatgpt``: the ChatGPT (Codex) subscription login in a shell, and ``--import-codex``.

The browser is sent to OpenAI's authorize page; its redirect comes back to the loopback address the public
Codex client registers (``[oauth.chatgpt] redirect_uri``, ``http://localhost:1455/auth/callback``), where a
one-shot listener catches it. When that port is taken, or with ``--no-browser`` (another machine), paste the
address the browser ended on instead (the page will not load; its URL carries the code).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import webbrowser
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from claude_code_mux.auth.chatgpt import ChatGPTLogins
from claude_code_mux.auth.chatgpt_claims import plan_from_token
from claude_code_mux.auth.codex_credentials import import_codex
from claude_code_mux.auth.login import CallbackServer
from claude_code_mux.auth.store import format_rfc3339
from claude_code_mux.auth.tokens import TokenManager


def _callback_address(redirect_uri: str) -> tuple[str, int, str] | None:
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("localhost", "127.0.0.1") or parts.port is None:
        return None
    return "127.0.0.1", parts.port, parts.path or "/"


async def chatgpt_login(manager: TokenManager, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    from claude_code_mux.cli.auth import _in_daemon_thread, _wait_for_code  # shared prompt plumbing

    provider_id: str = args.provider_id
    logins = ChatGPTLogins(manager)
    info = logins.start(provider_id)
    server: CallbackServer | None = None
    address = _callback_address(info["redirect_uri"])
    if not args.no_browser and address is not None:
        host, port, path = address
        server = await CallbackServer.start((port, port), host=host, path=path)
        if server is None:
            print(f"Port {port} is taken (is the Codex CLI logging in?); paste the address instead.", file=out)
        else:
            server.expected_state = info["state"]
    try:
        print(info["instructions"], file=out)
        print(f"\n  {info['url']}\n", file=out, flush=True)
        if server is not None:
            launch = _in_daemon_thread(webbrowser.open, info["url"])
            launch.add_done_callback(lambda f: f.cancelled() or f.exception())
            with contextlib.suppress(Exception):  # still starting, or no browser: the URL is printed above
                await asyncio.wait_for(asyncio.shield(launch), 5)
        code_input = await _wait_for_code(server, stdin, out)
        record = await logins.complete(code_input, info["state"])
    finally:
        if server is not None:
            await server.close()
    plan = plan_from_token(record.access_token.reveal())
    print(
        f"Logged in to ChatGPT{f' ({plan})' if plan else ''} as '{provider_id}'; the access token expires "
        f"{format_rfc3339(record.expires_at)}.",
        file=out,
    )
    print(
        f'Use it from a provider with provider_type = "chatgpt", auth_type = "oauth" and oauth_provider = '
        f'"{provider_id}".',
        file=out,
    )
    return 0


async def codex_import(manager: TokenManager, args: argparse.Namespace, path: Path | None, out: TextIO) -> int:
    record = await import_codex(args.provider_id, path)
    await manager.save_record(record)
    where = record.source.split(":", 1)[1] if record.source else "?"
    print(
        f"Imported the Codex CLI's ChatGPT login from {where} as '{args.provider_id}' "
        f"(access token expires {format_rfc3339(record.expires_at)}).",
        file=out,
    )
    print("Refreshed tokens will be written back to that file so the Codex CLI stays logged in.", file=out)
    return 0
