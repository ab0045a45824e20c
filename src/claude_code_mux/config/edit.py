"""Comment-preserving edits of ``config.toml`` (tomlkit), validated before an atomic write.

An edit is a function that changes a :class:`tomlkit.TOMLDocument` in place. :func:`apply_edit` loads the
file, applies the edit, validates the resulting *text* with :func:`parse_config` (so a bad edit never reaches
the disk) and replaces the file atomically, keeping its mode. Keys and comments the edit does not touch stay
exactly as they were; comments that sat above a deleted table move to the item before it.

Secret values: :data:`MASK` as an ``api_key`` (or a masked header value) means "keep what the file has".
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from pathlib import Path
from typing import Any, cast

import tomlkit
from tomlkit.items import AoT, Array, Table
from tomlkit.toml_document import TOMLDocument

from claude_code_mux.config.load import parse_config
from claude_code_mux.config.masking import MASK
from claude_code_mux.config.schema import Config
from claude_code_mux.config.toml_trivia import (
    append_table,
    container_of,
    delete_table,
    give_trailing,
    prev_container,
    take_trailing,
)
from claude_code_mux.errors import HttpError, InvalidRequest, NotFound

Edit = Callable[[TOMLDocument], None]

# Key order for tables we create, so a new entry reads like a hand-written one.
_PROVIDER_ORDER = (
    "name",
    "provider_type",
    "dialect",
    "base_url",
    "auth_type",
    "api_key",
    "oauth_provider",
    "enabled",
    "models",
    "headers",
    "project_id",
    "location",
)


class Conflict(HttpError):
    status = 409
    error_type = "invalid_request_error"


# ---- reading and writing -------------------------------------------------------------------------


def load_document(path: Path) -> TOMLDocument:
    return tomlkit.parse(path.read_text(encoding="utf-8"))


def validate(doc: TOMLDocument, path: Path, env: Mapping[str, str] | None = None) -> tuple[str, Config]:
    """Render the document and validate the text exactly as a reload would; raises ConfigError."""
    text = tomlkit.dumps(doc)
    return text, parse_config(text, path=str(path), env=env)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: temp file in the same directory, fsync, rename.

    The file may hold literal keys, so it is written owner-only: 0600 when new, and an existing file keeps its
    owner bits but loses any group/other access (a config made 0644 by an older ``ccm init``).
    """
    target = Path(os.path.realpath(path))
    try:
        mode = (stat.S_IMODE(target.stat().st_mode) & 0o700) | 0o600
    except FileNotFoundError:
        mode = 0o600
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible everywhere)
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def apply_edit(path: Path, edit: Edit, env: Mapping[str, str] | None = None) -> Config:
    """Load, edit, validate, write. Blocking: call it through ``asyncio.to_thread`` from the server."""
    doc = load_document(path)
    edit(doc)
    text, cfg = validate(doc, path, env)
    write_atomic(path, text)
    return cfg


# ---- generic value helpers ----------------------------------------------------------------------


def _to_item(value: Any) -> Any:
    if isinstance(value, Mapping):
        t = tomlkit.inline_table()
        for k, v in value.items():
            t[k] = v
        return t
    if isinstance(value, tuple):
        return list(value)
    return value


def _set_keys(table: Any, values: Mapping[str, Any]) -> None:
    """Set each key; ``None`` removes it. Existing keys keep their place and trailing comment (tomlkit)."""
    for key, value in values.items():
        if value is None:
            if key in table:
                del table[key]
            continue
        if key in table:
            table[key] = _to_item(value)
        else:
            _add_key(table, key, _to_item(value))


def _add_key(table: Any, key: str, value: Any) -> None:
    """Add a new key before the table's trailing comments (they introduce whatever follows)."""
    container = container_of(table)
    trailing = take_trailing(container) if container is not None else []
    table[key] = value
    if trailing and container is not None:
        give_trailing(container, trailing)


def _aot(doc: Any, key: str) -> MutableSequence[Any] | None:
    if key not in doc:
        return None
    seq = doc[key]
    if isinstance(seq, Array) and not len(seq):  # `providers = []`: start a [[providers]] list instead
        del doc[key]
        return None
    if not isinstance(seq, list):
        raise InvalidRequest(f"{key}: the config file has {key} as a {type(seq).__name__}, not a list")
    return cast(MutableSequence[Any], seq)


def _find(seq: MutableSequence[Any] | None, name: str) -> int | None:
    if seq is None:
        return None
    for i, t in enumerate(seq):
        if isinstance(t, Mapping) and t.get("name") == name:
            return i
    return None


def _new_table(values: Mapping[str, Any], order: Iterable[str] = ()) -> Table:
    t = tomlkit.table()
    keys = [k for k in order if k in values] + [k for k in values if k not in order]
    for k in keys:
        if values[k] is not None:
            t[k] = _to_item(values[k])
    return t


# ---- providers -----------------------------------------------------------------------------------


def _merge_secrets(values: dict[str, Any], existing: Mapping[str, Any] | None, name: str) -> None:
    if values.get("api_key") == MASK:
        if existing is None or existing.get("api_key") is None:
            raise InvalidRequest(f"api_key: provider {name!r} has no stored key to keep; send the key or $ENV_VAR")
        del values["api_key"]
    if values.get("proxy") == MASK:
        if existing is None or existing.get("proxy") is None:
            raise InvalidRequest(f"proxy: provider {name!r} has no stored proxy to keep; send the address")
        del values["proxy"]
    keys = values.get("api_keys")
    if isinstance(keys, list) and MASK in keys:  # a masked entry keeps the stored key at that position
        old_keys = existing.get("api_keys") if existing is not None else None
        if not isinstance(old_keys, list) or len(old_keys) < len(keys):
            raise InvalidRequest("api_keys: a masked entry has no stored key at its position; send the key")
        values["api_keys"] = [str(old_keys[i]) if k == MASK else k for i, k in enumerate(keys)]
    headers = values.get("headers")
    if isinstance(headers, Mapping):
        old = existing.get("headers") if existing is not None else None
        merged: dict[str, Any] = {}
        for hk, hv in headers.items():
            if hv == MASK:
                if not isinstance(old, Mapping) or hk not in old:
                    raise InvalidRequest(f"headers.{hk}: no stored value to keep; send the value")
                merged[hk] = str(old[hk])
            else:
                merged[hk] = hv
        values["headers"] = merged


