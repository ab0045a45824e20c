"""The OpenAPI 3.1 document of the admin API. Request schemas come from the pydantic input models, so the
document cannot drift from what the server accepts; paths and responses are written out here."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from claude_code_mux import __version__
from claude_code_mux.access.admin import KeyCreate
from claude_code_mux.server.admin.openapi_access import oauth_paths, usage_paths
from claude_code_mux.server.admin.openapi_parts import COMMON, ERROR, NAME, OBJ, REF, WRITE, body, err, ok, op
from claude_code_mux.server.admin.schemas import (
    CompatConfigIn,
    ConsoleIn,
    ModelIn,
    OAuthAuthorizeIn,
    OAuthExchangeIn,
    OAuthImportCodexIn,
    OAuthProviderIn,
    ProviderIn,
    RouterIn,
    ServerIn,
)

_INPUTS: tuple[type[BaseModel], ...] = (
    ProviderIn,
    ModelIn,
    RouterIn,
    ServerIn,
    ConsoleIn,
    CompatConfigIn,
    OAuthAuthorizeIn,
    OAuthExchangeIn,
    OAuthProviderIn,
    OAuthImportCodexIn,
    KeyCreate,
)

_STATE = {
    "type": "object",
    "required": ["config_path", "config"],
    "properties": {
        "saved": {"type": "boolean"},
        "reloaded": {"type": "boolean"},
        "config_path": {"type": ["string", "null"]},
        "file_error": {
            "type": ["string", "null"],
            "description": "why the file on disk does not load, if so",
        },
        "config": {
            "type": "object",
            "description": "the running config; secrets are $ENV references or ********",
        },
    },
}


def _paths() -> dict[str, Any]:
    state = ok({"$ref": "#/components/schemas/ConfigState"})
    return {
        "/api/status": {
            "get": op(
                "Version, uptime, routing table, provider health and cooldowns, OAuth token status",
                {"200": ok(OBJ), **COMMON},
            )
        },
        "/api/config": {"get": op("The running config with secrets masked", {"200": state, **COMMON})},
        "/api/config/router": {
            "put": op(
                "Set [router] keys (null removes a key); written to the file and applied",
                {"200": state, **WRITE},
                requestBody=body(RouterIn),
            )
        },
        "/api/config/server": {
            "put": op(
                "Set [server] keys; host and port apply at the next start",
                {"200": state, **WRITE},
                requestBody=body(ServerIn),
            )
        },
        "/api/config/json": {
            "get": op("The original claude-code-mux shape, secrets masked", {"200": ok(OBJ), **COMMON}),
            "post": op(
                "The original shape: null values ignored, providers/models replace the lists, a masked "
                "api_key keeps the stored one",
                {"200": ok(OBJ), **WRITE},
                requestBody=body(CompatConfigIn),
            ),
        },
        "/api/providers": {"post": op("Add a provider", {"201": state, **WRITE}, requestBody=body(ProviderIn))},
        "/api/providers/{name}": {
            "parameters": NAME,
            "put": op(
                "Change the fields sent (null removes; ******** keeps the key; a new name renames)",
                {"200": state, "404": err("no such provider"), **WRITE},
                requestBody=body(ProviderIn),
            ),
            "delete": op(
                "Remove a provider no model maps to",
                {"200": state, "404": err("no such provider"), **WRITE},
            ),
        },
        "/api/models": {"post": op("Add a model and its mappings", {"201": state, **WRITE}, requestBody=body(ModelIn))},
        "/api/models/{name}": {
            "parameters": NAME,
            "put": op(
                "Change a model; mappings, when sent, replace the list",
                {"200": state, "404": err("no such model"), **WRITE},
                requestBody=body(ModelIn),
            ),
            "delete": op("Remove a model", {"200": state, "404": err("no such model"), **WRITE}),
        },
        "/api/reload": {
            "post": op(
                "Reload the config file now (an invalid file is reported and not applied)",
                {"200": state, **WRITE},
            )
        },
        "/api/accounts": {
            "get": op(
                "Account pools: each account's quota windows (utilization 0-1, reset epoch s), state "
                "(ok, soft, hard) and pinned sessions",
                {
                    "200": ok(
                        {
                            "type": "object",
                            "required": ["accounts"],
                            "properties": {
                                "accounts": {"type": "array", "items": OBJ},
                                "now": {"type": ["number", "null"]},
                                "poll_usage_s": {"type": "number"},
                            },
                        }
                    ),
                    **COMMON,
                },
            )
        },
        "/api/requests": {
            "get": op(
                "Recent requests (the flow log), newest first; with the fleet on, every instance's "
                "(each tagged with its instance)",
                {
                    "200": ok(
                        {
                            "type": "object",
                            "required": ["requests"],
                            "properties": {
                                "requests": {"type": "array", "items": OBJ},
                                "total": {"type": "integer"},
                            },
                        }
                    ),
                    "400": err("bad limit"),
                    **COMMON,
                },
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {"name": "session", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/api/requests/stream": {
            "get": op(
                "Live feed: one `event: request` per finished request (Server-Sent Events)",
                {
                    "200": {
                        "description": "an endless SSE stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **COMMON,
                },
            )
        },
        "/api/test": {
            "post": op(
                "Send a message through this router; JSON summary, or SSE (meta, text..., done) when the "
                "request accepts text/event-stream",
                {
                    "200": {
                        "description": "the summary (status, text, x-ccm-* headers, attempts, latency)",
                        "content": {
                            "application/json": {"schema": OBJ},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    **WRITE,
                },
                requestBody=body(ConsoleIn),
            )
        },
        "/api/presets": {"get": op("Provider presets", {"200": ok(OBJ), **COMMON})},
        "/api/openapi.json": {"get": op("This document", {"200": ok(OBJ), **COMMON})},
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR, "ConfigState": _STATE}
    for model in _INPUTS:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "claude-code-mux admin API",
            "version": __version__,
            "description": "JSON only. Beyond loopback every call needs server.admin_key (x-admin-key or "
            "Authorization: Bearer); writes need Content-Type: application/json and a same-origin "
            "Origin/Referer when present. Errors are Anthropic error envelopes.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"adminKey": {"type": "apiKey", "in": "header", "name": "x-admin-key"}},
        },
        "security": [{}, {"adminKey": []}],
        "paths": {**_paths(), **oauth_paths(), **usage_paths()},
    }
