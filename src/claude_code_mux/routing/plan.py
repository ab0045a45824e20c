"""Turn a route decision into an ordered list of upstream candidates (no I/O)."""

from __future__ import annotations

import fnmatch

from claude_code_mux.config.schema import Config
from claude_code_mux.errors import InvalidRequest, NotFound
from claude_code_mux.routing.derived import Bounded, PerConfig
from claude_code_mux.routing.health import Health
from claude_code_mux.routing.types import Candidate, RouteDecision


def resolve_model(name: str, cfg: Config) -> list[Candidate]:
    """``[[models]]`` entry first (mappings by priority, file order on ties), then provider models.

    Resolved once per configuration and name (a new list each call: callers reorder it).
    """
    if len(name) > _NAME_MAX:
        return list(_resolve(name, cfg))
    resolved = _resolved(cfg)
    cands = resolved.get(name)
    if cands is None:
        cands = resolved.put(name, _resolve(name, cfg))
    return list(cands)


# Per configuration: model name -> its candidates. Names come from clients: bounded in number and length.
_NAME_MAX = 256
_resolved: PerConfig[Bounded[str, tuple[Candidate, ...]]] = PerConfig(lambda _cfg: Bounded(512))


def _resolve(name: str, cfg: Config) -> tuple[Candidate, ...]:
    enabled = {p.name for p in cfg.providers if p.enabled}
    entry = cfg.model(name)
    if entry is None:
        # Case-insensitive match of a configured model name.
        low = name.lower()
        entry = next((m for m in cfg.models if m.name.lower() == low), None)
    if entry is not None:
        ordered = sorted(enumerate(entry.mappings), key=lambda im: (im[1].priority, im[0]))
        return tuple(
            Candidate(mp.provider, mp.actual_model, mp.priority) for _, mp in ordered if mp.provider in enabled
        )
    out: list[Candidate] = []
    for p in cfg.providers:
        if p.enabled and any(fnmatch.fnmatchcase(name, pat) for pat in p.models):
            out.append(Candidate(p.name, name, 1))
    return tuple(out)


def plan(decision: RouteDecision, cfg: Config, health: Health | None = None) -> list[Candidate]:
    """Ordered candidates for a decision. Cooling-down targets go last, never dropped."""
    model = decision.model
    provider = decision.provider
    if "," in model and provider is None:
        prov, _, actual = model.partition(",")
        provider, model = prov.strip(), actual.strip()
        if cfg.provider(provider) is None:
            raise InvalidRequest(f"model {decision.model!r} names unknown provider {provider!r}")
        cands = [Candidate(provider, model, 1)]
    else:
        cands = resolve_model(model, cfg)
    if provider is not None:
        pc = cfg.provider(provider)
        if pc is None:
            known = ", ".join(p.name for p in cfg.providers)
            raise InvalidRequest(f"X-Provider {provider!r} is not a configured provider (known: {known})")
        if not pc.enabled:
            raise InvalidRequest(f"provider {provider!r} is disabled in the config")
        restricted = [c for c in cands if c.provider == provider]
        if not restricted:
            served = ", ".join(sorted({c.provider for c in cands})) or "none"
            raise InvalidRequest(
                f"X-Provider {provider!r} has no mapping for model {model!r} (providers serving it: {served}); "
                "add a [[models.mappings]] entry for it or drop the header"
            )
        cands = restricted
    if not cands:
        raise NotFound(
            f"model {decision.model!r} has no route: it matches no [[models]] entry and no provider's "
            "`models` list (fix: add a [[models]] entry with this name, or set router.default and enable "
            "auto_map)"
        )
    if health is not None and len(cands) > 1:
        healthy = [c for c in cands if health.cooling(c.provider, c.upstream_model) <= 0]
        if healthy and len(healthy) != len(cands):
            cands = healthy + [c for c in cands if c not in healthy]
    return cands
