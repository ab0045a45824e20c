"""The access paths of the admin API's OpenAPI document: OAuth logins, virtual keys and usage
(:mod:`.openapi` assembles it)."""

from __future__ import annotations

from typing import Any

from claude_code_mux.access.admin import KeyCreate
from claude_code_mux.server.admin.openapi_parts import COMMON, NAME, OBJ, WRITE, body, err, ok, op
from claude_code_mux.server.admin.schemas import OAuthAuthorizeIn, OAuthExchangeIn, OAuthImportCodexIn, OAuthProviderIn


def oauth_paths() -> dict[str, Any]:
    done = ok(
        {
            "type": "object",
            "required": ["success", "provider_id"],
            "properties": {"success": {"type": "boolean"}, "provider_id": {"type": "string"}},
        }
    )
    missing = err("no login, or OAuth is not available in this server")
    return {
        "/api/oauth/authorize": {
            "post": op(
                "Start a login (Claude, or ChatGPT / Gemini CLI by provider); the PKCE verifier stays on the server "
                "(keyed by state). ChatGPT and Gemini logins also answer redirect_uri, the terms notice, and "
                "listening: a loopback listener completes the login by itself when the browser comes back here",
                {
                    "200": ok(
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
                    **WRITE,
                },
                requestBody=body(OAuthAuthorizeIn),
            )
        },
        "/api/oauth/exchange": {
            "post": op(
                "Finish a login with the pasted code; stored under provider_id when given",
                {
                    "200": ok(
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
                    **WRITE,
                },
                requestBody=body(OAuthExchangeIn),
            )
        },
        "/api/oauth/status": {
            "get": op(
                "How a ChatGPT or Gemini login started here stands (pending, done, failed, unknown)",
                {
                    "200": ok(
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
                    **COMMON,
                },
                parameters=[
                    {"name": "state", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 512}}
                ],
            )
        },
        "/api/oauth/import-codex": {
            "post": op(
                "Import the Codex CLI's ChatGPT login (default ~/.codex/auth.json; rotated tokens are written back)",
                {"200": done, "404": missing, **WRITE},
                requestBody=body(OAuthImportCodexIn),
            )
        },
        "/api/oauth/notices": {
            "get": op(
                "The terms-of-service notices shown before each kind of login starts",
                {"200": ok({"type": "object", "additionalProperties": {"type": "string"}}), **COMMON},
            )
        },
        "/api/oauth/tokens": {
            "get": op(
                "Logins without secrets: expiry, source (chatgpt, codex:<path>, gemini-cli), kind, project_id",
                {"200": ok({"type": "array", "items": OBJ}), "404": missing, **COMMON},
            )
        },
        "/api/oauth/tokens/refresh": {
            "post": op(
                "Refresh a login now",
                {"200": done, "404": missing, **WRITE},
                requestBody=body(OAuthProviderIn),
            )
        },
        "/api/oauth/tokens/delete": {
            "post": op("Remove a login", {"200": done, "404": missing, **WRITE}, requestBody=body(OAuthProviderIn))
        },
        "/api/oauth/tokens/{provider_id}": {
            "parameters": [
                {"name": "provider_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            ],
            "delete": op("Remove a login (no body)", {"200": done, "404": missing, **WRITE}),
        },
    }


def usage_paths() -> dict[str, Any]:
    """Virtual keys (:mod:`.keys`) and usage (:mod:`.usage_api`)."""
    key = ok(OBJ, "the key (a created or rotated one includes `key`, shown only in this answer)")
    bad = err("unknown key name, duplicate name, or a bad budget / duration")
    since = {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "24h, 7d, 2w or a date"}
    by = {
        "name": "by",
        "in": "query",
        "schema": {"type": "string", "enum": ["model", "provider", "session", "route", "key", "project"]},
    }
    return {
        "/api/keys": {
            "get": op("Every virtual key, never the key itself", {"200": ok(OBJ), **COMMON}),
            "post": op("Create a key", {"201": key, **WRITE, "400": bad}, requestBody=body(KeyCreate)),
        },
        "/api/keys/{name}/rotate": {
            "parameters": NAME,
            "post": op("A new key for the same name and settings", {"200": key, **WRITE, "400": bad}),
        },
        "/api/keys/{name}": {
            "parameters": NAME,
            "delete": op("Revoke a key", {"200": ok(OBJ), **WRITE, "400": bad}),
        },
        "/api/usage": {
            "get": op(
                "Usage and cost since a time, grouped",
                {"200": ok(OBJ), "400": err("bad by or since"), **COMMON},
                parameters=[by, since],
            )
        },
        "/api/usage/daily": {
            "get": op(
                "Per-day spend by model, tokens by route, cache hit ratio",
                {"200": ok(OBJ), "400": err("bad since"), **COMMON},
                parameters=[since],
            )
        },
    }
