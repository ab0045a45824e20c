"""Test harness: run the real router on 127.0.0.1 with an ephemeral port, in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_code_mux.config.load import parse_config
from claude_code_mux.server.run import Server, ServerOptions


@dataclass
class RouterHandle:
    url: str
    server: Server
    config_path: Path
    log: io.StringIO

    @property
    def port(self) -> int:
        return self.server.port

    def log_text(self) -> str:
        return self.log.getvalue()


@contextlib.asynccontextmanager
async def run_router(
    config_text: str,
    home: Path,
    *,
    env: Mapping[str, str] | None = None,
    watch: bool = False,
) -> AsyncIterator[RouterHandle]:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(config_text)
    cfg = parse_config(config_text, path=str(path), env=env)
    server = Server(
        cfg, ServerOptions(host="127.0.0.1", port=0, config_path=path, home=home, watch=watch, signals=False)
    )
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    for f in server.logger.handlers[0].filters:
        handler.addFilter(f)
    server.logger.addHandler(handler)
    await server.start()
    task = asyncio.create_task(server.serve_forever())
    try:
        yield RouterHandle(f"http://127.0.0.1:{server.port}", server, path, log)
    finally:
        server.stop()
        await asyncio.wait_for(task, 30)


def anthropic_provider(name: str, url: str, *, key: str | None = "sk-up-" + "test", auth: str = "apikey") -> str:
    lines = [
        "[[providers]]",
        f'name = "{name}"',
        'provider_type = "anthropic"',
        f'base_url = "{url}"',
        f'auth_type = "{auth}"',
    ]
    if key and auth == "apikey":
        lines.append(f'api_key = "{key}"')
    return "\n".join(lines) + "\n"


def model_block(name: str, mappings: list[tuple[str, str]]) -> str:
    out = f'[[models]]\nname = "{name}"\n'
    for prio, (prov, actual) in enumerate(mappings, start=1):
        out += f'[[models.mappings]]\nprovider = "{prov}"\nactual_model = "{actual}"\npriority = {prio}\n'
    return out
