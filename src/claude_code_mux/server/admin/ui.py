"""The web UI's static files: ``/`` is ``index.html``; ``/ui/<name>`` serves the other files of the ``ui``
folder (native ES modules, CSS, the device-login page) with a strict Content-Security-Policy."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.errors import NotFound

MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(?:html|js|css)$")
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


def ui_dir() -> Path:
    return Path(str(resources.files("claude_code_mux.server") / "ui"))


_cache: dict[str, bytes] = {}


def ui_file(name: str) -> Response:
    """One UI file (read once: the installed files do not change while the server runs)."""
    if not _NAME.match(name):
        raise NotFound(f"no such UI file: {name[:100]}")
    data = _cache.get(name)
    if data is None:
        try:
            data = (ui_dir() / name).read_bytes()
        except OSError:
            raise NotFound(f"no such UI file: {name}") from None
        _cache[name] = data
    media = MEDIA_TYPES[name[name.rindex(".") :]]
    return Response(data, media_type=f"{media}; charset=utf-8", headers=HEADERS)


async def handle_index(request: Request) -> Response:
    return ui_file("index.html")


async def handle_file(request: Request) -> Response:
    return ui_file(str(request.path_params["file"]))


def routes() -> list[BaseRoute]:
    index = Route("/", handle_index, methods=["GET"], include_in_schema=False)
    assert index.methods is not None
    index.methods.discard("HEAD")  # HEAD / is the server's liveness probe, answered by the API side
    return [index, Route("/ui/{file}", handle_file, methods=["GET"])]
