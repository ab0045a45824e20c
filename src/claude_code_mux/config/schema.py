"""Pydantic models of ``config.toml``: the original claude-code-mux schema, unchanged, plus our additions.

Every table forbids unknown keys so that a typo is reported (with a suggestion) instead of silently
ignored. Secrets are :class:`pydantic.SecretStr` so they never appear in a ``repr`` or a log line.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.config.state_schema import StateSettings
from claude_code_mux.config.subscription_schema import SubscriptionSettings
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
    # Deprecated and ignored: the lean HTTP/1.1 client is the only upstream transport. Still accepted (with a
    # logged warning) so old configs load.
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

    @field_validator("upstream_client")
    @classmethod
    def _deprecated_client(cls, v: str) -> str:
        logging.getLogger(__name__).warning(
            "server.upstream_client is deprecated and ignored (the lean HTTP/1.1 client serves every provider); "
            "remove it from the config"
        )
        return v

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
    # Dialect override for a custom endpoint ("anthropic", "openai", "openai-responses" or "gemini"); normally
    # the preset decides.
    dialect: Literal["anthropic", "openai", "openai-responses", "gemini"] | None = None
    # vertex-ai keys of the original schema, accepted for compatibility.
    project_id: str | None = None
    location: str | None = None
    # Outbound proxy: "http://[user:pass@]host:port", or "none" for direct; unset means HTTPS_PROXY /
    # HTTP_PROXY / NO_PROXY from the environment. A secret: it may carry the proxy's credentials.
    proxy: SecretStr | None = None

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            raw = v.get_secret_value().strip()
            if raw.lower() != "none" and not re.match(r"^http://[^/\s@]+(@[^/\s@]+)?/?$", raw, re.IGNORECASE):
                raise ValueError('proxy must be "none" or "http://[user:pass@]host:port"')
        return v

    # Gemini dialect: the Google Cloud project (Vertex AI; Code Assist when the account needs one), a
    # google-auth credentials JSON file for Vertex AI (Application Default Credentials when unset), and
    # safetySettings as category -> threshold (e.g. HARM_CATEGORY_HARASSMENT = "BLOCK_ONLY_HIGH").
    project: str | None = None
    credentials_file: str | None = None
    safety_settings: dict[str, str] = Field(default_factory=dict)
    # Several credentials (a pool): OAuth login ids (`ccm login ID` each) or API keys, and how to choose.
    oauth_accounts: tuple[str, ...] = ()
    api_keys: tuple[SecretStr, ...] = ()
    strategy: Literal["priority", "round_robin", "least_utilized"] = "priority"
    weights: tuple[int, ...] = ()
    soft_limit: float | None = Field(default=None, gt=0, le=1)  # [subscription] soft_limit for this provider
    hard_limit: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _pool(self) -> ProviderConfig:
        if self.oauth_accounts and self.auth_type != "oauth":
            raise ValueError('oauth_accounts needs auth_type = "oauth"')
        if self.api_keys and self.auth_type != "apikey":
            raise ValueError('api_keys needs auth_type = "apikey"')
        n = len(self.oauth_accounts) or len(self.api_keys)
        if self.weights and len(self.weights) != n:
            raise ValueError(f"weights has {len(self.weights)} entries for {n} account(s); give one per account")
        if any(w < 1 for w in self.weights):
            raise ValueError("weights must be positive integers")
        if len(set(self.oauth_accounts)) != len(self.oauth_accounts):
            raise ValueError("oauth_accounts lists an account twice")
        return self

    @field_validator("auth_type", mode="before")
    @classmethod
    def _auth_alias(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().lower()
            if v in ("api_key", "api-key", "key"):
                return "apikey"
        return v

    @field_validator("location")
    @classmethod
    def _location(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-z][a-z0-9-]{1,40}", v):  # it becomes part of a host name
            raise ValueError("location must be a Google Cloud location such as us-central1, europe-west4 or global")
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
    # 1-hour-TTL cache writes (Anthropic bills them at 2x input); cache_write when unset.
    cache_write_1h: float | None = None


_BUDGET_SCOPE = re.compile(r"^(key|project|session):(\S+)$")


class BudgetConfig(_Strict):
    """``[[budgets]]``: a spend limit on a key, a project or a session (see ``budgets/``)."""

    scope: str
    limit_usd: float = Field(gt=0)
    period: Literal["day", "week", "month", "total"] = "month"
    action: Literal["block", "downgrade"] = "block"
    downgrade_to: str | None = None
    warn_at: float = Field(0.8, gt=0, le=1)

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: str) -> str:
        m = _BUDGET_SCOPE.match(v.strip())
        if m is None:
            raise ValueError(
                f"scope {v!r} is not one of key:NAME, project:NAME, session:ID, session:* "
                '(fix: e.g. scope = "project:myrepo")'
            )
        return v.strip()

    @model_validator(mode="after")
    def _downgrade(self) -> BudgetConfig:
        if self.action == "downgrade" and not self.downgrade_to:
            raise ValueError(
                f'budget {self.scope!r}: action = "downgrade" needs downgrade_to '
                '(fix: add downgrade_to = "<a cheaper [[models]] name>", or use action = "block")'
            )
        return self


class Config(_Strict):
    server: ServerConfig = ServerConfig()
    router: RouterConfig
    providers: tuple[ProviderConfig, ...] = ()
    models: tuple[ModelConfig, ...] = ()
    oauth: OAuthSettings = OAuthSettings()
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    budgets: tuple[BudgetConfig, ...] = ()
    subscription: SubscriptionSettings = SubscriptionSettings()
    state: StateSettings = StateSettings()
    usage: UsageConfig = UsageConfig()

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Config:
        # config/load.py checks these itself, with line numbers, and asks us not to stop at them.
        checked = isinstance(info.context, dict) and info.context.get("references_checked")
        names = [p.name for p in self.providers]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes and not checked:
            raise ValueError(f"duplicate provider name(s): {', '.join(sorted(dupes))}")
        known = set(names)
        for m in self.models:
            for mp in m.mappings:
                if mp.provider not in known and not checked:
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
