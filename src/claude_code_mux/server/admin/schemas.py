"""Pydantic schemas of admin API request bodies, and reading a body into one (400 names the field)."""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request

from claude_code_mux.auth.login import DEFAULT_PROVIDER_ID
from claude_code_mux.config.schema import AuthType
from claude_code_mux.errors import InvalidRequest
from claude_code_mux.server.api.body import read_limited_body

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
MODEL_NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
HEADER_SAFE = r"^[^\x00-\x1f\x7f]*$"
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
MAX_ADMIN_BODY = 1024 * 1024

M = TypeVar("M", bound=BaseModel)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def given(self, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Only the fields the client sent (``null`` included: it removes the key from the file)."""
        data = self.model_dump(mode="json")
        return {k: data[k] for k in self.model_fields_set if k not in exclude}


class ProviderIn(_In):
    name: str | None = Field(None, pattern=NAME_PATTERN)
    provider_type: str | None = Field(None, min_length=1, max_length=64)
    dialect: Literal["anthropic", "openai", "openai-responses", "gemini"] | None = None
    base_url: str | None = Field(None, max_length=2000, pattern=r"^https?://[^/\s]+\S*$")
    auth_type: AuthType | None = None
    # "$ENV_VAR", a literal key, or "********" to keep the stored key.
    api_key: str | None = Field(None, min_length=1, max_length=4000, pattern=HEADER_SAFE)
    oauth_provider: str | None = Field(None, pattern=NAME_PATTERN)
    enabled: bool | None = None
    models: list[str] | None = Field(None, max_length=200)
    headers: dict[str, str] | None = None
    project_id: str | None = Field(None, max_length=200)
    location: str | None = Field(None, max_length=200)
    # Gemini: Google Cloud project (Vertex AI, Code Assist), credentials JSON file (Vertex AI), safetySettings.
    project: str | None = Field(None, min_length=1, max_length=200, pattern=HEADER_SAFE)
    credentials_file: str | None = Field(None, min_length=1, max_length=4096, pattern=HEADER_SAFE)
    safety_settings: dict[str, str] | None = None
    # Outbound proxy ("http://[user:pass@]host:port" or "none"); a secret: "********" keeps the stored one.
    proxy: str | None = Field(None, min_length=1, max_length=2000, pattern=HEADER_SAFE)
    # A pool: OAuth login ids or API keys (secrets: "********" keeps the stored key at that position).
    oauth_accounts: list[str] | None = Field(None, max_length=100)
    api_keys: list[str] | None = Field(None, max_length=100)
    strategy: Literal["priority", "round_robin", "least_utilized"] | None = None
    weights: list[int] | None = Field(None, max_length=100)

    @field_validator("safety_settings")
    @classmethod
    def _safety(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for category, threshold in (v or {}).items():
            if not re.fullmatch(r"[A-Z_]{1,80}", category) or not re.fullmatch(r"[A-Z_]{1,80}", threshold):
                raise ValueError("safety_settings maps HARM_CATEGORY_* names to thresholds such as BLOCK_ONLY_HIGH")
        return v

    @field_validator("oauth_accounts")
    @classmethod
    def _accounts(cls, v: list[str] | None) -> list[str] | None:
        for account in v or []:
            if not re.match(NAME_PATTERN, account):
                raise ValueError(f"{account[:64]!r} is not a login id (letters, digits, '.', '_', '-')")
        return v

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, v: list[str] | None) -> list[str] | None:
        for key in v or []:
            if not key or len(key) > 4000 or _CONTROL.search(key):
                raise ValueError("api_keys entries must be 1 to 4000 characters without control characters")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for name, value in (v or {}).items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name[:100]!r} is not a valid HTTP header name")
            if _CONTROL.search(value) or len(value) > 8000:
                raise ValueError(f"the value of {name!r} has control characters or is too long")
        return v

    @field_validator("models")
    @classmethod
    def _patterns(cls, v: list[str] | None) -> list[str] | None:
        for pattern in v or []:
            if not pattern or len(pattern) > 200 or _CONTROL.search(pattern):
                raise ValueError("model patterns must be 1 to 200 characters without control characters")
        return v


class MappingIn(_In):
    provider: str = Field(pattern=NAME_PATTERN)
    actual_model: str = Field(pattern=MODEL_NAME_PATTERN)
    priority: int = Field(1, ge=0, le=1_000_000)


class ModelIn(_In):
    name: str | None = Field(None, pattern=MODEL_NAME_PATTERN)
    context_window: int | None = Field(None, gt=0, le=100_000_000)
    mappings: list[MappingIn] | None = Field(None, max_length=100)


class PromptRuleIn(_In):
    pattern: str = Field(max_length=2000)
    model: str = Field(pattern=MODEL_NAME_PATTERN)
    name: str | None = Field(None, max_length=200)
    strip_match: bool = False


_route = Field(None, pattern=MODEL_NAME_PATTERN)


class RouterIn(_In):
    default: str | None = _route
    background: str | None = _route
    think: str | None = _route
    websearch: str | None = _route
    image: str | None = _route
    long_context: str | None = _route
    long_context_threshold: int | None = Field(None, gt=0, le=100_000_000)
    auto_map_regex: str | None = Field(None, max_length=1000)
    background_regex: str | None = Field(None, max_length=1000)
    auto_map: bool | None = None
    think_types: list[str] | None = Field(None, max_length=20)
    think_min_budget: int | None = Field(None, ge=0, le=100_000_000)
    think_efforts: list[str] | None = Field(None, max_length=20)
    order: list[str] | None = Field(None, max_length=20)
    disabled: list[str] | None = Field(None, max_length=20)
    rules: list[PromptRuleIn] | None = Field(None, max_length=200)


class ServerIn(_In):
    host: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\-\[\]%]+$")
    port: int | None = Field(None, ge=0, le=65535)
    log_level: Literal["debug", "info", "warn", "warning", "error", "critical"] | None = None


class ConsoleIn(_In):
    model: str = Field(pattern=MODEL_NAME_PATTERN)
    message: str = Field("Reply with exactly: pong", min_length=1, max_length=100_000)
    system: str | None = Field(None, max_length=100_000)
    max_tokens: int = Field(256, ge=1, le=64_000)
    stream: bool = True
    # Sent as X-Provider: restricts the candidates to this provider.
    provider: str | None = Field(None, pattern=NAME_PATTERN)
    temperature: float | None = Field(None, ge=0, le=2)
    # Sent as x-api-key instead of the router's key: lets a passthrough provider be tested with the client's own
    # key. Never echoed back nor logged.
    client_key: str | None = Field(None, min_length=1, max_length=4000, pattern=HEADER_SAFE)


class OAuthIn(_In):
    """OAuth API bodies: unknown fields are ignored, as the original's clients may send more."""

    model_config = ConfigDict(extra="ignore")


LoginKind = Literal["claude", "chatgpt", "gemini", "gemini-cli"]


class OAuthAuthorizeIn(OAuthIn):
    # Which login: Claude (default), ChatGPT (Codex) or the Gemini CLI's; unset, the provider_id decides
    # (chatgpt / chatgpt-* and gemini / gemini-* are those logins, as with `ccm login`).
    provider: LoginKind | None = None
    oauth_type: Literal["max", "console"] = "max"  # Claude Pro/Max, or create an API key (console)
    provider_id: str | None = Field(None, pattern=NAME_PATTERN)
    project: str | None = Field(None, min_length=1, max_length=200, pattern=HEADER_SAFE)  # Gemini: Code Assist


class OAuthImportCodexIn(OAuthIn):
    provider_id: str = Field("chatgpt", pattern=NAME_PATTERN)
    path: str | None = Field(None, min_length=1, max_length=4096, pattern=HEADER_SAFE)  # default ~/.codex/auth.json


class OAuthStateIn(OAuthIn):
    state: str = Field(min_length=1, max_length=512)


class OAuthExchangeIn(OAuthIn):
    code: str = Field(min_length=1, max_length=8192)  # what the page shows: code#state, a URL or a bare code
    state: str | None = Field(None, max_length=512)
    # The original's body: the login is stored under provider_id when given (else the id given at authorize);
    # verifier is accepted and ignored (ours never left the server).
    provider_id: str | None = Field(None, pattern=NAME_PATTERN)
    verifier: str | None = Field(None, max_length=1024)


class OAuthProviderIn(OAuthIn):
    provider_id: str = Field(pattern=NAME_PATTERN)


class DeviceProviderIn(OAuthIn):
    provider_id: str = Field(DEFAULT_PROVIDER_ID, pattern=NAME_PATTERN)


class DeviceStartIn(OAuthIn):
    provider: LoginKind | None = None
    provider_id: str | None = Field(None, pattern=NAME_PATTERN)
    project: str | None = Field(None, min_length=1, max_length=200, pattern=HEADER_SAFE)


class DeviceSubmitIn(OAuthIn):
    code: str = Field(min_length=1, max_length=8192)


class CompatServerIn(_In):
    host: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\-\[\]%]+$")
    port: int | None = Field(None, ge=0, le=65535)