def upsert_provider(doc: TOMLDocument, name: str, values: Mapping[str, Any], *, create: bool | None = None) -> None:
    """Create or update ``[[providers]]`` ``name``. ``create``: True must be new, False must exist.

    A ``name`` in ``values`` different from ``name`` renames the provider and its model mappings.
    """
    vals = dict(values)
    seq = _aot(doc, "providers")
    idx = _find(seq, name)
    if create is True and idx is not None:
        raise Conflict(f"name: a provider named {name!r} already exists")
    if create is False and idx is None:
        raise NotFound(f"no provider named {name!r}")
    existing = seq[idx] if seq is not None and idx is not None else None
    _merge_secrets(vals, existing, name)
    new_name = vals.get("name", name)
    if new_name != name and _find(seq, new_name) is not None:
        raise Conflict(f"name: a provider named {new_name!r} already exists")
    if existing is not None:
        _set_keys(existing, vals)
    else:
        vals["name"] = new_name
        table = _new_table(vals, _PROVIDER_ORDER)
        if seq is None:
            aot = tomlkit.aot()
            aot.append(table)
            doc.append("providers", aot)
        else:
            append_table(seq, table)
    if new_name != name and existing is not None:
        for model in _aot(doc, "models") or []:
            for mp in model.get("mappings", []) or []:
                if mp.get("provider") == name:
                    mp["provider"] = new_name


def delete_provider(doc: TOMLDocument, name: str) -> None:
    seq = _aot(doc, "providers")
    idx = _find(seq, name)
    if seq is None or idx is None:
        raise NotFound(f"no provider named {name!r}")
    users = sorted(
        {
            str(m.get("name"))
            for m in _aot(doc, "models") or []
            for mp in m.get("mappings", []) or []
            if mp.get("provider") == name
        }
    )
    if users:
        raise Conflict(f"provider {name!r} is still used by model(s) {', '.join(users)}; remove those mappings first")
    delete_table(seq, idx, prev_container(doc, "providers"))


# ---- models --------------------------------------------------------------------------------------


def _set_mappings(model: Any, mappings: Sequence[Mapping[str, Any]]) -> None:
    current = model.get("mappings")
    if current is None or not isinstance(current, list):
        if not mappings:
            return
        aot = tomlkit.aot()
        for mp in mappings:
            aot.append(_new_table(mp, ("provider", "actual_model", "priority")))
        _add_key(model, "mappings", aot)
        return
    seq = cast(MutableSequence[Any], current)
    for i, mp in enumerate(mappings):
        if i < len(seq):
            _set_keys(seq[i], {k: mp.get(k) for k in ("provider", "actual_model", "priority")})
        else:
            append_table(seq, _new_table(mp, ("provider", "actual_model", "priority")))
    while len(seq) > len(mappings):
        delete_table(seq, len(seq) - 1, model.value if isinstance(model, Table) else None)
    if not len(seq):
        del model["mappings"]


def upsert_model(
    doc: TOMLDocument,
    name: str,
    values: Mapping[str, Any],
    mappings: Sequence[Mapping[str, Any]] | None,
    *,
    create: bool | None = None,
) -> None:
    """Create or update ``[[models]]`` ``name``; ``mappings`` (when given) replaces the list in place."""
    seq = _aot(doc, "models")
    idx = _find(seq, name)
    if create is True and idx is not None:
        raise Conflict(f"name: a model named {name!r} already exists")
    if create is False and idx is None:
        raise NotFound(f"no model named {name!r}")
    new_name = values.get("name", name)
    if new_name != name and _find(seq, new_name) is not None:
        raise Conflict(f"name: a model named {new_name!r} already exists")
    if seq is not None and idx is not None:
        model = seq[idx]
        _set_keys(model, values)
    else:
        model = _new_table({**values, "name": new_name}, ("name", "context_window"))
        if seq is None:
            aot = tomlkit.aot()
            aot.append(model)
            doc.append("models", aot)
            model = doc["models"][0]
        else:
            append_table(seq, model)
            model = seq[-1]
    if mappings is not None:
        _set_mappings(model, mappings)


def delete_model(doc: TOMLDocument, name: str) -> None:
    seq = _aot(doc, "models")
    idx = _find(seq, name)
    if seq is None or idx is None:
        raise NotFound(f"no model named {name!r}")
    delete_table(seq, idx, prev_container(doc, "models"))


# ---- plain tables ([router], [server]) -----------------------------------------------------------


def set_table(doc: TOMLDocument, table: str, values: Mapping[str, Any]) -> None:
    """Set keys of a top-level table (``None`` removes a key); lists of tables become ``[[table.key]]``."""
    if table not in doc:
        doc.append(table, tomlkit.table())
    t = doc[table]
    plain: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            aot = tomlkit.aot()
            for v in value:
                aot.append(_new_table(v))
            t[key] = aot
        elif isinstance(value, list) and not value and key in t and isinstance(t[key], AoT):
            del t[key]
        else:
            plain[key] = value
    _set_keys(t, plain)
