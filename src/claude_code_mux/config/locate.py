"""Find the line of a key in TOML source text, so config errors can say file:line.

A light scanner, not a parser: it tracks ``[table]`` / ``[[array]]`` headers and ``key =`` lines, which is
enough to locate any key of our schema (pydantic reports locations as tuples like
``("providers", 1, "auth_type")``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in dotted.split(".")]


def locate(text: str, loc: Sequence[str | int]) -> int | None:
    """Return the 1-based line where ``loc`` is defined, or the closest enclosing table's line."""
    counters: dict[tuple[str | int, ...], int] = {}
    current: tuple[str | int, ...] = ()
    table_lines: dict[tuple[str | int, ...], int] = {}
    key_lines: dict[tuple[str | int, ...], int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _HEADER.match(line)
        if m and line.startswith("["):
            parts = _parts(m.group(2))
            is_array = m.group(1) == "[["
            path: list[str | int] = []
            # Resolve each prefix against the latest element of enclosing arrays.
            for i, part in enumerate(parts):
                path.append(part)
                prefix = tuple(path)
                if i < len(parts) - 1 and prefix in counters:
                    path.append(counters[prefix] - 1)
            if is_array:
                key = tuple(path)
                counters[key] = counters.get(key, 0) + 1
                path.append(counters[key] - 1)
            current = tuple(path)
            table_lines.setdefault(current, lineno)
            continue
        k = _KEY.match(line)
        if k:
            full = current + tuple(_parts(k.group(1)))
            key_lines.setdefault(full, lineno)
    want = tuple(loc)
    while want:
        if want in key_lines:
            return key_lines[want]
        if want in table_lines:
            return table_lines[want]
        want = want[:-1]
    return None
