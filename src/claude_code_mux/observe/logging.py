"""Structured, redacting logging: one ``key=value`` line per request, secrets never printed."""

from __future__ import annotations

import logging
import re
import sys
import time
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
# What each pattern needs in (ASCII) text before it can match: the lower-cased words of its case-insensitive
# alternatives, or the exact prefix. A line with none of them skips the pattern's scan (most log lines).
_NEEDS: list[tuple[tuple[str, ...], bool]] = [
    (("authorization",), True),
    (
        (
            "x-api-key",
            "api_key",
            "apikey",
            "access_token",
            "refresh_token",
            "code_verifier",
            "verifier",
            "client_secret",
            "admin_key",
            "code",
        ),
        True,
    ),
    (("sk-",), False),
]


def _mask(m: re.Match[str]) -> str:
    return m.group(1) + "***"


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
        # Case-insensitive matching of ASCII words also matches a few non-ASCII letters (e.g. "ı" for "i", the
        # Kelvin sign for "k"): only ASCII text is prefiltered, anything else goes through every pattern.
        low = text.lower() if text.isascii() else None
        for pat, (words, folded) in zip(_PATTERNS, _NEEDS, strict=True):
            if low is not None:
                hay = low if folded else text
                for w in words:
                    if w in hay:
                        break
                else:
                    continue  # none of its words: the pattern cannot match
            text = pat.sub(_mask, text)
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


class _Formatter(logging.Formatter):
    """``logging.Formatter`` with the date and time part of ``asctime`` made once per second, not per line."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None or self.converter is not time.localtime or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        second = int(record.created)  # what localtime() keeps of it
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime(self.default_time_format, time.localtime(second)))
        return self.default_msec_format % (cached[1], record.msecs)


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
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(message)s"))
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
        if type(v) is str:
            s = v
        elif isinstance(v, float):
            s = f"{v:.1f}"
        else:
            s = str(v)
        if not s or " " in s or '"' in s or "=" in s:
            s = '"' + s.replace('"', "'") + '"'
        parts.append(k + "=" + s)
    return " ".join(parts)
