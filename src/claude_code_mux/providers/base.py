"""What every dialect shares: the provider value, the request context, replies and failures.

``UpstreamFailure`` lives in :mod:`claude_code_mux.errors` and is re-exported here for the dialects.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import orjson
from pydantic import SecretStr

from claude_code_mux.config.presets import Preset
from claude_code_mux.errors import UpstreamFailure
from claude_code_mux.routing.hygiene import clean_foreign_thinking
from claude_code_mux.routing.probe import Probe

__all__ = [
    "HOP_BY_HOP",
    "RETRYABLE_STATUSES",
    "Dialect",
    "Provider",
    "RequestContext",
    "UpstreamFailure",
    "UpstreamReply",
    "replace_model",
]

# Statuses on which we move to the next candidate (before the first byte reached the client).
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})

# Hop-by-hop and framing headers that never cross the proxy (RFC 9110 §7.6.1), plus ones we set.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
        "content-encoding",
    }
)


@dataclass(frozen=True, slots=True)
class Provider:
    """A configured upstream: a dialect at a base URL with credentials."""

    name: str
    dialect: str
    base_url: str
    auth_type: str
    preset: Preset
    api_key: SecretStr | None = None
    oauth_provider: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    max_output_tokens: int | None = None
    # A pool: several OAuth logins or API keys (see accounts/). ``account`` names the one for this attempt.
    oauth_accounts: tuple[str, ...] = ()
    api_keys: tuple[SecretStr, ...] = ()
    account: str | None = None

    @property
    def accounts(self) -> tuple[str, ...]:
        """The pool's account names: OAuth login ids, or ``key1``… for API keys; empty without a pool."""
        if self.oauth_accounts:
            return self.oauth_accounts
        return tuple(f"key{i + 1}" for i in range(len(self.api_keys)))

    @property
    def oauth_id(self) -> str:
        """The OAuth login this attempt uses."""
        return self.account or self.oauth_provider or self.name

    def key(self) -> SecretStr | None:
        """The API key this attempt uses."""
        if self.account is not None and self.api_keys and self.account.startswith("key"):
            i = int(self.account[3:]) - 1
            if 0 <= i < len(self.api_keys):
                return self.api_keys[i]
        return self.api_key


@dataclass(slots=True)
class RequestContext:
    """One client request as the dispatcher sees it."""

    request_id: str
    path: str
    query: str
    raw: bytes
    # The body as routing read it; ``body`` parses the whole of it on first use.
    probe: Probe
    client_model: str
    stream: bool
    headers: Mapping[str, str]
    # Body after routing edits (tag removal, hygiene); None means "the client's bytes, model swapped".
    edited_body: dict[str, Any] | None = None
    # The router's own client key: never forwarded upstream.
    router_key: str | None = None
    _hygiene_checked: bool = False

    def anthropic_bytes(self, model: str) -> bytes:
        """The body for an Anthropic-dialect upstream: the client's bytes with only ``model`` replaced
        (:func:`replace_model`).

        Thinking blocks another provider produced are dropped first (Anthropic rejects their signatures);
        when there are none, the client's bytes go out untouched.
        """
        if not self._hygiene_checked:
            self._hygiene_checked = True
            cleaned = None
            if self.edited_body is not None or self.probe.may_have_foreign_thinking():
                cleaned = clean_foreign_thinking(
                    self.working_body(), target_dialect_is_anthropic=True, same_provider_as_history=False
                )
            if cleaned is not None:
                self.edited_body = cleaned
        if self.edited_body is not None:
            out = dict(self.edited_body)
            out["model"] = model
            return orjson.dumps(out)
        return replace_model(self.raw, self.client_model, model, self.probe.full)

    @property
    def body(self) -> dict[str, Any]:
        """The whole client body, parsed (once) on first use."""
        return self.probe.full()

    def working_body(self) -> dict[str, Any]:
        return self.edited_body if self.edited_body is not None else self.body


# A JSON string (escapes included), in the unrolled form: runs of plain bytes are one step for the regex engine.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_MODEL_KEY = re.compile(rb'"model"\s*:\s*')
# The splice looks for the top-level "model" only this far in: its depth check reads every byte before the key
# (~10 ns a byte). Claude Code sends "model" first; a body that has it later (the SDKs put it after "messages")
# is rebuilt from its top-level values instead.
_SPLICE_WINDOW = 4096
_TOP_LEVEL = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENCODER = msgspec.json.Encoder()


def _depth(prefix: bytes) -> int:
    stripped = _STRING.sub(b"", prefix)
    return stripped.count(b"{") + stripped.count(b"[") - stripped.count(b"}") - stripped.count(b"]")


def replace_model(raw: bytes, old: str, new: str, body: Callable[[], dict[str, Any]]) -> bytes:
    """Put a new top-level ``model`` value into the raw JSON bytes, leaving every value's bytes alone.

    When a ``"model": <string>`` key sits near the start at depth 1 (a tool input may carry its own "model"),
    the new value is spliced in and every other byte is the client's. Otherwise the body is rebuilt from its
    top-level values, each kept as the client's bytes (msgspec ``Raw``: one pass over the body, no parse of the
    values); only the whitespace between top-level members and the spelling of their keys may change.
    """
    if old == new:
        return raw
    new_json = orjson.dumps(new)
    for m in _MODEL_KEY.finditer(raw, 0, _SPLICE_WINDOW):
        start = m.end()
        vm = _STRING.match(raw, start)
        if vm is None:
            continue
        try:
            value = orjson.loads(vm.group(0))
        except orjson.JSONDecodeError:
            continue
        if value != old:
            continue
        if _depth(raw[: m.start()]) != 1:
            continue
        return b"".join((raw[:start], new_json, memoryview(raw)[vm.end() :]))  # one copy of the body
    try:
        top = _TOP_LEVEL.decode(raw)
    except msgspec.DecodeError:
        out = dict(body())
        out["model"] = new
        return orjson.dumps(out)
    top["model"] = msgspec.Raw(new_json)
    return _ENCODER.encode(top)


@dataclass(slots=True)
class UpstreamReply:
    """A successful upstream answer, ready to be sent to the client.

    For a stream, ``first`` holds the bytes already read (the first event, checked for errors) and
    ``chunks`` yields the rest. ``close()`` releases the upstream connection; it must always be called.
    """

    status: int
    headers: dict[str, str]
    body: bytes | None = None
    first: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    close: Callable[[], None] = lambda: None
    # For observers: usage as far as the dialect knows it (filled by translating dialects).
    usage: dict[str, int] = field(default_factory=dict)
    # Relay through a StreamGuard (upstream bytes we did not produce ourselves).
    guard: bool = False

    @property
    def is_stream(self) -> bool:
        return self.chunks is not None


class Dialect(Protocol):
    """One upstream protocol."""

    async def send(self, ctx: RequestContext, provider: Provider, model: str) -> UpstreamReply: ...

    async def count_tokens(self, ctx: RequestContext, provider: Provider, model: str) -> UpstreamReply: ...
