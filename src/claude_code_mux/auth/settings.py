"""Where the OAuth settings come from: the ``[oauth]`` table of ``config.toml`` plus environment overrides.

``CCM_OAUTH_BASE_URL=http://127.0.0.1:PORT`` re-points every endpoint (authorize, token, fallbacks, hosted
redirect, create_api_key) at one server, keeping each path: that is how tests and demos use the mock server.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from claude_code_mux.config.oauth_schema import OAuthSettings
from claude_code_mux.errors import ConfigError

BASE_URL_ENV = "CCM_OAUTH_BASE_URL"
CHATGPT_BASE_URL_ENV = "CCM_CHATGPT_OAUTH_BASE_URL"
_URL_FIELDS = (
    "authorize_url_max",
    "authorize_url_console",
    "token_url",
    "redirect_uri",
    "create_api_key_url",
)


def rebase(settings: OAuthSettings, base_url: str) -> OAuthSettings:
    """Every endpoint moved to ``base_url`` (scheme and host), paths kept; fallbacks dropped."""
    base = urlsplit(base_url.rstrip("/"))
    if not base.scheme or not base.netloc:
        raise ConfigError(f"{BASE_URL_ENV} must be an absolute URL like http://127.0.0.1:8080")
    prefix = base.path

    def move(url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, prefix + parts.path, parts.query, parts.fragment))

    update: dict[str, object] = {name: move(getattr(settings, name)) for name in _URL_FIELDS}
    update["token_url_fallbacks"] = ()
    return settings.model_copy(update=update)


def rebase_chatgpt(settings: OAuthSettings, base_url: str) -> OAuthSettings:
    """The ChatGPT login's authorize and token endpoints moved to ``base_url``, paths kept."""
    base = urlsplit(base_url.rstrip("/"))
    if not base.scheme or not base.netloc:
        raise ConfigError(f"{CHATGPT_BASE_URL_ENV} must be an absolute URL like http://127.0.0.1:8080")

    def move(url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment))

    chatgpt = settings.chatgpt.model_copy(
        update={"authorize_url": move(settings.chatgpt.authorize_url), "token_url": move(settings.chatgpt.token_url)}
    )
    return settings.model_copy(update={"chatgpt": chatgpt})


def apply_env_overrides(settings: OAuthSettings, environ: Mapping[str, str] | None = None) -> OAuthSettings:
    """Apply ``CCM_OAUTH_BASE_URL`` and ``CCM_CHATGPT_OAUTH_BASE_URL`` when set."""
    env = os.environ if environ is None else environ
    base = env.get(BASE_URL_ENV, "").strip()
    settings = rebase(settings, base) if base else settings
    chatgpt_base = env.get(CHATGPT_BASE_URL_ENV, "").strip()
    return rebase_chatgpt(settings, chatgpt_base) if chatgpt_base else settings


def read_oauth_settings(config_path: Path | None, environ: Mapping[str, str] | None = None) -> OAuthSettings:
    """``[oauth]`` from ``config_path`` (defaults if the file or table is missing), then env overrides."""
    table: object = {}
    if config_path is not None and config_path.is_file():
        try:
            with config_path.open("rb") as fh:
                table = tomllib.load(fh).get("oauth", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(exc), path=str(config_path)) from None
    if not isinstance(table, dict):
        raise ConfigError("[oauth] must be a table", path=str(config_path), key="oauth")
    try:
        settings = OAuthSettings.model_validate(table)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "oauth." + ".".join(str(p) for p in first["loc"])
        raise ConfigError(first["msg"], path=str(config_path), key=key) from None
    return apply_env_overrides(settings, environ)
