"""Login attempts in progress: a small table keyed by the OAuth ``state``, each entry used once and expiring.

Both PKCE logins (Claude's :class:`~.login.PendingLogins`, ChatGPT's :class:`~.chatgpt.ChatGPTLogins`) keep
the verifier of an attempt here between "open this URL" and the pasted code or loopback callback. Bounded:
at most ``max_pending`` attempts (the oldest goes first) and each lives ``ttl_s`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from claude_code_mux.errors import OAuthError


class _Stamped(Protocol):
    @property
    def created_at(self) -> float: ...


T = TypeVar("T", bound=_Stamped)


class PendingStates(Generic[T]):
    """Attempts by ``state``; ``clock`` is the token manager's (tests move it)."""

    def __init__(self, clock: Callable[[], float], *, ttl_s: float, max_pending: int) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_pending = max_pending
        self._items: dict[str, T] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:  # never the attempts: they hold verifiers
        return f"PendingStates({len(self._items)} pending)"

    def __getitem__(self, state: str) -> T:
        return self._items[state]

    def _purge(self) -> None:
        now = self._clock()
        for state in [s for s, p in self._items.items() if now - p.created_at > self._ttl_s]:
            del self._items[state]
        while len(self._items) >= self._max_pending:
            del self._items[next(iter(self._items))]

    def add(self, state: str, item: T) -> None:
        self._purge()
        self._items[state] = item

    def has(self, state: str) -> bool:
        self._purge()
        return state in self._items

    def take(self, state: str | None, *, whole_paste: str, unknown: str) -> tuple[str, T]:
        """The attempt for ``state`` (the only one when the paste carried none), removed; OAuthError with
        ``whole_paste`` when no state was given and several attempts wait, ``unknown`` when none matches."""
        self._purge()
        key = state
        if key is None:
            if len(self._items) != 1:
                raise OAuthError(whole_paste)
            key = next(iter(self._items))
        item = self._items.pop(key, None)
        if item is None:
            raise OAuthError(unknown)
        return key, item

    def put_back(self, state: str, item: T) -> None:
        """Return an attempt whose exchange failed transiently (its code may be unused): the same paste may
        be tried again."""
        self._items[state] = item
