"""The ``[subscription]`` table: how quota readings steer traffic between subscription accounts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SubscriptionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A window this full takes no new sessions (pinned sessions stay) until it resets.
    soft_limit: float = Field(0.9, gt=0, le=1)
    # A window this full (or a "rejected" answer) takes no traffic at all until it resets.
    hard_limit: float = Field(0.98, gt=0, le=1)
    # How long a Claude Code session stays on the account that served it (renewed on every request).
    sticky_ttl_s: float = Field(3600.0, gt=0)
    # Poll GET /api/oauth/usage for accounts idle this long (0: never; readings come from answers).
    poll_usage_s: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _order(self) -> SubscriptionSettings:
        if self.soft_limit > self.hard_limit:
            raise ValueError("subscription.soft_limit must not exceed hard_limit")
        return self
