"""The per-request log line: one ``key=value`` line per finished request, on one line whatever a client put in
a model name, with the failover reason when attempts failed. Secrets are masked by the logger's redacting
filter (:mod:`.logging`); control characters are escaped here so no value can forge a second line."""

from __future__ import annotations

import logging
import re
from typing import Any

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
    """:func:`kv` of the request's fields, as :func:`_format_line` writes it, with the part that repeats from
    request to request (endpoint, route, models, provider) and the client formatted once per distinct value."""
    head_key = (rec.endpoint, rec.route, rec.client_model, rec.provider, rec.model)
    head = _HEADS.get(head_key)
    if head is None:
        head = _head(*head_key)
        if sum(len(v) for v in head_key if v is not None) <= _KEY_MAX:  # a client's huge model name is not kept
            _remember(_HEADS, head_key, head)
    client = _CLIENTS.get(rec.client)
    if client is None:
        client = _field("client", rec.client)
        if rec.client is None or len(rec.client) <= _KEY_MAX:
            _remember(_CLIENTS, rec.client, client)
    ttfb, total = rec.ttfb_ms, rec.total_ms
    line = (
        f"event=request{_field('id', rec.request_id)}{head} status={rec.status!s}"
        f"{'' if ttfb is None else ' ttfb_ms=' + _number(ttfb)}"
        f"{'' if total is None else ' total_ms=' + _number(total)} attempts={len(rec.attempts)}{client}"
    )
    if rec.error_type is not None:
        line += " " + kv(error_type=rec.error_type)
    if rec.error is not None:
        line += _field("error", rec.error)
    for a in rec.attempts:
        if a.error:
            return line + _field("failover", failover_reason(rec))
    return line


# Formatted parts of the line per distinct value (each bounded: values come from clients).
_HEADS: dict[tuple[str, str | None, str | None, str | None, str | None], str] = {}
_CLIENTS: dict[str | None, str] = {}
_MEMO_MAX = 1024
_KEY_MAX = 4 * MAX_VALUE  # longer values are formatted each time, never kept (at most _MEMO_MAX * this each)


def _remember(memo: dict[Any, str], key: Any, value: str) -> str:
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value
    return value


def _head(endpoint: str, route: str | None, client_model: str | None, provider: str | None, model: str | None) -> str:
    fields = kv(endpoint=endpoint, route=escape(route), client_model=escape(client_model), provider=escape(provider))
    return (" " + fields if fields else "") + _field("model", model)


def _field(name: str, value: str | None) -> str:
    """`` name=value`` with ``value`` escaped and written as :func:`kv` writes it; "" for None."""
    text = escape(value)
    if text is None:
        return ""
    if not text or " " in text or '"' in text or "=" in text:
        text = '"' + text.replace('"', "'") + '"'
    return " " + name + "=" + text


def _number(value: float) -> str:
    """A latency as :func:`kv` writes it."""
    return f"{value:.1f}" if type(value) is float else kv(v=value)[2:]


def _format_line(rec: RequestRecord) -> str:
    """The line the long way (what :func:`format_line` must equal)."""
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
            # The line as the message, no arguments: nothing for the record to %-format (or the filter to redo).
            self._logger.log(level, format_line(rec))
