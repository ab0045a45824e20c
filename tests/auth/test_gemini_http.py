"""The Gemini CLI login's HTTP calls against hostile or absent endpoints: bounded, timed, mapped, our User-Agent.

A raw asyncio server plays a Google endpoint that answers too much or never answers; the mock Google endpoints
check what a well-behaved call sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from claude_code_mux import __version__
from claude_code_mux.auth.gemini_cli import GeminiCliSettings, discover_project, refresh_tokens
from claude_code_mux.auth.oauth import MAX_REPLY_BYTES, TokenEndpointError
from claude_code_mux.auth.wiring import oauth_client
from claude_code_mux.errors import OAuthError
from tests.auth._support import free_range
from tests.mocks.gemini import MockGemini

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_endpoint(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """200 with a body one byte over the limit, streamed (no Content-Length)."""
    await _read_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    left = MAX_REPLY_BYTES + 1
    try:
        while left:
            n = min(left, 65536)
            writer.write(b"%x\r\n" % n + b"a" * n + b"\r\n")
            await writer.drain()
            left -= n
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except ConnectionError:  # the client stopped reading at the limit, as it should
        pass
    writer.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request and never answers."""
    await _read_head(reader)
    await asyncio.sleep(30)
    writer.close()


def settings_at(url: str, **kw: float) -> GeminiCliSettings:
    return GeminiCliSettings(authorize_url=url + "/auth", token_url=url + "/token", code_assist_url=url, **kw)  # type: ignore[arg-type]


async def test_oversized_replies_are_cut_off_with_a_clear_error() -> None:
    async with raw_endpoint(huge) as url, oauth_client() as http:
        with pytest.raises(TokenEndpointError, match="more than") as err:
            await refresh_tokens(http, settings_at(url), "1//refresh-secret")
        assert err.value.status == 200 and not err.value.transient and "refresh-secret" not in str(err.value)
        with pytest.raises(OAuthError, match="loadCodeAssist answered HTTP 200 with more than"):
            await discover_project(http, settings_at(url), "ya29.token-secret")


async def test_a_silent_endpoint_times_out_as_transient() -> None:
    async with raw_endpoint(silent) as url, oauth_client() as http:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(TokenEndpointError, match="unreachable") as err:
            await refresh_tokens(http, settings_at(url, http_timeout_s=0.3), "1//refresh-secret")
        assert err.value.transient and loop.time() - began < 5
        with pytest.raises(OAuthError, match="Code Assist loadCodeAssist unreachable"):
            await discover_project(http, settings_at(url, http_timeout_s=0.3), "ya29.token-secret")


async def test_an_absent_endpoint_is_transient() -> None:
    lo, _ = free_range(1)
    async with oauth_client() as http:
        with pytest.raises(TokenEndpointError, match="unreachable") as err:
            await refresh_tokens(http, settings_at(f"http://127.0.0.1:{lo}"), "1//refresh-secret")
        assert err.value.transient and err.value.status is None


async def test_calls_send_our_user_agent() -> None:
    async with MockGemini() as mock, oauth_client() as http:
        settings = GeminiCliSettings(token_url=mock.url + "/token", code_assist_url=mock.url, onboard_poll_s=0.01)
        tokens = await refresh_tokens(http, settings, mock.mint_refresh_token())
        await discover_project(http, settings, tokens.access_token.reveal())
        agents = {r.header("user-agent") for r in mock.requests}
        assert agents == {f"claude-code-mux/{__version__}"}
