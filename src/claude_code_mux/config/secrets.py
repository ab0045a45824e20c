"""``$VAR`` / ``${VAR}`` references in the config's secret values, resolved from the environment.

The secret values that may name an environment variable: ``server.api_key`` / ``admin_key``, each provider's
``api_key`` and ``api_keys``, ``state.url`` and ``usage.database``. A variable that is not set is one problem
(file, line, key, fix); the value is then left out, so the rest of the file is still checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from claude_code_mux.config.locate import locate
from claude_code_mux.errors import ConfigError

_ENV_REF = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")
_SECRET_KEYS = ("api_key", "admin_key")


def resolve_env(value: str, env: Mapping[str, str]) -> str | None:
    """The value, or the variable it names (None when that is not set)."""
    m = _ENV_REF.match(value.strip())
    if not m:
        return value
    return env.get(m.group(1) or m.group(2))


class _Resolver:
    def __init__(self, env: Mapping[str, str], text: str, path: str) -> None:
        self.env, self.text, self.path = env, text, path
        self.problems: list[ConfigError] = []

    def value(self, val: Any, loc: tuple[str | int, ...], key: str, fix: str, *, report: bool = True) -> Any:
        """``val`` with a ``$VAR`` resolved; an unset variable is a problem (when ``report``) and gives None."""
        if not isinstance(val, str):
            return val
        resolved = resolve_env(val, self.env)
        if resolved is None and report:
            self.problems.append(
                ConfigError(
                    f"environment variable referenced by {val!r} is not set",
                    path=self.path,
                    line=locate(self.text, loc),
                    key=key,
                    fix=f"export {val.strip('${}')}={fix}",
                )
            )
        return resolved

    def field(self, table: Any, name: str, loc: tuple[str | int, ...], key: str, fix: str) -> None:
        if isinstance(table, dict) and isinstance(table.get(name), str):
            table[name] = self.value(table[name], loc, key, fix) or None


def resolve_secrets(raw: dict[str, Any], *, text: str, path: str, env: Mapping[str, str]) -> list[ConfigError]:
    """Replace ``$ENV`` secrets by their values in place; one problem per variable that is not set."""
    r = _Resolver(env, text, path)
    for key in _SECRET_KEYS:
        r.field(raw.get("server"), key, ("server", key), f"server.{key}", "... or write the value")
    r.field(raw.get("state"), "url", ("state", "url"), "state.url", "redis://host:6379/0 before starting")
    r.field(
        raw.get("usage"),
        "database",
        ("usage", "database"),
        "usage.database",
        "postgresql://... or remove usage.database to use usage.db",
    )
    providers = raw.get("providers")
    for i, prov in enumerate(providers if isinstance(providers, list) else []):
        if not isinstance(prov, dict):
            continue
        name = prov.get("name", "?")
        if isinstance(prov.get("api_key"), str):
            # A disabled provider's missing key is not a problem: it is not used.
            prov["api_key"] = r.value(
                prov["api_key"],
                ("providers", i, "api_key"),
                f"providers[{i}].api_key ({name})",
                "... before starting, or set enabled = false",
                report=prov.get("enabled", True) is not False,
            )
        keys = prov.get("api_keys")
        if isinstance(keys, list):
            resolved = [
                r.value(
                    k,
                    ("providers", i, "api_keys"),
                    f"providers[{i}].api_keys[{j}] ({name})",
                    "... before starting, or remove it from the list",
                )
                for j, k in enumerate(keys)
            ]
            prov["api_keys"] = [k for k in resolved if k is not None]
    return r.problems
