"""Values derived from a :class:`Config` once, not per request (a ``Config`` is immutable: frozen models and
tuples all the way down; a reload builds a new one).

:class:`PerConfig` keeps the value for the last few configurations by identity, holding them so an ``id`` is
never reused while cached. Per-request inputs (model names a client sends) go in :class:`Bounded` maps, which
are dropped whole when full: random names cost what they cost without a cache, never memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from claude_code_mux.config.schema import Config

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class PerConfig(Generic[T]):
    """``build(cfg)``, computed once per configuration object."""

    __slots__ = ("_build", "_entries", "_size")

    def __init__(self, build: Callable[[Config], T], size: int = 4) -> None:
        self._build = build
        self._size = size
        self._entries: dict[int, tuple[Config, T]] = {}

    def __call__(self, cfg: Config) -> T:
        hit = self._entries.get(id(cfg))
        if hit is not None and hit[0] is cfg:
            return hit[1]
        value = self._build(cfg)
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[id(cfg)] = (cfg, value)
        return value


class Bounded(dict[K, V]):
    """A dict that forgets everything when it reaches ``size`` entries (use :meth:`put` to add)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: K, value: V) -> V:
        if len(self) >= self.size:
            self.clear()
        self[key] = value
        return value
