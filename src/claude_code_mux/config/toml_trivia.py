"""Comments and blank lines in a tomlkit document: keeping them in place when tables are added and deleted.

tomlkit stores the trivia after a table inside that table; deleting or appending an array-of-tables entry would
drop or misplace the comments a person wrote. These helpers move them to where a reader expects them. Used by
:mod:`claude_code_mux.config.edit`.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableSequence
from typing import Any

from tomlkit.container import Container
from tomlkit.items import AoT, Comment, Item, Table, Whitespace
from tomlkit.toml_document import TOMLDocument


def container_of(item: Any) -> Container | None:
    if isinstance(item, Table):
        return item.value
    if isinstance(item, Container):
        return item
    return None


def take_trailing(container: Container) -> list[Item]:
    """Remove and return the comments/blank lines at the very end of a table (recursing into sub-tables)."""
    body = container.body
    if body and body[-1][0] is not None:
        last = body[-1][1]
        if isinstance(last, Table):
            return take_trailing(last.value)
        if isinstance(last, AoT) and len(last):
            inner = container_of(last[-1])
            return take_trailing(inner) if inner is not None else []
        return []
    out: list[Item] = []
    while body and body[-1][0] is None and isinstance(body[-1][1], Comment | Whitespace):
        out.append(body.pop()[1])
    out.reverse()
    return out


def has_comment(items: Iterable[Item]) -> bool:
    return any(isinstance(i, Comment) for i in items)


def give_trailing(container: Container, items: list[Item]) -> None:
    body = container.body
    if body and body[-1][0] is not None:
        last = body[-1][1]
        if isinstance(last, Table):
            give_trailing(last.value, items)
            return
        if isinstance(last, AoT) and len(last):
            give_trailing(last[-1].value, items)
            return
    for it in items:
        body.append((None, it))


def prev_container(doc: TOMLDocument, key: str) -> Container | None:
    prev: Container | None = None
    for k, item in doc.body:
        if k is not None and k.key == key:
            return prev
        c = container_of(item)
        if c is not None:
            prev = c
        elif isinstance(item, AoT) and len(item):
            prev = item[-1].value
    return prev


def delete_table(seq: MutableSequence[Any], index: int, fallback: Container | None) -> None:
    """Delete ``seq[index]`` and keep the comments that preceded the next table's header."""
    table = seq[index]
    trailing = take_trailing(table.value) if isinstance(table, Table) else []
    del seq[index]
    if not has_comment(trailing):
        trailing = [Whitespace("\n")] if trailing else []
    if not trailing:
        return
    if index > 0:
        give_trailing(seq[index - 1].value, trailing)
    elif fallback is not None:
        give_trailing(fallback, trailing)


def append_table(seq: MutableSequence[Any], table: Table) -> None:
    """Append after the last table, moving its trailing comments (the next section's header) after us."""
    if len(seq):
        last = seq[-1]
        trailing = take_trailing(last.value) if isinstance(last, Table) else []
        if isinstance(last, Table):
            last.value.body.append((None, Whitespace("\n")))
        seq.append(table)
        if has_comment(trailing):
            give_trailing(table.value, trailing)
    else:
        seq.append(table)
