"""Read-only views for the admin API: the config with secrets masked, status, presets.

A secret is shown as the file writes it when that is an environment reference (``"$OPENROUTER_API_KEY"``),
else as :data:`~claude_code_mux.config.masking.MASK`; the value itself never leaves the process.
"""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path
from typing import Any

from claude_code_mux import __version__
from claude_code_mux.auth.store import TokenRecord
from claude_code_mux.config.load import parse_config
from claude_code_mux.config.masking import MASK, is_secret_header
from claude_code_mux.config.presets import PRESETS, preset_for
from claude_code_mux.config.schema import Config, ProviderConfig
from claude_code_mux.errors import ConfigError
from claude_code_mux.runtime import Runtime
from claude_code_mux.server.admin.schemas import CompatProviderIn

_ENV_REF = re.compile(r"^\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$")
ROUTE_KEYS = ("default", "background", "think", "websearch", "image", "long_context")


def read_file_state(path: Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """The file as raw TOML data (for env references) and its validation error, if any. Blocking."""
    if path is None:
        return None, None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raw = None
    try:
        parse_config(text, path=str(path))
    except ConfigError as exc:
        return raw, str(exc)
    return raw, None


def mask(raw_value: Any) -> str | None:
    if raw_value is None:
        return None
    if isinstance(raw_value, str) and _ENV_REF.match(raw_value.strip()):
        return raw_value.strip()
    return MASK


def _raw_provider(raw: dict[str, Any] | None, name: str) -> dict[str, Any]:
    provs = raw.get("providers") if raw else None
    if isinstance(provs, list):
        for p in provs:
            if isinstance(p, dict) and p.get("name") == name:
                return p
    return {}


def _raw_secret(raw_table: dict[str, Any], key: str, present: bool) -> str | None:
    if not present:
        return None
    return mask(raw_table.get(key, MASK))


def provider_view(p: ProviderConfig, raw: dict[str, Any] | None) -> dict[str, Any]:
    rp = _raw_provider(raw, p.name)
    data = p.model_dump(mode="json")
    data["api_key"] = _raw_secret(rp, "api_key", p.api_key is not None or "api_key" in rp)
    data["headers"] = {k: (MASK if is_secret_header(k) else v) for k, v in p.headers.items()}
    data["proxy"] = _raw_secret(rp, "proxy", p.proxy is not None)  # may carry the proxy's credentials
    raw_keys = rp.get("api_keys")
    raw_keys = raw_keys if isinstance(raw_keys, list) and len(raw_keys) == len(p.api_keys) else [MASK] * len(p.api_keys)
    data["api_keys"] = [mask(k) for k in raw_keys]
    return data


def login_kind(source: str | None) -> str:
    """What a login is, from its record's ``source``: ``chatgpt`` (also ``codex:<path>``), ``gemini-cli`` or
    ``claude`` (``ccm login``, the Claude Code import, the admin API)."""
    if source and (source == "chatgpt" or source.startswith("codex:")):
        return "chatgpt"
    if source == "gemini-cli":
        return "gemini-cli"
    return "claude"


def token_rows(status: list[dict[str, Any]], records: list[TokenRecord]) -> list[dict[str, Any]]:
    """The token manager's status rows (no secrets) with each login's kind and Code Assist project."""
    by_id = {r.provider_id: r for r in records}
    rows = []
    for row in status:
        record = by_id.get(str(row.get("provider_id")))
        rows.append(
            {
                **row,
                "kind": login_kind(row.get("source")),
                "project_id": record.project_id if record is not None else None,
            }
        )
    return rows


def config_view(cfg: Config, raw: dict[str, Any] | None) -> dict[str, Any]:
    data = cfg.model_dump(mode="json")
    rs = raw.get("server") if raw else None
    rs = rs if isinstance(rs, dict) else {}
    for key in ("api_key", "admin_key"):
        data["server"][key] = _raw_secret(rs, key, getattr(cfg.server, key) is not None)
    data["providers"] = [provider_view(p, raw) for p in cfg.providers]
    return data


_COMPAT_FIELDS = frozenset(CompatProviderIn.model_fields)


def compat_view(cfg: Config, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The original's ``GET /api/config/json`` shape (plus the two regexes it forgot), masked."""
    r = cfg.router
    return {
        "server": {"host": cfg.server.host, "port": cfg.server.port},
        "router": {
            "default": r.default,
            "background": r.background,
            "think": r.think,
            "websearch": r.websearch,
            "auto_map_regex": r.auto_map_regex,
            "background_regex": r.background_regex,
        },
        # Only what the same endpoint's POST takes (the original's fields), so a GET can be posted back as is.
        "providers": [
            {k: v for k, v in provider_view(p, raw).items() if v not in (None, {}, []) and k in _COMPAT_FIELDS}
            for p in cfg.providers
        ],
        "models": [{"name": m.name, "mappings": [mp.model_dump(mode="json") for mp in m.mappings]} for m in cfg.models],
    }


def presets_view() -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "dialect": p.dialect,
            "base_url": p.base_url,
            "auth_header": p.auth_header,
            "needs_key": p.needs_key,
        }
        for name, p in PRESETS.items()
    ]


