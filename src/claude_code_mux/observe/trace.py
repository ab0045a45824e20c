"""Optional JSONL request trace (``server.trace_path``): one redacted line per request, size-bounded."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from claude_code_mux.server.state import HOLDER, RuntimeHolder


class TraceWriter:
    def __init__(self, holder: RuntimeHolder) -> None:
        self._holder = holder
        self._lines: list[bytes] = []
        self._task: asyncio.Task[None] | None = None

    def __call__(self, rec: dict[str, Any]) -> None:
        s = self._holder.current.config.server
        if not s.trace_path:
            return
        line = self._holder.redactor(orjson.dumps(rec, default=str).decode())
        self._lines.append(line.encode() + b"\n")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        await asyncio.sleep(0)
        s = self._holder.current.config.server
        lines, self._lines = self._lines, []
        if lines and s.trace_path:
            await asyncio.to_thread(_append, s.trace_path, b"".join(lines), s.trace_max_bytes)


def _append(where: str, data: bytes, limit: int) -> None:
    path = Path(where).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size + len(data) > limit:
            os.replace(path, path.with_name(path.name + ".1"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def setup(app: web.Application) -> None:
    holder = app[HOLDER]
    writer = TraceWriter(holder)
    holder.listeners.append(writer)

    async def _flush(_: web.Application) -> None:
        await writer.flush()

    app.on_cleanup.append(_flush)
