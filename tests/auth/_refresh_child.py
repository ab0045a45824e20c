"""Child process for the two-process test: wait for "go", get a token (forced or by expiry), use it once."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx

from claude_code_mux.auth.store import FileStore
from claude_code_mux.auth.tokens import TokenManager
from claude_code_mux.config.oauth_schema import OAuthSettings


async def main(token_file: str, settings_json: str, resource: str, mode: str, rejected: str) -> None:
    settings = OAuthSettings.model_validate_json(settings_json)
    async with httpx.AsyncClient() as session:
        manager = TokenManager(FileStore(Path(token_file)), settings, lambda: session)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        if mode == "force":
            token = await manager.force_refresh("claude-max", rejected)
        else:
            token = await manager.get_access_token("claude-max")
        headers = {"Authorization": f"Bearer {token}", "anthropic-beta": "oauth-2025-04-20"}
        body = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
        resp = await session.post(f"{resource}/v1/messages", json=body, headers=headers)
        status = resp.status_code
        print(json.dumps({"token": token, "status": status, "refresh_count": manager.refresh_count}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
