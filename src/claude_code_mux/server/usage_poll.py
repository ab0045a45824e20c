"""Quota readings beyond the answers: the fetch behind ``[subscription] poll_usage_s`` (``GET
{base_url}/api/oauth/usage`` with an account's OAuth bearer, through the provider's cold-path HTTP client — its
proxy, its timeouts; only OAuth pools are polled), and the serving account's 5h utilization for the statusline's
last-request file."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson

from claude_code_mux import __version__
from claude_code_mux.accounts.poller import UsagePoller
from claude_code_mux.errors import HttpError
from claude_code_mux.observe.last_request import LastRequestWriter
from claude_code_mux.observe.record import RequestRecord
from claude_code_mux.server.state import RuntimeHolder

USAGE_PATH = "/api/oauth/usage"


def httpx_errors() -> type[Exception]:
    """httpx's error base, imported when a poll runs (httpx is for cold paths; it is heavy at start-up)."""
    import httpx

    return httpx.HTTPError


OAUTH_BETA = "oauth-2025-04-20"
MAX_BODY = 64 * 1024


def usage_fetch(holder: RuntimeHolder) -> Any:
    """A :data:`~claude_code_mux.accounts.poller.Fetch` reading the current runtime at each call."""

    async def fetch(provider: str, account: str) -> Mapping[str, Any] | None:
        rt = holder.current
        p = rt.providers.get(provider)
        if p is None or p.auth_type != "oauth" or account not in p.oauth_accounts or rt.tokens is None:
            return None
        base = p.base_url.rstrip("/")
        try:
            token = await rt.tokens.get_access_token(account)
        except HttpError:
            return None  # not logged in (or the login is dead): nothing to poll
        headers = {
            "authorization": f"Bearer {token}",
            "anthropic-beta": OAUTH_BETA,
            "user-agent": f"claude-code-mux/{__version__}",
            "accept": "application/json",
        }
        try:
            async with (
                asyncio.timeout(rt.timeouts.read_s),
                rt.cold_client(provider).stream("GET", base + USAGE_PATH, headers=headers) as resp,
            ):
                if resp.status_code != 200:
                    return None
                body = b""
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        return None
        except (httpx_errors(), TimeoutError, KeyError):
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    return fetch


def start_poller(holder: RuntimeHolder) -> asyncio.Task[None] | None:
    """Start polling when ``[subscription] poll_usage_s > 0`` (read at start); the caller cancels the task."""
    every = holder.current.config.subscription.poll_usage_s
    if every <= 0:
        return None
    poller = UsagePoller(lambda: holder.current.accounts, usage_fetch(holder), every)
    holder.poller = poller
    return asyncio.get_running_loop().create_task(poller.run(), name="usage-poller")


def annotate_last_requests(holder: RuntimeHolder) -> None:
    """The statusline's file gets ``quota_5h``: the serving account's 5-hour utilization, when known."""

    def annotate(record: RequestRecord) -> Mapping[str, Any]:
        router = holder.current.accounts
        if record.account is None or router is None:
            return {}
        w = router.book.windows(record.account, None, router.clock()).get("5h")
        return {"quota_5h": w.utilization} if w is not None and w.utilization is not None else {}

    for observer in holder.observers.observers:
        if isinstance(observer, LastRequestWriter):
            observer.annotate = annotate
