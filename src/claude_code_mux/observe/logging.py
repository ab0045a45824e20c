"""Structured, redacting logging: one ``key=value`` line per request, secrets never printed."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

LOGGER_NAME = "claude_code_mux"

_PATTERNS = [
    # Authorization / x-api-key style headers and JSON fields.
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)([^\s\"',}]+)"),
    re.compile(
        r"(?i)((?:x-api-key|api_key|apikey|access_token|refresh_token|code_verifier|verifier|"
        r"client_secret|admin_key|\bcode)[\"']?\s*[:=]\s*[\"']?)([^\s\"',}&]+)"
    ),
    # Well-known key shapes.
    re.compile(r"()\b(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,})"),
]


class Redactor:
    """Masks credentials in text: known secret values first, then credential-shaped patterns."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 6 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, "***")
        for pat in _PATTERNS:
            text = pat.sub(lambda m: m.group(1) + "***", text)
        return text


class RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = self.redactor(msg)
        if red != msg or record.args:
            record.msg = red
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def setup_logging(level: str, redactor: Redactor, stream: object = None) -> logging.Logger:
    """Configure the package logger (idempotent) with the redacting filter on its handler."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(_LEVELS.get(level.lower(), logging.INFO))
    for h in list(logger.handlers):
        logger.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def kv(**fields: object) -> str:
    """Format fields as ``key=value`` pairs, quoting values with spaces."""
    parts = []
    for k, v in fields.items():
        if v is None:
            continue
        s = f"{v:.1f}" if isinstance(v, float) else str(v)
        if not s or any(c in s for c in ' "='):
            s = '"' + s.replace('"', "'") + '"'
        parts.append(f"{k}={s}")
    return " ".join(parts)
