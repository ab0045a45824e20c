"""``[oauth]``: OAuth endpoints and client settings (defaults are the currently working endpoints)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OAuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    authorize_url_max: str = "https://claude.ai/oauth/authorize"
    authorize_url_console: str = "https://console.anthropic.com/oauth/authorize"
    token_url: str = "https://console.anthropic.com/v1/oauth/token"
    redirect_uri: str = "https://console.anthropic.com/oauth/code/callback"
    create_api_key_url: str = "https://api.anthropic.com/api/oauth/claude_cli/create_api_key"
    scopes: str = "org:create_api_key user:profile user:inference"
    beta: str = "oauth-2025-04-20"
