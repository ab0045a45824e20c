"""``ccm models discover PROVIDER [--prefix P]``: list the upstream's models and add ``[[models]]`` entries.

The upstream's ``/v1/models`` (Anthropic dialect, with the provider's key or OAuth token) or ``/models``
(OpenAI dialect) is read, and every id not configured yet becomes a ``[[models]]`` entry named
``PREFIX + id`` mapped to that provider, written with a comment-preserving, validated, atomic edit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson

from claude_code_mux.cli.common import fail
from claude_code_mux.config.load import load_config
from claude_code_mux.config.schema import Config
from claude_code_mux.errors import CcmError, ConfigError
from claude_code_mux.providers.cold import cold_client
from claude_code_mux.runtime import build_providers, build_proxies


async def fetch_model_ids(cfg: Config, provider_name: str, home: Path) -> list[str]:
    providers = build_providers(cfg)
    p = providers.get(provider_name)
    if p is None:
        known = ", ".join(sorted(providers)) or "none"
        raise CcmError(f"no enabled provider named {provider_name!r} (known: {known})")
    headers: dict[str, str] = {}
    if p.auth_type == "oauth":
        from claude_code_mux.auth.wiring import token_manager_for

        manager, http = token_manager_for(cfg, home)
        try:
            token = await manager.get_access_token(p.oauth_provider or p.name)
        finally:
            await http.close()
        headers["authorization"] = f"Bearer {token}"
        headers["anthropic-beta"] = cfg.oauth.beta
    elif p.api_key is not None:
        key = p.api_key.get_secret_value()
        if p.preset.auth_header == "x-api-key":
            headers["x-api-key"] = key
        else:
            headers["authorization"] = f"Bearer {key}"
    headers.update({k.lower(): v for k, v in p.headers.items()})
    if p.dialect == "anthropic":
        headers.setdefault("anthropic-version", "2023-06-01")
        url = p.base_url + "/v1/models?limit=1000"
    else:
        url = p.base_url + "/models"
    proxy = build_proxies(cfg, providers, os.environ).get(provider_name)
    async with cold_client(proxy, read_s=30.0) as session, asyncio.timeout(30):
        resp = await session.get(url, headers=headers)
    try:
        body: Any = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        body = resp.text[:300]
    if resp.status_code >= 400:
        msg = body.get("error", {}).get("message") if isinstance(body, dict) else None
        raise CcmError(f"{provider_name}: {url.split('?')[0]} answered {resp.status_code}: {msg or body}")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise CcmError(f"{provider_name}: unexpected model list shape")
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]


def cmd_discover(args: argparse.Namespace) -> int:
    path: Path = args.config_path
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return fail(exc)
    try:
        ids = asyncio.run(fetch_model_ids(cfg, args.provider, args.home))
    except (TimeoutError, CcmError, httpx.HTTPError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    existing = {m.name for m in cfg.models}
    new = [(args.prefix + i, i) for i in ids if args.prefix + i not in existing]
    for name, actual in new:
        print(f"  + {name} -> {args.provider}/{actual}")
    if not new:
        print(f"{args.provider}: {len(ids)} model(s), all already configured")
        return 0
    if args.dry_run:
        print(f"{len(new)} model(s) would be added (dry run)")
        return 0
    from claude_code_mux.config.edit import apply_edit, upsert_model

    def edit(doc: Any) -> None:
        for name, actual in new:
            upsert_model(doc, name, {}, [{"provider": args.provider, "actual_model": actual, "priority": 1}])

    try:
        apply_edit(path, edit)
    except ConfigError as exc:
        return fail(exc)
    print(f"added {len(new)} model(s) to {path}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", parents=[common], help="model discovery")
    msub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    d = msub.add_parser("discover", parents=[common], help="add the upstream's models to the config")
    d.add_argument("provider", help="provider name from the config")
    d.add_argument("--prefix", default="", help="prefix for the new [[models]] names")
    d.add_argument("--dry-run", action="store_true", help="only print what would be added")
    d.set_defaults(func=cmd_discover)
