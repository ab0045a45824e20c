"""The HTTP server: Anthropic-compatible endpoints, the admin API and UI."""
