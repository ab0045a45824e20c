"""The client API's Starlette routes (the hot routes are served before Starlette, see :mod:`.hot`)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from claude_code_mux.server.api.model_list import get_model, list_models
from claude_code_mux.server.api.passthrough import PASSTHROUGH_METHODS, passthrough


def api_routes() -> list[BaseRoute]:
    return [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
        Route("/v1/{tail:path}", passthrough, methods=list(PASSTHROUGH_METHODS)),
    ]
