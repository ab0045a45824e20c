"""The OpenAPI 3.1 document of the admin API. Request schemas come from the pydantic input models, so the
document cannot drift from what the server accepts; paths and responses are written out here."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from claude_code_mux import __version__
from claude_code_mux.access.admin import KeyCreate
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

_REF = "#/components/schemas/{model}"
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

_ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
_OBJ: dict[str, Any] = {"type": "object"}
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


def _err(desc: str) -> dict[str, Any]:
    return {
        "description": desc,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema: dict[str, Any], desc: str = "OK") -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }


_COMMON = {"403": _err("admin key missing or wrong, non-loopback Host, or cross-origin call")}
_WRITE = {
    **_COMMON,
    "400": _err("invalid body, or the resulting config does not validate (the message names the field)"),
    "409": _err("conflicts with the file (exists, still in use) or there is no config file"),
    "415": _err("Content-Type is not application/json"),
}
_NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _paths() -> dict[str, Any]:
    state = _ok({"$ref": "#/components/schemas/ConfigState"})
    return {
        "/api/status": {
            "get": _op(
                "Version, uptime, routing table, provider health and cooldowns, OAuth token status",
                {"200": _ok(_OBJ), **_COMMON},
            )
        },
        "/api/config": {"get": _op("The running config with secrets masked", {"200": state, **_COMMON})},
        "/api/config/router": {
            "put": _op(
                "Set [router] keys (null removes a key); written to the file and applied",
                {"200": state, **_WRITE},
                requestBody=_body(RouterIn),
            )
        },
        "/api/config/server": {
            "put": _op(
                "Set [server] keys; host and port apply at the next start",
                {"200": state, **_WRITE},
                requestBody=_body(ServerIn),
            )
        },
        "/api/config/json": {
            "get": _op("The original claude-code-mux shape, secrets masked", {"200": _ok(_OBJ), **_COMMON}),
            "post": _op(
                "The original shape: null values ignored, providers/models replace the lists, a masked "
                "api_key keeps the stored one",
                {"200": _ok(_OBJ), **_WRITE},
                requestBody=_body(CompatConfigIn),
            ),
        },
        "/api/providers": {"post": _op("Add a provider", {"201": state, **_WRITE}, requestBody=_body(ProviderIn))},
        "/api/providers/{name}": {
            "parameters": _NAME,
            "put": _op(
                "Change the fields sent (null removes; ******** keeps the key; a new name renames)",
                {"200": state, "404": _err("no such provider"), **_WRITE},
                requestBody=_body(ProviderIn),
            ),
            "delete": _op(
                "Remove a provider no model maps to",
                {"200": state, "404": _err("no such provider"), **_WRITE},
            ),
        },
        "/api/models": {
            "post": _op("Add a model and its mappings", {"201": state, **_WRITE}, requestBody=_body(ModelIn))
        },
        "/api/models/{name}": {
            "parameters": _NAME,
            "put": _op(
                "Change a model; mappings, when sent, replace the list",
                {"200": state, "404": _err("no such model"), **_WRITE},
                requestBody=_body(ModelIn),
            ),
            "delete": _op("Remove a model", {"200": state, "404": _err("no such model"), **_WRITE}),
        },
        "/api/reload": {
            "post": _op(
                "Reload the config file now (an invalid file is reported and not applied)",
                {"200": state, **_WRITE},
            )
        },
        "/api/accounts": {
            "get": _op(
                "Account pools: each account's quota windows (utilization 0-1, reset epoch s), state "
                "(ok, soft, hard) and pinned sessions",
                {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["accounts"],
                            "properties": {
                                "accounts": {"type": "array", "items": _OBJ},
                                "now": {"type": ["number", "null"]},
                                "poll_usage_s": {"type": "number"},
                            },
                        }
                    ),
                    **_COMMON,
                },
            )
        },
        "/api/requests": {
            "get": _op(
                "Recent requests (the flow log), newest first; with the fleet on, every instance's "
                "(each tagged with its instance)",
                {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["requests"],
                            "properties": {
                                "requests": {"type": "array", "items": _OBJ},
                                "total": {"type": "integer"},
                            },
                        }
                    ),
                    "400": _err("bad limit"),
                    **_COMMON,
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
            "get": _op(
                "Live feed: one `event: request` per finished request (Server-Sent Events)",
                {
                    "200": {
                        "description": "an endless SSE stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_COMMON,
                },
            )
        },
        "/api/test": {
            "post": _op(
                "Send a message through this router; JSON summary, or SSE (meta, text..., done) when the "
                "request accepts text/event-stream",
                {
                    "200": {
                        "description": "the summary (status, text, x-ccm-* headers, attempts, latency)",
                        "content": {
                            "application/json": {"schema": _OBJ},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    **_WRITE,
                },
                requestBody=_body(ConsoleIn),
            )
        },
        "/api/presets": {"get": _op("Provider presets", {"200": _ok(_OBJ), **_COMMON})},
        "/api/openapi.json": {"get": _op("This document", {"200": _ok(_OBJ), **_COMMON})},
    }


def _oauth_paths() -> dict[str, Any]:
    done = _ok(
        {
            "type": "object",
            "required": ["success", "provider_id"],
            "properties": {"success": {"type": "boolean"}, "provider_id": {"type": "string"}},
        }
    )
    missing = _err("no login, or OAuth is not available in this server")
    return {
        "/api/oauth/authorize": {
            "post": _op(
                "Start a login (Claude, or ChatGPT / Gemini CLI by provider); the PKCE verifier stays on the server "
                "(keyed by state). ChatGPT and Gemini logins also answer redirect_uri, the terms notice, and "
                "listening: a loopback listener completes the login by itself when the browser comes back here",
                {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["url", "state", "instructions"],
                            "properties": {
                                **{k: {"type": "string"} for k in ("url", "state", "instructions")},
                                **{k: {"type": "string"} for k in ("redirect_uri", "notice")},
                                "listening": {"type": "boolean"},
                            },
                        }
                    ),
                    "404": missing,
                    **_WRITE,
                },
                requestBody=_body(OAuthAuthorizeIn),
            )
        },
        "/api/oauth/exchange": {
            "post": _op(
                "Finish a login with the pasted code; stored under provider_id when given",
                {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["success", "message", "provider_id", "expires_at"],
                            "properties": {
                                "success": {"type": "boolean"},
                                "message": {"type": "string"},
                                "provider_id": {"type": "string"},
                                "expires_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    ),
                    "404": missing,
                    **_WRITE,
                },
                requestBody=_body(OAuthExchangeIn),
            )
        },
        "/api/oauth/status": {
            "get": _op(
                "How a ChatGPT or Gemini login started here stands (pending, done, failed, unknown)",
                {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {"enum": ["pending", "done", "failed", "unknown"]},
                                "provider_id": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    ),
                    **_COMMON,
                },
                parameters=[
                    {"name": "state", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 512}}
                ],
            )
        },
        "/api/oauth/import-codex": {
            "post": _op(
                "Import the Codex CLI's ChatGPT login (default ~/.codex/auth.json; rotated tokens are written back)",
                {"200": done, "404": missing, **_WRITE},
                requestBody=_body(OAuthImportCodexIn),
            )
        },
        "/api/oauth/notices": {
            "get": _op(
                "The terms-of-service notices shown before each kind of login starts",
                {"200": _ok({"type": "object", "additionalProperties": {"type": "string"}}), **_COMMON},
            )
        },
        "/api/oauth/tokens": {
            "get": _op(
                "Logins without secrets: expiry, source (chatgpt, codex:<path>, gemini-cli), kind, project_id",
                {"200": _ok({"type": "array", "items": _OBJ}), "404": missing, **_COMMON},
            )
        },
        "/api/oauth/tokens/refresh": {
            "post": _op(
                "Refresh a login now",
                {"200": done, "404": missing, **_WRITE},
                requestBody=_body(OAuthProviderIn),
            )
        },
        "/api/oauth/tokens/delete": {
            "post": _op("Remove a login", {"200": done, "404": missing, **_WRITE}, requestBody=_body(OAuthProviderIn))
        },
        "/api/oauth/tokens/{provider_id}": {
            "parameters": [
                {"name": "provider_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            ],
            "delete": _op("Remove a login (no body)", {"200": done, "404": missing, **_WRITE}),
        },
    }


def _usage_paths() -> dict[str, Any]:
    """Virtual keys (:mod:`.keys`) and usage (:mod:`.usage_api`)."""
    key = _ok(_OBJ, "the key (a created or rotated one includes `key`, shown only in this answer)")
    bad = _err("unknown key name, duplicate name, or a bad budget / duration")
    since = {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "24h, 7d, 2w or a date"}
    by = {
        "name": "by",
        "in": "query",
        "schema": {"type": "string", "enum": ["model", "provider", "session", "route", "key", "project"]},
    }
    return {
        "/api/keys": {
            "get": _op("Every virtual key, never the key itself", {"200": _ok(_OBJ), **_COMMON}),
            "post": _op("Create a key", {"201": key, **_WRITE, "400": bad}, requestBody=_body(KeyCreate)),
        },
        "/api/keys/{name}/rotate": {
            "parameters": _NAME,
            "post": _op("A new key for the same name and settings", {"200": key, **_WRITE, "400": bad}),
        },
        "/api/keys/{name}": {
            "parameters": _NAME,
            "delete": _op("Revoke a key", {"200": _ok(_OBJ), **_WRITE, "400": bad}),
        },
        "/api/usage": {
            "get": _op(
                "Usage and cost since a time, grouped",
                {"200": _ok(_OBJ), "400": _err("bad by or since"), **_COMMON},
                parameters=[by, since],
            )
        },
        "/api/usage/daily": {
            "get": _op(
                "Per-day spend by model, tokens by route, cache hit ratio",
                {"200": _ok(_OBJ), "400": _err("bad since"), **_COMMON},
                parameters=[since],
            )
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR, "ConfigState": _STATE}
    for model in _INPUTS:
        schema = model.model_json_schema(ref_template=_REF)
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
        "paths": {**_paths(), **_oauth_paths(), **_usage_paths()},
    }
