"""Build the aiohttp application and run it."""

from __future__ import annotations

import importlib

import orjson
from aiohttp import web

from claude_code_mux import __version__
from claude_code_mux.server.errors import error_middleware
from claude_code_mux.server.messages import handle_count_tokens, handle_messages
from claude_code_mux.server.models import handle_model, handle_models
from claude_code_mux.server.passthrough import handle_passthrough
from claude_code_mux.server.state import HOLDER, RuntimeHolder

HEALTH_BODY = orjson.dumps({"status": "ok", "service": "claude-code-mux", "version": __version__})


async def handle_health(request: web.Request) -> web.Response:
    return web.Response(body=HEALTH_BODY, content_type="application/json")


async def handle_head_root(request: web.Request) -> web.Response:
    return web.Response(status=200)


def build_app(holder: RuntimeHolder) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=1024**3)
    app[HOLDER] = holder
    r = app.router
    r.add_post("/v1/messages", handle_messages)
    r.add_post("/v1/messages/count_tokens", handle_count_tokens)
    r.add_get("/v1/models", handle_models)
    r.add_get("/v1/models/{model_id}", handle_model)
    r.add_get("/health", handle_health)
    r.add_route("HEAD", "/", handle_head_root)
    try:
        from claude_code_mux.server.chat_completions import handle_chat_completions
    except ImportError:  # pragma: no cover - during development only
        pass
    else:
        r.add_post("/v1/chat/completions", handle_chat_completions)
    r.add_route("*", "/v1/{tail:.*}", handle_passthrough)
    # Optional surfaces, each a module with setup(app): admin API + UI, OAuth API, metrics.
    for mod_name in (
        "claude_code_mux.server.admin_api",
        "claude_code_mux.server.oauth_api",
        "claude_code_mux.server.device_login",
        "claude_code_mux.observe.metrics",
        "claude_code_mux.observe.usage",
        "claude_code_mux.observe.trace",
        "claude_code_mux.observe.last_request",
        "claude_code_mux.server.limits",
    ):
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name != mod_name:
                raise
            continue
        mod.setup(app)
    return app
