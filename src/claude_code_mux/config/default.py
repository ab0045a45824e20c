"""The embedded default configuration (zero-config: forward Claude Code to Anthropic with its own key)."""

from __future__ import annotations

DEFAULT_CONFIG_TOML = """\
# claude-code-mux configuration (https://github.com/9j/claude-code-mux schema, extended).
# Reloaded automatically when saved. Check it with: ccm config check

[server]
host = "127.0.0.1"        # bind address; binding beyond loopback requires api_key
port = 13456
log_level = "info"        # debug | info | warn | error
# api_key = "$CCM_API_KEY"   # clients must send it as x-api-key or Authorization: Bearer

[server.timeouts]
connect_timeout_ms = 10000
api_timeout_ms = 600000   # longest upstream silence (before the first byte and between chunks)

[router]
# Model names below refer to [[models]] entries or to provider `models` patterns.
default = "claude-sonnet-4-5"
# background = "fast-model"        # requests for a haiku model (background_regex)
# think = "reasoning-model"        # thinking.type = "enabled"
# websearch = "search-model"       # a web_search tool is offered
# long_context = "long-model"      # estimated input tokens > long_context_threshold
# long_context_threshold = 60000
# auto_map (default: true, as in the original) sends every model matching auto_map_regex to router.default,
# except names a [[models]] entry defines. Off here, so Claude Code's claude-* names reach Anthropic as asked.
auto_map = false                   # default: true
auto_map_regex = "^claude-"
background_regex = "(?i)claude.*haiku"

# Zero configuration: forward every claude-* model to Anthropic with the client's own credentials.
[[providers]]
name = "anthropic"
provider_type = "anthropic"
auth_type = "passthrough"          # apikey | oauth | passthrough
models = ["claude-*"]
enabled = true

# An OpenAI-compatible provider (uncomment and set the key):
# [[providers]]
# name = "openrouter"
# provider_type = "openrouter"
# api_key = "$OPENROUTER_API_KEY"
#
# [[models]]
# name = "glm-4.6"
# [[models.mappings]]
# provider = "openrouter"
# actual_model = "z-ai/glm-4.6"
# priority = 1
"""
