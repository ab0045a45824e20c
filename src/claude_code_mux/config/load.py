"""Load ``config.toml``: resolve ``$ENV`` references, validate, and report mistakes by file, line and key."""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from claude_code_mux.config import schema
from claude_code_mux.config.locate import locate
from claude_code_mux.config.presets import PRESETS, preset_for
from claude_code_mux.config.secrets import resolve_secrets as _resolve_secrets
from claude_code_mux.errors import ConfigError, ConfigProblems


def default_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("CCM_HOME"):
        return Path(env["CCM_HOME"]).expanduser()
    return Path.home() / ".claude-code-mux"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("CCM_CONFIG"):
        return Path(env["CCM_CONFIG"]).expanduser()
    return default_home(env) / "config.toml"


def _fields_of(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names valid at ``loc`` (for did-you-mean suggestions)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ()) or ()
        nxt = None
        for cand in (ann, *args):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                nxt = cand
        if nxt is None:
            return []
        current = nxt
    return list(getattr(current, "model_fields", {}))


def _fix_for(err_type: str, loc: tuple[str | int, ...], msg: str) -> str:
    key = str(loc[-1]) if loc else ""
    if err_type == "extra_forbidden":
        valid = _fields_of(schema.Config, loc[:-1])
        close = difflib.get_close_matches(key, valid, n=1)
        if close:
            return f"did you mean '{close[0]}'?"
        return f"remove it; valid keys here: {', '.join(valid)}" if valid else "remove it"
    if err_type == "missing":
        return f"add {key} = ... to the table"
    if key == "auth_type":
        return 'use one of "apikey", "oauth", "passthrough"'
    if key == "log_level":
        return 'use one of "debug", "info", "warn", "error"'
    return ""


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_config(text: str, *, path: str = "<config>", env: Mapping[str, str] | None = None) -> schema.Config:
    """Parse and validate TOML text. Raises :class:`ConfigError` naming file, line, key and the fix."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"invalid TOML: {exc}",
            path=path,
            line=int(m.group(1)) if m else None,
            fix="check quotes, brackets and '=' on that line",
        ) from None
    return validate_raw(raw, text=text, path=path, env=env)


def validate_raw(
    raw: dict[str, Any], *, text: str = "", path: str = "<config>", env: Mapping[str, str] | None = None
) -> schema.Config:
    """Validate a parsed TOML document. Raises :class:`ConfigProblems` listing every problem found, each
    located by line and key with its fix (it reads as the first one)."""
    env = os.environ if env is None else env
    problems = _resolve_secrets(raw, text=text, path=path, env=env)
    env_missing = {p.key.split(" ")[0] for p in problems}  # keys already reported: no "api_key is required" too
    cross = _check_references(raw, text=text, path=path)
    cfg: schema.Config | None = None
    try:
        # Cross-references were checked above (with lines); the schema must not stop at them.
        cfg = schema.Config.model_validate(raw, context={"references_checked": True})
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key explains a "missing" one: report unknown keys first.
        errors.sort(key=lambda e: 0 if e["type"] == "extra_forbidden" else 1)
        for err in errors:
            loc = tuple(err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif err["type"] == "missing":
                msg = "required key is missing"
            problems.append(
                ConfigError(
                    msg,
                    path=path,
                    line=locate(text, loc) if text and loc else None,
                    key=_dotted(loc),
                    fix=_fix_for(err["type"], loc, msg),
                )
            )
    problems += cross
    if cfg is not None:
        problems += [p for p in _check_providers(cfg, text=text, path=path) if p.key.split(" ")[0] not in env_missing]
        problems += _check_budgets(cfg, text=text, path=path)
    if problems:
        raise ConfigProblems(problems)  # never a Config with dangling references: they are problems too
    assert cfg is not None
    return cfg


def _list_of_tables(raw: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    seq = raw.get(key)
    return [(i, t) for i, t in enumerate(seq) if isinstance(t, dict)] if isinstance(seq, list) else []


def _check_references(raw: dict[str, Any], *, text: str, path: str) -> list[ConfigError]:
    """Names that must refer to something: provider names are unique, mappings name a provider, router targets
    name a model. Checked on the raw document, so they are reported alongside schema errors, with lines."""
    problems: list[ConfigError] = []
    providers = _list_of_tables(raw, "providers")
    seen: set[str] = set()
    for i, p in providers:
        name = p.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(
                    ConfigError(
                        f"duplicate provider name {name!r}",
                        path=path,
                        line=locate(text, ("providers", i, "name")),
                        key=f"providers[{i}].name",
                        fix="give every [[providers]] entry its own name",
                    )
                )
            seen.add(name)
    known = ", ".join(sorted(seen)) or "none"
    models = _list_of_tables(raw, "models")
    names = {m["name"] for _, m in models if isinstance(m.get("name"), str)}
    for i, m in models:
        mappings = m.get("mappings")
        for j, mp in enumerate(mappings if isinstance(mappings, list) else []):
            prov = mp.get("provider") if isinstance(mp, dict) else None
            if isinstance(prov, str) and prov not in seen:
                close = difflib.get_close_matches(prov, list(seen), n=1)
                problems.append(
                    ConfigError(
                        f"model {m.get('name')!r} maps to unknown provider {prov!r}",
                        path=path,
                        line=locate(text, ("models", i, "mappings", j, "provider")),
                        key=f"models[{i}].mappings[{j}].provider",
                        fix=(f"did you mean {close[0]!r}? " if close else "")
                        + f"name one of the [[providers]] (known: {known}) or add that provider",
                    )
                )
    patterns = [
        pat
        for _, p in providers
        if p.get("enabled", True) is not False and isinstance(p.get("models"), list)
        for pat in p["models"]
        if isinstance(pat, str)
    ]
    router = raw.get("router")
    if not isinstance(router, dict):
        return problems
    for key in _ROUTE_KEYS:
        target = router.get(key)
        if (
            isinstance(target, str)
            and target
            and target not in names
            and not any(fnmatch.fnmatchcase(target, pat) for pat in patterns)
            and "," not in target
        ):
            problems.append(
                ConfigError(
                    f"router.{key} = {target!r} names no [[models]] entry and no provider model",
                    path=path,
                    line=locate(text, ("router", key)),
                    key=f"router.{key}",
                    fix=f"add a [[models]] entry with name = {target!r} or change the value"
                    + (f" (known: {', '.join(sorted(names))})" if names else ""),
                )
            )
    return problems


_ROUTE_KEYS = ("default", "background", "think", "websearch", "image", "long_context")
# Generic presets whose base URL is only a placeholder: the endpoint must be given.
_NEEDS_BASE_URL = ("openai-compatible",)


def _check_budgets(cfg: schema.Config, *, text: str, path: str) -> list[ConfigError]:
    """A budget's ``downgrade_to`` must name a model something serves."""
    problems: list[ConfigError] = []
    names = {m.name for m in cfg.models}
    patterns = [pat for p in cfg.providers if p.enabled for pat in p.models]
    for i, b in enumerate(cfg.budgets):
        target = b.downgrade_to
        if not target or target in names or "," in target:
            continue
        if not any(fnmatch.fnmatchcase(target, pat) for pat in patterns):
            problems.append(
                ConfigError(
                    f"downgrade_to = {target!r} names no [[models]] entry and no provider model",
                    path=path,
                    line=locate(text, ("budgets", i, "downgrade_to")),
                    key=f"budgets[{i}].downgrade_to",
                    fix="name a cheaper [[models]] entry" + (f" (known: {', '.join(sorted(names))})" if names else ""),
                )
            )
    return problems


