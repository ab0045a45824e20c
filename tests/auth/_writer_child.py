"""Child process for the kill -9 test: rewrites the token file as fast as it can, forever."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from claude_code_mux.auth.secret import Secret
from claude_code_mux.auth.store import FileStore, TokenRecord


async def main(path: Path, seal: str | None) -> None:
    store = FileStore(path, seal=seal)
    n = 0
    while True:
        n += 1
        for i in range(20):
            await store.put(
                TokenRecord(
                    provider_id=f"p{i}",
                    access_token=Secret(f"sk-ant-oat01-{n:08d}-" + "a" * 400),
                    refresh_token=Secret(f"sk-ant-ort01-{n:08d}-" + "r" * 400),
                    expires_at=datetime.now(UTC) + timedelta(hours=1),
                )
            )
        if n == 1:
            print("started", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
