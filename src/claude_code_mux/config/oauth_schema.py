"""``[oauth]``: OAuth endpoints and client settings (defaults are the currently working endpoints).

Every host here has moved at least once (see ``reference/oauth.md`` §11), so all of them are configuration.
For tests, ``CCM_OAUTH_BASE_URL`` (see :func:`claude_code_mux.auth.settings.apply_env_overrides`) points every
endpoint at a mock server.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatGPTOAuthSettings(BaseModel):
    """``[oauth.chatgpt]``: the ChatGPT (Codex) subscription login: OpenAI's auth server and the public Codex client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The public Codex CLI client (no secret exists); its only registered redirect is the loopback one below.
    client_id: str = "app_EMoamEEZ73f0CkXaXp7hrann"
    authorize_url: str = "https://auth.openai.com/oauth/authorize"
    token_url: str = "https://auth.openai.com/oauth/token"
    redirect_uri: str = "http://localhost:1455/auth/callback"
    scopes: str = "openid profile email offline_access"
    # Extra authorize parameters the flow documents (``originator`` names the client: us).
    authorize_params: dict[str, str] = Field(
        default_factory=lambda: {
            "id_token_add_organizations": "true",
            "codex_cli_simplified_flow": "true",
            "originator": "claude-code-mux",
        }
    )


class OAuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Claude Code's public client (no secret exists).
    client_id: str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    # Claude Code itself opens https://claude.com/cai/oauth/authorize, which 307-redirects here.
    authorize_url_max: str = "https://claude.ai/oauth/authorize"
    authorize_url_console: str = "https://platform.claude.com/oauth/authorize"
    # console.anthropic.com/v1/oauth/token answers 404 since 2026-06.
    token_url: str = "https://platform.claude.com/v1/oauth/token"
    # Tried in order only when the token endpoint answers 404 (nothing was consumed, so a retry is safe).
    token_url_fallbacks: tuple[str, ...] = ("https://api.anthropic.com/v1/oauth/token",)
    # The hosted page that shows ``code#state`` for the manual (paste) flow.
    redirect_uri: str = "https://platform.claude.com/oauth/code/callback"
    create_api_key_url: str = "https://api.anthropic.com/api/oauth/claude_cli/create_api_key"
    scopes: str = (
        "org:create_api_key user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"
    )
    beta: str = "oauth-2025-04-20"
    # The User-Agent sent to the token endpoint. We say who we are; we never imitate another client
    # (the endpoint has been seen filtering on User-Agent: see the README's OAuth troubleshooting).
    token_user_agent: str = "claude-code-mux/0.1"
    # Timeout for one call to the token or create_api_key endpoint.
    http_timeout_s: float = Field(default=30.0, gt=0)
    # Refresh this many seconds before the access token expires.
    refresh_skew_s: float = Field(default=300.0, ge=0)
    # How a new token file is sealed at rest: "none" (the original's plain JSON), "keyring" (key in the OS
    # keyring) or "keyfile" (a 0600 key beside the file). An existing file keeps its own; see `ccm tokens encrypt`.
    store_encryption: Literal["none", "keyring", "keyfile"] = "none"
    # Inclusive port range tried, in order, for the CLI's loopback callback server.
    callback_ports: tuple[int, int] = (8765, 8795)
    # The ChatGPT (Codex) subscription login.
    chatgpt: ChatGPTOAuthSettings = Field(default_factory=ChatGPTOAuthSettings)
