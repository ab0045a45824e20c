"""``ccm logout ID --remove-models [--repoint MODEL]``: the ``[[models]]`` entries a removed login leaves
behind, found, explained and removed (or repointed) without touching anything the router still uses."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def models_only_using(config_path: Path, provider_id: str) -> list[str]:
    """``[[models]]`` names whose every mapping goes to a provider logged in as ``provider_id``."""
    from claude_code_mux.config.load import load_config

    cfg = load_config(config_path)
    oauth_providers = {
        p.name for p in cfg.providers if p.auth_type == "oauth" and (p.oauth_provider or p.name) == provider_id
    }
    return [m.name for m in cfg.models if m.mappings and all(mp.provider in oauth_providers for mp in m.mappings)]


def router_references(config_path: Path, names: list[str]) -> list[tuple[str, str]]:
    """``(setting, model)`` for every ``router.*`` setting (rules included) that names one of ``names``."""
    from claude_code_mux.config.load import load_config

    r = load_config(config_path).router
    refs = [(f"router.{key}", getattr(r, key)) for key in _ROUTE_KEYS if getattr(r, key) in names]
    refs += [(f"router.rules[{i}].model", rule.model) for i, rule in enumerate(r.rules) if rule.model in names]
    return refs


_ROUTE_KEYS = ("default", "background", "think", "websearch", "image", "long_context")


def _removal_edit(names: list[str], refs: list[tuple[str, str]], repoint: str | None) -> Callable[[Any], None]:
    from claude_code_mux.config.edit import delete_model

    def edit(doc: Any) -> None:
        if repoint is not None:
            router = doc["router"]
            for setting, _ in refs:
                key = setting.removeprefix("router.")
                if key.startswith("rules["):
                    router["rules"][int(key[6 : key.index("]")])]["model"] = repoint
                else:
                    router[key] = repoint
        for name in names:
            delete_model(doc, name)

    return edit


def _cleanup_plan(args: argparse.Namespace) -> tuple[Path, list[str], list[tuple[str, str]]] | int | None:
    """What ``--remove-models`` would do: (config, models, router references), None for nothing, or an exit
    code when it cannot be done (said why and how to fix it; nothing was changed)."""
    from claude_code_mux.config.edit import load_document, validate
    from claude_code_mux.errors import ConfigError

    path = Path(getattr(args, "config_path", "") or "")
    remove = bool(getattr(args, "remove_models", False))
    repoint = getattr(args, "repoint", None)
    if repoint is not None and not remove:
        print("error: --repoint only applies with --remove-models", file=sys.stderr)
        return 2
    if not path.is_file():
        return None
    try:
        names = models_only_using(path, args.provider_id)
        refs = router_references(path, names) if names else []
    except ConfigError as exc:
        if remove:
            print(f"error: cannot remove models: {exc}", file=sys.stderr)
            return 2
        return None
    if not names:
        return None
    if not remove:
        return path, names, refs
    if repoint is not None and repoint in names:
        print(f"error: --repoint {repoint} names a model that is being removed; pick another", file=sys.stderr)
        return 2
    if refs and repoint is None:
        listed = ", ".join(f"{setting} = {model!r}" for setting, model in refs)
        print(
            f"error: cannot remove [[models]] {', '.join(names)}: still used by {listed}.\n"
            "Nothing was changed. Fix: point those settings at another model, e.g.\n"
            f"  ccm logout {args.provider_id} --remove-models --repoint OTHER_MODEL\n"
            f"or edit them in {path} first, or log out without --remove-models.",
            file=sys.stderr,
        )
        return 2
    try:
        doc = load_document(path)
        _removal_edit(names, refs, repoint)(doc)
        validate(doc, path)
    except ConfigError as exc:
        print(f"error: cannot remove models: the result would be invalid: {exc}", file=sys.stderr)
        return 2
    return path, names, refs


def _offer_model_cleanup(args: argparse.Namespace, path: Path, names: list[str], refs: list[tuple[str, str]]) -> int:
    from claude_code_mux.config.edit import apply_edit
    from claude_code_mux.errors import ConfigError

    listed = ", ".join(names)
    repoint = getattr(args, "repoint", None)
    remove = bool(getattr(args, "remove_models", False))
    if not remove and sys.stdin.isatty() and not refs:
        answer = input(f"Remove the [[models]] entries that only use this login ({listed})? [y/N] ")
        remove = answer.strip().lower() in ("y", "yes")
    if not remove:
        hint = f"ccm logout {args.provider_id} --remove-models"
        if refs:
            used = ", ".join(f"{setting} = {model!r}" for setting, model in refs)
            hint += f" --repoint OTHER_MODEL (they are used by {used})"
        print(f"These [[models]] entries only use this login: {listed}. Remove them with: {hint}")
        return 0
    try:
        apply_edit(path, _removal_edit(names, refs, repoint))
    except ConfigError as exc:
        print(f"error: could not remove the models: {exc}", file=sys.stderr)
        return 2
    print(f"Removed {len(names)} model entr{'y' if len(names) == 1 else 'ies'} from {path}: {listed}")
    for setting, model in refs:
        print(f"  {setting}: {model!r} -> {repoint!r}")
    return 0
