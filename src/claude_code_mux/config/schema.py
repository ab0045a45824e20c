"""Pydantic models of ``config.toml``: the original claude-code-mux schema, unchanged, plus our additions.

Every table forbids unknown keys so that a typo is reported (with a suggestion) instead of silently
ignored. Secrets are :class:`pydantic.SecretStr` so they never appear in a ``repr`` or a log line.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.config.usage_schema import UsageConfig

DEFAULT_PORT = 13456
DEFAULT_RULE_ORDER = (
    "explicit",
    "subagent",
    "websearch",
    "image",
    "long_context",
    "think",
    "background",
    "prompt_rules",
    "default",
)
AuthType = Literal["apikey", "oauth", "passthrough", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    """``[server.timeouts]``. ``api_timeout_ms`` is the original's key; we read it as the read timeout."""

    api_timeout_ms: int = Field(600_000, gt=0)
    connect_timeout_ms: int = Field(10_000, gt=0)
    # Longest silence allowed from the upstream (before the first byte and between chunks).
    read_timeout_ms: int | None = Field(None, gt=0)
    # Longest total wait for honouring upstream ``retry-after`` before giving up.
    retry_budget_ms: int = Field(10_000, ge=0)
    # How long SIGTERM lets open streams finish.
    shutdown_grace_ms: int = Field(10_000, ge=0)
    # Longest silence allowed while a client sends a request head or body (slowloris).
    client_read_ms: int = Field(30_000, gt=0)

    @property
    def read_ms(self) -> int:
        return self.read_timeout_ms or self.api_timeout_ms


class CorsConfig(_Strict):
    """``[server.cors]``: browser origins allowed to call ``/v1/*`` (preflight answered by the router)."""

    allow_origins: tuple[str, ...] = ()
    max_age_s: int = Field(600, ge=0)


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    api_key: SecretStr | None = None
    admin_key: SecretStr | None = None
    log_level: Literal["trace", "debug", "info", "warn", "warning", "error", "critical"] = "info"
    timeouts: Timeouts = Timeouts()
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0)
    # Upstream 4xx statuses that should fail over anyway (off by default: a 400 is the client's fault).
    failover_on_status: tuple[int, ...] = ()
    # Rate limit per client key: requests per second and burst (0 disables).
    rate_limit_rps: float = Field(0.0, ge=0)
    rate_limit_burst: int = Field(0, ge=0)
    max_streams_per_client: int = Field(0, ge=0)
    # Upstream HTTP client for the Anthropic passthrough: "fast" (our lean HTTP/1.1 keep-alive pool) or
    # "aiohttp" (aiohttp's client).
    upstream_client: Literal["fast", "aiohttp"] = "fast"
    # Deprecated and ignored: the one server stack (uvicorn) serves everything. Kept so old configs load.
    front: Literal["fast", "aiohttp"] | None = None
    # Host names (besides loopback) clients may use to reach the router, e.g. a name in /etc/hosts.
    allowed_hosts: tuple[str, ...] = ()
    cors: CorsConfig = CorsConfig()
    # Optional JSONL request trace (redacted).
    trace_path: str | None = None
    trace_max_bytes: int = Field(50 * 1024 * 1024, gt=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("front")
    @classmethod
    def _front_deprecated(cls, v: str | None) -> str | None:
        if v is not None:
            logging.getLogger("claude_code_mux").warning(
                "server.front is deprecated and ignored: one server stack serves every request; remove the key"
            )
        return v


class PromptRule(_Strict):
    """``[[router.rules]]``: a regex on the last user text picks a model."""

    pattern: str
    model: str
    name: str | None = None
    strip_match: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return v


class RouterConfig(_Strict):
    default: str
    background: str | None = None
    think: str | None = None
    websearch: str | None = None
    image: str | None = None
    long_context: str | None = None
    long_context_threshold: int = Field(60_000, gt=0)
    auto_map_regex: str | None = "^claude-"
    background_regex: str | None = "(?i)claude.*haiku"
    # auto-map can be switched off (the original could not).
    auto_map: bool = True
    # Think trigger: thinking types, minimum budget, and effort levels that also trigger it.
    think_types: tuple[str, ...] = ("enabled",)
    think_min_budget: int = Field(0, ge=0)
    think_efforts: tuple[str, ...] = ()
    order: tuple[str, ...] = DEFAULT_RULE_ORDER
    disabled: tuple[str, ...] = ()
    rules: tuple[PromptRule, ...] = ()

    @field_validator("auto_map_regex", "background_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return v

    @field_validator("order", "disabled")
    @classmethod
    def _known_rules(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in v if r not in DEFAULT_RULE_ORDER]
        if unknown:
            raise ValueError(f"unknown rule(s) {unknown}; known rules: {', '.join(DEFAULT_RULE_ORDER)}")
        return v


class ProviderConfig(_Strict):
    name: str = Field(min_length=1)
    provider_type: str = "anthropic"
    auth_type: AuthType = "apikey"
    api_key: SecretStr | None = None
    base_url: str | None = None
    oauth_provider: str | None = None
    models: tuple[str, ...] = ()
    enabled: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    # Cap on max_tokens sent to this provider (OpenAI dialect); the preset's when unset.
    max_output_tokens: int | None = Field(default=None, gt=0)
    # Dialect override for a custom endpoint ("anthropic" or "openai"); normally the preset decides.
    dialect: Literal["anthropic", "openai"] | None = None
    # vertex-ai keys of the original schema, accepted for compatibility.
    project_id: str | None = None
    location: str | None = None

    @field_validator("auth_type", mode="before")
    @classmethod
    def _auth_alias(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().lower()
            if v in ("api_key", "api-key", "key"):
                return "apikey"
        return v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("base_url must start with http:// or https:// and name a host")
        return v.rstrip("/") if v else v


class ModelMapping(_Strict):
    provider: str
    actual_model: str
    priority: int = Field(1, ge=0)


class ModelConfig(_Strict):
    name: str = Field(min_length=1)
    mappings: tuple[ModelMapping, ...] = ()
    # Context window of the routed model, used by ``ccm code`` for auto-compaction.
    context_window: int | None = Field(None, gt=0)


class PriceConfig(_Strict):
    """USD per million tokens, for usage cost estimates."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0


class Config(_Strict):
    server: ServerConfig = ServerConfig()
    router: RouterConfig
    providers: tuple[ProviderConfig, ...] = ()
    models: tuple[ModelConfig, ...] = ()
    oauth: OAuthSettings = OAuthSettings()
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    usage: UsageConfig = UsageConfig()

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [p.name for p in self.providers]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"duplicate provider name(s): {', '.join(sorted(dupes))}")
        known = set(names)
        for m in self.models:
            for mp in m.mappings:
                if mp.provider not in known:
                    raise ValueError(
                        f"model '{m.name}' maps to unknown provider '{mp.provider}'"
                        f" (known: {', '.join(sorted(known)) or 'none'})"
                    )
        for p in self.providers:
            if p.auth_type == "oauth" and not p.oauth_provider:
                # The original UI sets oauth_provider = name; do the same for hand-written configs.
                object.__setattr__(p, "oauth_provider", p.name)
        return self

    def provider(self, name: str) -> ProviderConfig | None:
        for p in self.providers:
            if p.name == name:
                return p
        return None

    def model(self, name: str) -> ModelConfig | None:
        for m in self.models:
            if m.name == name:
                return m
        return None
