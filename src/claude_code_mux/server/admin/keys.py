"""The admin key API: ``GET/POST /api/keys``, ``POST /api/keys/{name}/rotate``, ``DELETE /api/keys/{name}``.

Thin routes over :mod:`claude_code_mux.access.admin` (run in a worker thread: they touch ``keys.db``). A created or
rotated key is in the answer once, under ``key``; listings never hold it. The running router sees a change within
its key ring's watch interval (about a second); the answer also asks the gate to re-read at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from claude_code_mux.access.admin import KeyCreate, create_key, list_keys, revoke_key, rotate_key
from claude_code_mux.access.keystore import FILENAME, KeyStore
from claude_code_mux.errors import InvalidRequest, KeyStoreError, NotFound
from claude_code_mux.server.admin.context import holder_of, json_response
from claude_code_mux.server.admin.guard import guard
from claude_code_mux.server.admin.schemas import read_body


def _store(request: Request) -> KeyStore:
    home = holder_of(request).home
    if home is None:
        raise NotFound("this router runs without a home directory, so it keeps no keys")
    return KeyStore(home / FILENAME)


async def _run(request: Request, fn: Callable[[], Any], status: int = 200) -> Response:
    try:
        data = await asyncio.to_thread(fn)
    except KeyStoreError as exc:
        raise InvalidRequest(str(exc)) from None
    gate = holder_of(request).gate
    if gate is not None:
        await gate.keys.refresh()  # this process sees the change now, not at the next watch tick
    return json_response(data, status)


async def handle_list(request: Request) -> Response:
    guard(request)
    store = _store(request)
    keys = await asyncio.to_thread(list_keys, store, include_inactive=True)
    return json_response({"keys": keys})


async def handle_create(request: Request) -> Response:
    guard(request)
    body = await read_body(request, KeyCreate)
    store = _store(request)
    return await _run(request, lambda: create_key(store, body), status=201)


async def handle_rotate(request: Request) -> Response:
    guard(request)
    store, name = _store(request), request.path_params["name"]
    return await _run(request, lambda: rotate_key(store, name))


async def handle_revoke(request: Request) -> Response:
    guard(request)
    store, name = _store(request), request.path_params["name"]
    return await _run(request, lambda: revoke_key(store, name))


def routes() -> list[BaseRoute]:
    return [
        Route("/api/keys", handle_list, methods=["GET"]),
        Route("/api/keys", handle_create, methods=["POST"]),
        Route("/api/keys/{name}/rotate", handle_rotate, methods=["POST"]),
        Route("/api/keys/{name}", handle_revoke, methods=["DELETE"]),
    ]
