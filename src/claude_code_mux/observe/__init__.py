"""Observability: structured redacting logs, metrics and usage records."""
