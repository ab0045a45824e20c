"""Plain-text tables for CLI output: a header, a rule, left-aligned first column, right-aligned numbers."""

from __future__ import annotations

from collections.abc import Sequence


def render(head: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """The table as text; the first ``left`` columns are left-aligned, the rest right-aligned."""
    table = [list(head), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]

    def line(row: list[str]) -> str:
        cells = (c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        return "  ".join(cells).rstrip()

    out = [line(table[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in table[1:]]
    return "\n".join(out)