class CompatRouterIn(_In):
    default: str | None = _route
    background: str | None = _route
    think: str | None = _route
    websearch: str | None = _route
    auto_map_regex: str | None = Field(None, max_length=1000)
    background_regex: str | None = Field(None, max_length=1000)


class CompatModelIn(_In):
    name: str = Field(pattern=MODEL_NAME_PATTERN)
    mappings: list[MappingIn] = Field(default_factory=list, max_length=100)


class CompatProviderIn(ProviderIn):
    name: str = Field(pattern=NAME_PATTERN)


class CompatConfigIn(_In):
    """The original's ``POST /api/config/json`` body; null values are ignored, arrays replace wholesale."""

    model_config = ConfigDict(extra="ignore")

    server: CompatServerIn | None = None
    router: CompatRouterIn | None = None
    providers: list[CompatProviderIn] | None = Field(None, max_length=200)
    models: list[CompatModelIn] | None = Field(None, max_length=500)


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


async def read_body(request: Request, model: type[M], *, strip_nulls: bool = False, limit: int = MAX_ADMIN_BODY) -> M:
    """Parse the JSON body into ``model``; any problem is a 400 whose message starts with the field."""
    raw = await read_limited_body(request, limit)
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"body: must be a JSON object, not {type(data).__name__}")
    if strip_nulls:
        data = _strip_nulls(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        msg = "unknown field" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        more = exc.error_count() - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise InvalidRequest(f"{_field_path(loc)}: {msg}{suffix}") from None
