"""The admin JSON API under ``/api/`` and the web UI at ``/``.

Every write is validated twice (the request body by a pydantic model, then the whole resulting file by the
config loader), written atomically with comments kept (:mod:`claude_code_mux.config.edit`), and applied at
once by reloading the runtime; the answer is the new state. Access rules live in :mod:`.admin_guard`;
secrets are masked by :mod:`.admin_view` and never returned.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from claude_code_mux.config.load import load_config
from claude_code_mux.errors import ConfigError, HttpError, InvalidRequest, NotFound
from claude_code_mux.server.admin_feed import FEED, Feed, handle_requests, handle_requests_stream, handle_test
from claude_code_mux.server.admin_guard import BOUND_HOST, guard, is_loopback_host
from claude_code_mux.server.admin_models import (
    CompatConfigIn,
    ModelIn,
    ProviderIn,
    RouterIn,
    ServerIn,
    read_body,
)
from claude_code_mux.server.admin_openapi import openapi_document
from claude_code_mux.server.admin_view import (
    compat_view,
    config_view,
    presets_view,
    read_file_state,
    status_view,
)
from claude_code_mux.server.state import HOLDER

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

    from claude_code_mux.config import edit

STARTED: web.AppKey[float] = web.AppKey("admin_started", float)
EDIT_LOCK: web.AppKey[asyncio.Lock] = web.AppKey("admin_edit_lock", asyncio.Lock)
UI_FILES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "app.css": "text/css",
}
_UI_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


class NoConfigFile(HttpError):
    status = 409
    error_type = "invalid_request_error"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


# ---- reads ---------------------------------------------------------------------------------------


async def _config_state(request: web.Request) -> dict[str, Any]:
    rt = request.app[HOLDER].current
    raw, file_error = await asyncio.to_thread(read_file_state, rt.config_path)
    return {
        "config_path": str(rt.config_path) if rt.config_path else None,
        "file_error": file_error,
        "config": config_view(rt.config, raw),
    }


async def handle_status(request: web.Request) -> web.Response:
    guard(request)
    holder = request.app[HOLDER]
    data = await status_view(
        holder.current,
        started_at=request.app[STARTED],
        active_streams=holder.active_streams,
        seen=len(holder.recent),
    )
    if data["tokens_error"]:
        data["tokens_error"] = holder.redactor(data["tokens_error"])
    return _json(data)


async def handle_config(request: web.Request) -> web.Response:
    guard(request)
    return _json(await _config_state(request))


async def handle_presets(request: web.Request) -> web.Response:
    guard(request)
    return _json({"presets": presets_view()})


async def handle_openapi(request: web.Request) -> web.Response:
    guard(request)
    return _json(openapi_document())


# ---- writes --------------------------------------------------------------------------------------


async def _write(request: web.Request, change: edit.Edit, status: int = 200) -> web.Response:
    holder = request.app[HOLDER]
    path = holder.current.config_path
    if path is None:
        raise NoConfigFile("the server runs on the embedded default config; there is no file to edit")
    async with request.app[EDIT_LOCK]:
        try:
            from claude_code_mux.config.edit import apply_edit  # tomlkit loads only when the config is edited

            await asyncio.to_thread(apply_edit, path, change)
        except ConfigError as exc:
            raise InvalidRequest(f"not saved: {exc}") from None
        reloaded = await holder.reload("api") if holder.reload is not None else False
    state = await _config_state(request)
    return _json({"saved": True, "reloaded": reloaded, **state}, status=status)


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not name or len(name) > 200:
        raise InvalidRequest("name: must be 1 to 200 characters")
    return name


async def handle_put_router(request: web.Request) -> web.Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    body = await read_body(request, RouterIn)
    values = body.given()
    if not values:
        raise InvalidRequest("body: send at least one router key")
    if "default" in values and values["default"] is None:
        raise InvalidRequest("default: router.default is required and cannot be removed")
    return await _write(request, lambda doc: edit.set_table(doc, "router", values))


async def handle_put_server(request: web.Request) -> web.Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    body = await read_body(request, ServerIn)
    values = body.given()
    if not values:
        raise InvalidRequest("body: send at least one server key")
    host = values.get("host")
    server = request.app[HOLDER].current.config.server
    if host and not is_loopback_host(host) and (server.api_key is None or server.admin_key is None):
        raise InvalidRequest(
            f"host: {host!r} is reachable beyond this machine; set server.api_key and server.admin_key "
            "in the file first (the server would refuse to start without them)"
        )
    return await _write(request, lambda doc: edit.set_table(doc, "server", values))


async def handle_post_provider(request: web.Request) -> web.Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    body = await read_body(request, ProviderIn)
    if not body.name:
        raise InvalidRequest("name: field required")
    values = body.given()
    name = body.name
    return await _write(request, lambda doc: edit.upsert_provider(doc, name, values, create=True), status=201)


async def handle_put_provider(request: web.Request) -> web.Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    name = _name(request)
    body = await read_body(request, ProviderIn)
    values = body.given()
    if "name" in values and values["name"] is None:
        raise InvalidRequest("name: cannot be null")
    return await _write(request, lambda doc: edit.upsert_provider(doc, name, values, create=False))


async def handle_delete_provider(request: web.Request) -> web.Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    name = _name(request)
    return await _write(request, lambda doc: edit.delete_provider(doc, name))


def _model_change(name: str, body: ModelIn, create: bool) -> edit.Edit:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    values = body.given(exclude=frozenset({"mappings"}))
    if "name" in values and values["name"] is None:
        raise InvalidRequest("name: cannot be null")
    mappings = None
    if "mappings" in body.model_fields_set:
        mappings = [m.model_dump() for m in body.mappings or []]

    def change(doc: TOMLDocument) -> None:
        edit.upsert_model(doc, name, values, mappings, create=create)

    return change


async def handle_post_model(request: web.Request) -> web.Response:
    guard(request)
    body = await read_body(request, ModelIn)
    if not body.name:
        raise InvalidRequest("name: field required")
    return await _write(request, _model_change(body.name, body, True), status=201)


async def handle_put_model(request: web.Request) -> web.Response:
    guard(request)
    name = _name(request)
    body = await read_body(request, ModelIn)
    return await _write(request, _model_change(name, body, False))


async def handle_delete_model(request: web.Request) -> web.Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    name = _name(request)
    return await _write(request, lambda doc: edit.delete_model(doc, name))


async def handle_reload(request: web.Request) -> web.Response:
    guard(request)
    holder = request.app[HOLDER]
    path = holder.current.config_path
    if path is None or holder.reload is None:
        raise NoConfigFile("the server runs on the embedded default config; there is no file to reload")
    try:
        await asyncio.to_thread(load_config, path)
    except ConfigError as exc:
        raise InvalidRequest(f"not reloaded, still serving the previous config: {exc}") from None
    reloaded = await holder.reload("api")
    return _json({"reloaded": reloaded, **await _config_state(request)})


# ---- the original's /api/config/json -------------------------------------------------------------


async def handle_compat_get(request: web.Request) -> web.Response:
    guard(request)
    rt = request.app[HOLDER].current
    raw, _ = await asyncio.to_thread(read_file_state, rt.config_path)
    return _json(compat_view(rt.config, raw))


def _compat_change(body: CompatConfigIn) -> edit.Edit:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    server = body.server.given() if body.server else {}
    router = body.router.given() if body.router else {}
    providers = [p.given() for p in body.providers] if body.providers is not None else None
    models = [(m.name, [mp.model_dump() for mp in m.mappings]) for m in body.models] if body.models else None
    if body.models is not None and not body.models:
        models = []

    def change(doc: TOMLDocument) -> None:
        if server:
            edit.set_table(doc, "server", server)
        if router:
            edit.set_table(doc, "router", router)
        if models is not None:
            keep = {n for n, _ in models}
            for m in list(doc.get("models", [])):
                if m.get("name") not in keep:
                    edit.delete_model(doc, str(m.get("name")))
        if providers is not None:
            keep = {str(p["name"]) for p in providers}
            for p in providers:
                edit.upsert_provider(doc, str(p["name"]), p)
        if models is not None:
            for name, mappings in models:
                edit.upsert_model(doc, name, {}, mappings)
        if providers is not None:
            for p in list(doc.get("providers", [])):
                if p.get("name") not in keep:
                    edit.delete_provider(doc, str(p.get("name")))

    return change


async def handle_compat_post(request: web.Request) -> web.Response:
    guard(request)
    body = await read_body(request, CompatConfigIn, strip_nulls=True)
    resp = await _write(request, _compat_change(body))
    data = orjson.loads(resp.body) if isinstance(resp.body, bytes) else {}
    return _json(
        {
            "status": "success",
            "message": "configuration saved and applied" if data.get("reloaded") else "configuration saved",
            "reloaded": data.get("reloaded", False),
        }
    )


# ---- UI ------------------------------------------------------------------------------------------


def _ui_dir() -> Path:
    return Path(str(resources.files("claude_code_mux.server") / "ui"))


async def handle_ui_index(request: web.Request) -> web.Response:
    return _ui_file("index.html")


async def handle_ui_file(request: web.Request) -> web.Response:
    return _ui_file(request.match_info["file"])


def _ui_file(name: str) -> web.Response:
    ctype = UI_FILES.get(name)
    if ctype is None:
        raise NotFound(f"no such UI file: {name[:100]}")
    try:
        data = (_ui_dir() / name).read_bytes()
    except OSError:
        raise NotFound(f"UI file {name} is missing from the installation") from None
    return web.Response(body=data, content_type=ctype, charset="utf-8", headers=_UI_HEADERS)


# ---- wiring --------------------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    holder = app[HOLDER]
    app[STARTED] = time.time()
    app[BOUND_HOST] = holder.current.config.server.host
    app[EDIT_LOCK] = asyncio.Lock()
    feed = Feed(holder)
    app[FEED] = feed
    holder.listeners.append(feed.publish)

    async def _close_feed(_: web.Application) -> None:
        feed.close_all()

    app.on_shutdown.append(_close_feed)
    r = app.router
    r.add_get("/", handle_ui_index, allow_head=False)
    r.add_get("/ui/{file}", handle_ui_file)
    r.add_get("/api/status", handle_status)
    r.add_get("/api/config", handle_config)
    r.add_put("/api/config/router", handle_put_router)
    r.add_put("/api/config/server", handle_put_server)
    r.add_get("/api/config/json", handle_compat_get)
    r.add_post("/api/config/json", handle_compat_post)
    r.add_post("/api/providers", handle_post_provider)
    r.add_put("/api/providers/{name}", handle_put_provider)
    r.add_delete("/api/providers/{name}", handle_delete_provider)
    r.add_post("/api/models", handle_post_model)
    r.add_put("/api/models/{name:.+}", handle_put_model)
    r.add_delete("/api/models/{name:.+}", handle_delete_model)
    r.add_post("/api/reload", handle_reload)
    r.add_get("/api/requests", handle_requests)
    r.add_get("/api/requests/stream", handle_requests_stream)
    r.add_post("/api/test", handle_test)
    r.add_get("/api/presets", handle_presets)
    r.add_get("/api/openapi.json", handle_openapi)
