"""The admin JSON API under ``/api/``: status, the config (read and written), reload, presets, OpenAPI.

Every write is validated twice (the request body by a pydantic schema, then the whole resulting file by the
config loader), written atomically with comments kept (:mod:`claude_code_mux.config.edit`), and applied at
once by reloading the runtime; the answer is the new state. Access rules live in :mod:`.guard`;
secrets are masked by :mod:`.view` and never returned.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.config.load import load_config
from claude_code_mux.errors import ConfigError, HttpError, InvalidRequest
from claude_code_mux.server.admin.context import admin_state, holder_of, json_response
from claude_code_mux.server.admin.guard import guard
from claude_code_mux.server.admin.openapi import openapi_document
from claude_code_mux.server.admin.schemas import (
    CompatConfigIn,
    ModelIn,
    ProviderIn,
    RouterIn,
    ServerIn,
    read_body,
)
from claude_code_mux.server.admin.view import (
    compat_view,
    config_view,
    presets_view,
    read_file_state,
    status_view,
)
from claude_code_mux.server.api.security import is_loopback_host

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

    from claude_code_mux.config import edit


class NoConfigFile(HttpError):
    status = 409
    error_type = "invalid_request_error"


# ---- reads ---------------------------------------------------------------------------------------


async def _config_state(request: Request) -> dict[str, Any]:
    rt = holder_of(request).current
    raw, file_error = await asyncio.to_thread(read_file_state, rt.config_path)
    return {
        "config_path": str(rt.config_path) if rt.config_path else None,
        "file_error": file_error,
        "config": config_view(rt.config, raw),
    }


async def handle_status(request: Request) -> Response:
    guard(request)
    holder = holder_of(request)
    data = await status_view(
        holder.current,
        started_at=admin_state(request).started_at,
        active_streams=holder.active_streams,
        seen=holder.observers.seen,
    )
    if data["tokens_error"]:
        data["tokens_error"] = holder.redactor(data["tokens_error"])
    return json_response(data)


async def handle_config(request: Request) -> Response:
    guard(request)
    return json_response(await _config_state(request))


async def handle_presets(request: Request) -> Response:
    guard(request)
    return json_response({"presets": presets_view()})


async def handle_openapi(request: Request) -> Response:
    guard(request)
    return json_response(openapi_document())


# ---- writes --------------------------------------------------------------------------------------


async def _apply(request: Request, change: edit.Edit) -> bool:
    """Write ``change`` to the config file and reload; whether the reload took."""
    holder = holder_of(request)
    path = holder.current.config_path
    if path is None:
        raise NoConfigFile("the server runs on the embedded default config; there is no file to edit")
    async with admin_state(request).edit_lock:
        try:
            from claude_code_mux.config.edit import apply_edit  # tomlkit loads only when the config is edited

            await asyncio.to_thread(apply_edit, path, change)
        except ConfigError as exc:
            raise InvalidRequest(f"not saved: {exc}") from None
        return await holder.reload("api") if holder.reload is not None else False


async def _write(request: Request, change: edit.Edit, status: int = 200) -> Response:
    reloaded = await _apply(request, change)
    state = await _config_state(request)
    return json_response({"saved": True, "reloaded": reloaded, **state}, status=status)


def _name(request: Request) -> str:
    name = str(request.path_params["name"])
    if not name or len(name) > 200:
        raise InvalidRequest("name: must be 1 to 200 characters")
    return name


async def handle_put_router(request: Request) -> Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    body = await read_body(request, RouterIn)
    values = body.given()
    if not values:
        raise InvalidRequest("body: send at least one router key")
    if "default" in values and values["default"] is None:
        raise InvalidRequest("default: router.default is required and cannot be removed")
    return await _write(request, lambda doc: edit.set_table(doc, "router", values))


async def handle_put_server(request: Request) -> Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    body = await read_body(request, ServerIn)
    values = body.given()
    if not values:
        raise InvalidRequest("body: send at least one server key")
    host = values.get("host")
    server = holder_of(request).current.config.server
    if host and not is_loopback_host(host) and (server.api_key is None or server.admin_key is None):
        raise InvalidRequest(
            f"host: {host!r} is reachable beyond this machine; set server.api_key and server.admin_key "
            "in the file first (the server would refuse to start without them)"
        )
    return await _write(request, lambda doc: edit.set_table(doc, "server", values))


async def handle_post_provider(request: Request) -> Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    body = await read_body(request, ProviderIn)
    if not body.name:
        raise InvalidRequest("name: field required")
    values = body.given()
    name = body.name
    return await _write(request, lambda doc: edit.upsert_provider(doc, name, values, create=True), status=201)


async def handle_put_provider(request: Request) -> Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    name = _name(request)
    body = await read_body(request, ProviderIn)
    values = body.given()
    if "name" in values and values["name"] is None:
        raise InvalidRequest("name: cannot be null")
    return await _write(request, lambda doc: edit.upsert_provider(doc, name, values, create=False))


async def handle_delete_provider(request: Request) -> Response:
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


async def handle_post_model(request: Request) -> Response:
    guard(request)
    body = await read_body(request, ModelIn)
    if not body.name:
        raise InvalidRequest("name: field required")
    return await _write(request, _model_change(body.name, body, True), status=201)


async def handle_put_model(request: Request) -> Response:
    guard(request)
    name = _name(request)
    body = await read_body(request, ModelIn)
    return await _write(request, _model_change(name, body, False))


async def handle_delete_model(request: Request) -> Response:
    from claude_code_mux.config import edit  # tomlkit loads only when the config is edited

    guard(request)
    name = _name(request)
    return await _write(request, lambda doc: edit.delete_model(doc, name))


async def handle_reload(request: Request) -> Response:
    guard(request)
    holder = holder_of(request)
    path = holder.current.config_path
    if path is None or holder.reload is None:
        raise NoConfigFile("the server runs on the embedded default config; there is no file to reload")
    try:
        await asyncio.to_thread(load_config, path)
    except ConfigError as exc:
        raise InvalidRequest(f"not reloaded, still serving the previous config: {exc}") from None
    reloaded = await holder.reload("api")
    return json_response({"reloaded": reloaded, **await _config_state(request)})


# ---- the original's /api/config/json -------------------------------------------------------------


async def handle_compat_get(request: Request) -> Response:
    guard(request)
    rt = holder_of(request).current
    raw, _ = await asyncio.to_thread(read_file_state, rt.config_path)
    return json_response(compat_view(rt.config, raw))


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


async def handle_compat_post(request: Request) -> Response:
    guard(request)
    body = await read_body(request, CompatConfigIn, strip_nulls=True)
    reloaded = await _apply(request, _compat_change(body))
    return json_response(
        {
            "status": "success",
            "message": "configuration saved and applied" if reloaded else "configuration saved",
            "reloaded": reloaded,
        }
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/api/status", handle_status, methods=["GET"]),
        Route("/api/config", handle_config, methods=["GET"]),
        Route("/api/config/router", handle_put_router, methods=["PUT"]),
        Route("/api/config/server", handle_put_server, methods=["PUT"]),
        Route("/api/config/json", handle_compat_get, methods=["GET"]),
        Route("/api/config/json", handle_compat_post, methods=["POST"]),
        Route("/api/providers", handle_post_provider, methods=["POST"]),
        Route("/api/providers/{name}", handle_put_provider, methods=["PUT"]),
        Route("/api/providers/{name}", handle_delete_provider, methods=["DELETE"]),
        Route("/api/models", handle_post_model, methods=["POST"]),
        Route("/api/models/{name:path}", handle_put_model, methods=["PUT"]),
        Route("/api/models/{name:path}", handle_delete_model, methods=["DELETE"]),
        Route("/api/reload", handle_reload, methods=["POST"]),
        Route("/api/presets", handle_presets, methods=["GET"]),
        Route("/api/openapi.json", handle_openapi, methods=["GET"]),
    ]
