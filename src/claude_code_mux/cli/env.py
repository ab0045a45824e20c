"""``ccm env``: the environment that points Claude Code (or an Agent SDK app) at the router.

:func:`claude_env` derives the variables from the config; ``ccm code`` applies them to the ``claude`` it runs
and ``ccm env`` prints them as shell commands. The rules:

- ``ANTHROPIC_BASE_URL`` = ``http://HOST:PORT`` of the router (a wildcard bind address becomes 127.0.0.1).
- Credentials. Claude Code needs one; which one depends on whether the client's own key must reach
  Anthropic:

  * No enabled provider has ``auth_type = "passthrough"``: ``ANTHROPIC_AUTH_TOKEN`` = ``server.api_key``, or
    the placeholder ``ccm`` when the router has no key; ``ANTHROPIC_API_KEY`` is unset (the router never
    forwards client credentials to such providers, and a real key would only confuse Claude Code's login).
  * A passthrough provider is enabled (the zero-config default) and the user's environment has
    ``ANTHROPIC_API_KEY`` and/or ``ANTHROPIC_AUTH_TOKEN``: they are kept as they are, because the router
    forwards them upstream. When ``server.api_key`` is set it goes into the free one of the two variables (the
    router accepts its key in either header and strips it before forwarding); when both are taken, a note
    says so.
  * A passthrough provider is enabled and the user has neither variable: nothing is set unless
    ``server.api_key`` is set (then ``ANTHROPIC_AUTH_TOKEN``). This lets Claude Code's own login (a claude.ai
    subscription) flow through; a placeholder would only be forwarded to Anthropic and rejected.
- Models (``router.*``). A name "routes" when a ``[[models]]`` entry or an enabled provider's ``models``
  pattern serves it, or it is ``provider,model`` with an enabled provider.

  * ``ANTHROPIC_MODEL`` = ``router.default`` when ``auto_map`` does not already map Claude Code's
    ``claude-*`` names to it, the default routes, and it is not served only by passthrough providers (then
    Claude Code's own model choice already reaches Anthropic unchanged; pinning would only override it).
  * ``ANTHROPIC_DEFAULT_HAIKU_MODEL`` and the older ``ANTHROPIC_SMALL_FAST_MODEL`` = ``router.background``
    when it is set, routes and the ``background`` rule is not disabled. Claude Code then sends its
    background (title) requests, and subagents asking for ``haiku``, to that model.
  * ``ANTHROPIC_DEFAULT_OPUS_MODEL`` / ``…_SONNET_MODEL`` (and ``…_HAIKU_MODEL`` without a background
    model) = ``router.default`` when the Claude model that alias stands for would not route (no auto_map, no
    provider serving ``claude-*``): ``--model opus`` and subagents with ``model: sonnet`` then reach the
    default instead of a 404.
- ``API_TIMEOUT_MS`` = ``server.timeouts.api_timeout_ms``.
- ``CLAUDE_CODE_AUTO_COMPACT_WINDOW`` = ``context_window`` of the ``[[models]]`` entry that main requests
  reach (``router.default`` when it is pinned or auto-mapped), when that entry sets one.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from claude_code_mux.cli.common import fail, load_or_default
from claude_code_mux.config.schema import Config
from claude_code_mux.errors import ConfigError
from claude_code_mux.routing.plan import resolve_model

PLACEHOLDER_TOKEN = "ccm"
SHELLS = ("bash", "zsh", "fish", "powershell")
# What Claude Code 2.1 sends for its aliases; only used to ask "would a claude-* name route?".
_ALIAS_PROBES = {
    "ANTHROPIC_DEFAULT_OPUS_MODEL": "claude-opus-4-8",
    "ANTHROPIC_DEFAULT_SONNET_MODEL": "claude-sonnet-5",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-4-5-20251001",
}


@dataclass(frozen=True)
class ClaudeEnv:
    """Variables to set (in order), variables to remove, and notes for the user."""

    set: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def apply(self, base: Mapping[str, str]) -> dict[str, str]:
        out = {k: v for k, v in base.items() if k not in self.unset}
        out.update(self.set)
        return out


def base_url(host: str, port: int) -> str:
    h = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in h and not h.startswith("["):
        h = f"[{h}]"
    return f"http://{h}:{port}"


def _candidates(name: str, cfg: Config) -> list[str] | None:
    """Provider names that serve ``name``, or None when it does not route."""
    if "," in name:
        prov = name.partition(",")[0].strip()
        pc = cfg.provider(prov)
        return [prov] if pc is not None and pc.enabled else None
    return [c.provider for c in resolve_model(name, cfg)] or None


def _auto_maps(name: str, cfg: Config) -> bool:
    """Whether routing would send ``name`` to router.default (a [[models]] entry of that name wins)."""
    r = cfg.router
    if any(m.name.lower() == name.lower() for m in cfg.models):
        return False
    return bool(r.auto_map and r.auto_map_regex and re.search(r.auto_map_regex, name))


def _claude_name_routes(name: str, cfg: Config) -> bool:
    if _auto_maps(name, cfg):
        return _candidates(cfg.router.default, cfg) is not None
    return _candidates(name, cfg) is not None


def _passthrough(cfg: Config, provider: str) -> bool:
    pc = cfg.provider(provider)
    return pc is not None and pc.auth_type == "passthrough"


def _context_window(cfg: Config, name: str) -> int | None:
    entry = cfg.model(name) or next((m for m in cfg.models if m.name.lower() == name.lower()), None)
    return entry.context_window if entry is not None else None


def _credentials(cfg: Config, environ: Mapping[str, str]) -> ClaudeEnv:
    key = cfg.server.api_key.get_secret_value() if cfg.server.api_key else None
    if not any(p.enabled and p.auth_type == "passthrough" for p in cfg.providers):
        return ClaudeEnv({"ANTHROPIC_AUTH_TOKEN": key or PLACEHOLDER_TOKEN}, unset=("ANTHROPIC_API_KEY",))
    has_key = bool(environ.get("ANTHROPIC_API_KEY"))
    has_token = bool(environ.get("ANTHROPIC_AUTH_TOKEN"))
    kept = " and ".join(v for v, on in (("ANTHROPIC_API_KEY", has_key), ("ANTHROPIC_AUTH_TOKEN", has_token)) if on)
    if kept:
        note = f"{kept}: kept from your environment (a passthrough provider forwards your own credentials)"
    else:
        note = "no ANTHROPIC_API_KEY/ANTHROPIC_AUTH_TOKEN: Claude Code's own login is forwarded (passthrough)"
    if key is None:
        return ClaudeEnv(notes=(note,))
    if not has_token:
        return ClaudeEnv({"ANTHROPIC_AUTH_TOKEN": key}, notes=(note,))
    if not has_key:
        return ClaudeEnv({"ANTHROPIC_API_KEY": key}, notes=(note,))
    return ClaudeEnv(
        notes=(
            note,
            "both ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN are set, so the router key (server.api_key) "
            "cannot be added: unset one of them",
        )
    )


def claude_env(cfg: Config, *, host: str, port: int, environ: Mapping[str, str]) -> ClaudeEnv:
    """The variables for a Claude Code that talks to the router at ``host:port`` (rules: module docstring)."""
    creds = _credentials(cfg, environ)
    out: dict[str, str] = {"ANTHROPIC_BASE_URL": base_url(host, port), **creds.set}
    r = cfg.router
    default_provs = _candidates(r.default, cfg)
    main_model: str | None = None
    if default_provs is not None:
        if _auto_maps(_ALIAS_PROBES["ANTHROPIC_DEFAULT_OPUS_MODEL"], cfg):
            main_model = r.default
        elif not all(_passthrough(cfg, p) for p in default_provs):
            out["ANTHROPIC_MODEL"] = r.default
            main_model = r.default
    background = r.background
    if background and ("background" in r.disabled or _candidates(background, cfg) is None):
        background = None
    for var, probe in _ALIAS_PROBES.items():
        if var == "ANTHROPIC_DEFAULT_HAIKU_MODEL" and background:
            out[var] = background
        elif default_provs is not None and not _claude_name_routes(probe, cfg):
            out[var] = r.default
    if "ANTHROPIC_DEFAULT_HAIKU_MODEL" in out:
        out["ANTHROPIC_SMALL_FAST_MODEL"] = out["ANTHROPIC_DEFAULT_HAIKU_MODEL"]
    out["API_TIMEOUT_MS"] = str(cfg.server.timeouts.api_timeout_ms)
    window = _context_window(cfg, main_model) if main_model else None
    if window:
        out["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = str(window)
    return ClaudeEnv(out, unset=creds.unset, notes=creds.notes)


def _quote(shell: str, value: str) -> str:
    if shell == "fish":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if shell == "powershell":
        return "'" + value.replace("'", "''") + "'"
    return "'" + value.replace("'", "'\"'\"'") + "'"


def render(env: ClaudeEnv, shell: str) -> str:
    """Shell commands that apply ``env`` (``eval "$(ccm env)"``, ``ccm env --shell fish | source``, …)."""
    lines = [f"# {n}" for n in env.notes]
    for name in env.unset:
        if shell == "fish":
            lines.append(f"set -e {name}")
        elif shell == "powershell":
            lines.append(f"Remove-Item Env:{name} -ErrorAction SilentlyContinue")
        else:
            lines.append(f"unset {name}")
    for name, value in env.set.items():
        q = _quote(shell, value)
        if shell == "fish":
            lines.append(f"set -gx {name} {q}")
        elif shell == "powershell":
            lines.append(f"$env:{name} = {q}")
        else:
            lines.append(f"export {name}={q}")
    return "\n".join(lines) + "\n"


def default_shell(environ: Mapping[str, str]) -> str:
    if sys.platform == "win32":
        return "powershell"
    name = Path(environ.get("SHELL", "")).name
    return name if name in SHELLS else "bash"


def router_address(cfg: Config, home: Path, config_path: Path | None = None) -> tuple[str, int, bool]:
    """(host, port, running): this config's running router's port from its PID file, else the configured one."""
    from claude_code_mux.cli import instance

    found = instance.lookup(instance.pid_file(home, config_path))
    if isinstance(found, instance.Instance):
        return cfg.server.host, found.port if found.port is not None else cfg.server.port, True
    return cfg.server.host, cfg.server.port, False


def foreign_router_error(home: Path, config_path: Path | None, port: int) -> str | None:
    """Why this config must not use ``port``: the router of another config of this home listens there."""
    from claude_code_mux.cli import instance

    mine = instance.pid_file(home, config_path)
    owner = instance.owner_of_port(home, mine, port)
    if owner is None:
        return None
    other = owner.config or "the home's config.toml"
    return (
        f"port {port} belongs to the router of another config ({other}, PID {owner.pid}), not to "
        f"{config_path or 'this config'}; its settings and keys would go to the wrong router. Fix: give this "
        "config its own server.port, stop that router (`ccm --config OTHER stop`), or use a separate --home"
    )


def cmd_env(args: argparse.Namespace) -> int:
    try:
        cfg, _ = load_or_default(args)
    except ConfigError as exc:
        return fail(exc)
    host, port, running = router_address(cfg, args.home, args.config_path)
    if not running:
        problem = foreign_router_error(args.home, args.config_path, port)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 1
    shell = args.shell or default_shell(os.environ)
    sys.stdout.write(render(claude_env(cfg, host=host, port=port, environ=os.environ), shell))
    if not running:
        print("# note: the router is not running; start it with `ccm start --detach`", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "env",
        parents=[common],
        help="print the environment for plain `claude` / Agent SDK apps",
        description='Print shell commands that point Claude Code at the router: eval "$(ccm env)".',
    )
    p.add_argument("--shell", choices=SHELLS, default=None, help="output syntax (default: from $SHELL)")
    p.set_defaults(func=cmd_env)
