from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.state.redis_server import RedisServer


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