def _check_providers(cfg: schema.Config, *, text: str, path: str) -> list[ConfigError]:
    problems: list[ConfigError] = []
    for i, p in enumerate(cfg.providers):
        preset = preset_for(p.provider_type)
        if p.dialect is None and preset is None:
            close = difflib.get_close_matches(p.provider_type, list(PRESETS), n=1)
            problems.append(
                ConfigError(
                    f"unknown provider_type {p.provider_type!r}",
                    path=path,
                    line=locate(text, ("providers", i, "provider_type")),
                    key=f"providers[{i}].provider_type",
                    fix=(f"did you mean {close[0]!r}? " if close else "")
                    + 'or set base_url and dialect = "openai" / "anthropic"',
                )
            )
        if p.base_url is None and p.provider_type.strip().lower() in _NEEDS_BASE_URL:
            problems.append(
                ConfigError(
                    f'provider_type = "{p.provider_type}" needs the endpoint: base_url is not set',
                    path=path,
                    line=locate(text, ("providers", i, "provider_type")),
                    key=f"providers[{i}].base_url ({p.name})",
                    fix='add base_url = "https://your-endpoint.example/v1" (the URL before /chat/completions)',
                )
            )
        keyless = p.api_key is None and not p.api_keys
        if p.enabled and p.auth_type == "apikey" and keyless and (preset is None or preset.needs_key):
            problems.append(
                ConfigError(
                    'api_key is required when auth_type = "apikey"',
                    path=path,
                    line=locate(text, ("providers", i)),
                    key=f"providers[{i}].api_key ({p.name})",
                    fix='add api_key = "$ENV_VAR", or use auth_type = "passthrough" / "oauth"',
                )
            )
    return problems


def load_config(path: Path, env: Mapping[str, str] | None = None) -> schema.Config:
    """Read and validate a config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found", path=str(path), fix="run `ccm init` to write a commented default"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", path=str(path)) from None
    return parse_config(text, path=str(path), env=env)
