"""Optional JSONL request trace (``server.trace_path``): one redacted line per request, size-bounded."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import orjson

from claude_code_mux.config.schema import ServerConfig
from claude_code_mux.observe.logging import Redactor
from claude_code_mux.observe.record import RequestRecord


class TraceWriter:
    """An observer appending one line per request to ``server.trace_path`` (read at each request: reloadable)."""

    def __init__(self, settings: Callable[[], ServerConfig], redactor: Redactor) -> None:
        self._settings = settings
        self._redactor = redactor
        self._lines: list[bytes] = []
        self._task: asyncio.Task[None] | None = None

    def __call__(self, rec: RequestRecord) -> None:
        if not self._settings().trace_path:
            return
        line = self._redactor(orjson.dumps(rec.to_dict(), default=str).decode())
        self._lines.append(line.encode() + b"\n")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        await asyncio.sleep(0)
        s = self._settings()
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
