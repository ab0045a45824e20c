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
from claude_code_mux.errors import ConfigError

_ENV_REF = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")
_SECRET_KEYS = ("api_key", "admin_key")


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


def _resolve_env(value: str, env: Mapping[str, str]) -> str | None:
    m = _ENV_REF.match(value.strip())
    if not m:
        return value
    return env.get(m.group(1) or m.group(2))


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
    env = os.environ if env is None else env
    # `models = []` of the original is optional; the whole [server] table is optional too.
    server = raw.get("server")
    if isinstance(server, dict):
        for key in _SECRET_KEYS:
            val = server.get(key)
            if isinstance(val, str):
                resolved = _resolve_env(val, env)
                if resolved is None:
                    raise ConfigError(
                        f"environment variable referenced by {val!r} is not set",
                        path=path,
                        line=locate(text, ("server", key)),
                        key=f"server.{key}",
                        fix=f"export {val.strip('${}')}=... or write the value",
                    )
                server[key] = resolved or None
    providers = raw.get("providers")
    if isinstance(providers, list):
        for i, prov in enumerate(providers):
            if not isinstance(prov, dict):
                continue
            val = prov.get("api_key")
            if isinstance(val, str):
                resolved = _resolve_env(val, env)
                if resolved is None:
                    if prov.get("enabled", True) is False:
                        prov["api_key"] = None
                        continue
                    raise ConfigError(
                        f"environment variable referenced by {val!r} is not set",
                        path=path,
                        line=locate(text, ("providers", i, "api_key")),
                        key=f"providers[{i}].api_key ({prov.get('name', '?')})",
                        fix=f"export {val.strip('${}')}=... before starting, or set enabled = false",
                    )
                prov["api_key"] = resolved
    usage = raw.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("database"), str):
        val = usage["database"]
        resolved = _resolve_env(val, env)
        if resolved is None:
            raise ConfigError(
                f"environment variable referenced by {val!r} is not set",
                path=path,
                line=locate(text, ("usage", "database")),
                key="usage.database",
                fix=f"export {val.strip('${}')}=postgresql://... or remove usage.database to use usage.db",
            )
        usage["database"] = resolved or None
    try:
        cfg = schema.Config.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key explains a "missing" one: report unknown keys first.
        errors.sort(key=lambda e: 0 if e["type"] == "extra_forbidden" else 1)
        first = errors[0]
        loc = tuple(first["loc"])
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        elif first["type"] == "missing":
            msg = "required key is missing"
        more = exc.error_count() - 1
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(
            msg,
            path=path,
            line=locate(text, loc) if text else None,
            key=_dotted(loc),
            fix=_fix_for(first["type"], loc, msg),
        ) from None
    _check_semantics(cfg, text=text, path=path)
    return cfg


def _check_semantics(cfg: schema.Config, *, text: str, path: str) -> None:
    for i, p in enumerate(cfg.providers):
        if p.dialect is None and preset_for(p.provider_type) is None:
            close = difflib.get_close_matches(p.provider_type, list(PRESETS), n=1)
            raise ConfigError(
                f"unknown provider_type {p.provider_type!r}",
                path=path,
                line=locate(text, ("providers", i, "provider_type")),
                key=f"providers[{i}].provider_type",
                fix=(f"did you mean {close[0]!r}? " if close else "")
                + 'or set base_url and dialect = "openai" / "anthropic"',
            )
        preset = preset_for(p.provider_type)
        if p.enabled and p.auth_type == "apikey" and p.api_key is None and (preset is None or preset.needs_key):
            raise ConfigError(
                'api_key is required when auth_type = "apikey"',
                path=path,
                line=locate(text, ("providers", i)),
                key=f"providers[{i}].api_key ({p.name})",
                fix='add api_key = "$ENV_VAR", or use auth_type = "passthrough" / "oauth"',
            )
    names = {m.name for m in cfg.models}
    patterns = [pat for p in cfg.providers if p.enabled for pat in p.models]
    for key in ("default", "background", "think", "websearch", "image", "long_context"):
        target = getattr(cfg.router, key)
        if (
            target
            and target not in names
            and not any(fnmatch.fnmatchcase(target, pat) for pat in patterns)
            and "," not in target
        ):
            raise ConfigError(
                f"router.{key} = {target!r} names no [[models]] entry and no provider model",
                path=path,
                line=locate(text, ("router", key)),
                key=f"router.{key}",
                fix=f"add a [[models]] entry with name = {target!r} or change the value"
                + (f" (known: {', '.join(sorted(names))})" if names else ""),
            )


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
