"""The per-request log line: one ``key=value`` line per finished request, on one line whatever a client put in
a model name, with the failover reason when attempts failed. Secrets are masked by the logger's redacting
filter (:mod:`.logging`); control characters are escaped here so no value can forge a second line."""

from __future__ import annotations

import logging
import re

from claude_code_mux.observe.logging import kv
from claude_code_mux.observe.record import RequestRecord

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_VALUE = 300


def escape(value: object) -> str | None:
    """``value`` as text with control characters shown as ``\\xNN`` and a bounded length."""
    if value is None:
        return None
    text = str(value)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + "…"
    if text.isprintable():  # none of _CONTROL's characters is printable: nothing to escape (the usual case)
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def failover_reason(rec: RequestRecord) -> str | None:
    """Why candidates were left: ``provider/model: error`` of each failed attempt, in order."""
    failed = [f"{a.provider}/{a.model}: {a.error}" for a in rec.attempts if a.error]
    return "; ".join(failed) if failed else None


def format_line(rec: RequestRecord) -> str:
    return kv(
        event="request",
        id=escape(rec.request_id),
        endpoint=rec.endpoint,
        route=escape(rec.route),
        client_model=escape(rec.client_model),
        provider=escape(rec.provider),
        model=escape(rec.model),
        status=rec.status,
        ttfb_ms=rec.ttfb_ms,
        total_ms=rec.total_ms,
        attempts=len(rec.attempts),
        client=escape(rec.client),
        error_type=rec.error_type,
        error=escape(rec.error),
        failover=escape(failover_reason(rec)),
    )


class RequestLog:
    """An observer writing :func:`format_line` at INFO (a failed request at WARNING)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def __call__(self, rec: RequestRecord) -> None:
        level = logging.INFO if rec.status < 400 or rec.status == 499 else logging.WARNING
        if self._logger.isEnabledFor(level):
            self._logger.log(level, "%s", format_line(rec))