def _provider_facts(p: ProviderConfig, rt: Runtime) -> dict[str, Any]:
    live = rt.providers.get(p.name)
    if live is not None:
        return {"dialect": live.dialect, "base_url": live.base_url}
    preset = preset_for(p.provider_type)
    dialect = p.dialect or (preset.dialect if preset else "anthropic")
    return {"dialect": dialect, "base_url": p.base_url or (preset.base_url if preset else None)}


def routing_table(cfg: Config, rt: Runtime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key in ROUTE_KEYS:
        target = getattr(cfg.router, key)
        if not target:
            continue
        model = cfg.model(target)
        targets = []
        if model is not None:
            for mp in sorted(model.mappings, key=lambda m: m.priority):
                targets.append(
                    {
                        "priority": mp.priority,
                        "provider": mp.provider,
                        "model": mp.actual_model,
                        "cooldown_s": round(rt.health.cooling(mp.provider, mp.actual_model), 3),
                    }
                )
        rows.append({"route": key, "model": target, "targets": targets})
    return rows


async def status_view(rt: Runtime, *, started_at: float, active_streams: int, seen: int) -> dict[str, Any]:
    cfg = rt.config
    snap = rt.health.snapshot()
    providers = []
    for p in cfg.providers:
        cooldowns = [h for h in snap if h["provider"] == p.name]
        providers.append(
            {
                "name": p.name,
                "provider_type": p.provider_type,
                **_provider_facts(p, rt),
                "auth_type": p.auth_type,
                "oauth_provider": p.oauth_provider,
                "enabled": p.enabled,
                "healthy": not any(float(str(h["cooldown_remaining_s"])) > 0 for h in cooldowns),
                "cooldowns": cooldowns,
            }
        )
    tokens: list[dict[str, Any]] | None = None
    tokens_error: str | None = None
    status_fn = getattr(rt.tokens, "status", None)
    if status_fn is not None:
        try:
            tokens = list(await status_fn())
        except Exception as exc:  # a broken store must not break the status page
            tokens_error = f"{type(exc).__name__}: {exc}"
    now = time.time()
    return {
        "version": __version__,
        "uptime_s": round(now - started_at, 3),
        "started_at": started_at,
        "config_loaded_at": rt.started_at,
        "config_path": str(rt.config_path) if rt.config_path else None,
        "listen": {"host": cfg.server.host, "port": cfg.server.port},
        "router": {k: getattr(cfg.router, k) for k in ROUTE_KEYS},
        "routing": routing_table(cfg, rt),
        "models": [{"name": m.name, "mappings": [mp.model_dump(mode="json") for mp in m.mappings]} for m in cfg.models],
        "providers": providers,
        "health": snap,
        "tokens": tokens,
        "tokens_error": tokens_error,
        "active_streams": active_streams,
        "requests_seen": seen,
    }
