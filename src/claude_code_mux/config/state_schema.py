"""The ``[state]`` table: where instances of a fleet share their state (in-process by default, or Redis)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class StateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # "memory": this process only (zero setup). "redis": tokens + refresh lock, cooldowns, quota readings,
    # sticky sessions, rate limits, the live feed and config-change notices shared through Redis.
    backend: Literal["memory", "redis"] = "memory"
    # redis://[:password@]host:port/db or rediss:// (TLS); "$REDIS_URL" reads the environment.
    url: SecretStr | None = None
    key_prefix: str = Field("ccm:", min_length=1, max_length=64)
    # How long one Redis call may take before the instance carries on with local state (degraded).
    timeout_ms: int = Field(1500, gt=0, le=60_000)

    @field_validator("key_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9:_.\-]+", v):
            raise ValueError("key_prefix may hold letters, digits and : _ . - only")
        return v

    @model_validator(mode="after")
    def _needs_url(self) -> StateSettings:
        if self.backend == "redis":
            if self.url is None:
                raise ValueError('backend = "redis" needs url = "redis://host:6379/0" (or "$REDIS_URL")')
            if not re.match(r"^rediss?://", self.url.get_secret_value()):
                raise ValueError("url must start with redis:// or rediss://")
        return self
