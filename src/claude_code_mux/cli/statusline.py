"""``ccm statusline``: a Claude Code ``statusLine`` command; ``ccm statusline install`` registers it.

Claude Code runs the command on every update and pipes a JSON object on stdin (``session_id``, ``model``,
``workspace``, ``cost``, …). We print one line about this session's last request through the router, from
``HOME/last_requests.json`` (see :mod:`claude_code_mux.observe.last_request`)::

    ccm default → openrouter/z-ai/glm-4.6 · last 45.2k in / 456 out · session ~$0.0123
    ccm sonnet → max/claude-sonnet-4-5 [max-work 5h 42 %] · last 12.0k in / 80 out · session ~$0.0410

(the bracket: the subscription account that served, and its 5-hour window's utilization)

Fallbacks: ``ccm: not running`` (no live router PID) and ``ccm: no requests yet``. The cost is estimated
from the ``[prices."model"]`` table (USD per million tokens), read with ``tomllib`` from the config file, else
from the price table that ships with the package.

The command must never fail or stall Claude Code's UI: stdin is read with a deadline, every error becomes a
short line and exit 0, and this module imports only the standard library (and ``last_request``), so
:func:`fast_main` can run before the rest of the CLI is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import threading
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_code_mux.observe.last_request import read_last

STDIN_DEADLINE_S = 0.5
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")


# ---------------------------------------------------------------------------------------------- the line


def read_stdin(deadline_s: float = STDIN_DEADLINE_S) -> dict[str, Any]:
    """The JSON Claude Code pipes in; ``{}`` when there is none, it is not JSON, or it is late."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return {}
        fd = sys.stdin.fileno()
    except (OSError, ValueError):
        return {}
    chunks: list[bytes] = []

    def pump() -> None:
        try:
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        except OSError:
            pass

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    t.join(deadline_s)
    if t.is_alive():
        return {}
    try:
        data = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def router_alive(home: Path, config_path: Path | None = None) -> bool:
    """This config's router runs (the same verified PID file as ``ccm status``; standard library only)."""
    from claude_code_mux.cli import instance

    return isinstance(instance.lookup(instance.pid_file(home, config_path)), instance.Instance)


def load_prices(config_path: Path | None) -> dict[str, dict[str, float]]:
    try:
        if config_path is None:
            return {}
        with open(config_path, "rb") as f:
            table = tomllib.load(f).get("prices")
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    out: dict[str, dict[str, float]] = {}
    if isinstance(table, dict):
        for name, p in table.items():
            if isinstance(p, dict):
                out[name] = {k: float(v) for k, v in p.items() if k in _PRICE_KEYS and isinstance(v, int | float)}
    return out


def _n(v: Any) -> int:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def session_cost(rec: Mapping[str, Any], prices: Mapping[str, Mapping[str, float]]) -> float | None:
    """USD for the session's per-model totals; None when no model used has a price."""
    totals = rec.get("totals")
    by_model = totals.get("by_model") if isinstance(totals, dict) else None
    if not isinstance(by_model, dict):
        by_model = {rec.get("model") or "?": {**(rec.get("usage") or {}), "client_model": rec.get("client_model")}}
    cost, priced = 0.0, False
    for model, t in by_model.items():
        if not isinstance(t, dict):
            continue
        price = next((prices[m] for m in (model, t.get("client_model")) if isinstance(m, str) and m in prices), None)
        if price is None:
            shipped_cost = _shipped_cost(model, t)
            if shipped_cost is not None:
                priced = True
                cost += shipped_cost * 1_000_000
            continue
        priced = True
        cost += sum(_n(t.get(u)) * price.get(p, 0.0) for u, p in zip(_USAGE_KEYS, _PRICE_KEYS, strict=True))
    return cost / 1_000_000 if priced else None


def _shipped_cost(model: str, usage: Mapping[str, Any]) -> float | None:
    """USD for ``usage`` of ``model`` at the price that ships with the package, or None (no price)."""
    from claude_code_mux.pricing.cost import cost_of  # imports no pydantic: cheap enough for every refresh
    from claude_code_mux.pricing.table import shipped

    counts = {k: _n(usage.get(k)) for k in _USAGE_KEYS}
    price = shipped().find(model) if any(counts.values()) else None
    return None if price is None else cost_of(price, counts)


def _tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


def _usd(v: float) -> str:
    return f"${v:.2f}" if v >= 1 else f"${v:.4f}"


def format_line(rec: Mapping[str, Any], prices: Mapping[str, Mapping[str, float]]) -> str:
    route = str(rec.get("route") or "?")
    if len(route) > 24:
        route = route.split(":", 1)[0]
    parts = [f"ccm {route}"]
    status = rec.get("status")
    bad = f" ✗ {status}" if isinstance(status, int) and status >= 400 else ""
    if rec.get("provider"):
        parts[0] += f" → {rec['provider']}/{rec.get('model') or '?'}{bad}"
    else:
        parts[0] += bad or " → ?"
    account = rec.get("account")
    if isinstance(account, str) and account:
        q = rec.get("quota_5h")
        pct = f" 5h {round(q * 100)} %" if isinstance(q, int | float) and not isinstance(q, bool) else ""
        parts[0] += f" [{account[:32]}{pct}]"
    raw = rec.get("usage")
    usage: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    if usage:
        ctx = _n(usage.get("input_tokens")) + _n(usage.get("cache_read_input_tokens"))
        ctx += _n(usage.get("cache_creation_input_tokens"))
        parts.append(f"last {_tokens(ctx)} in / {_tokens(_n(usage.get('output_tokens')))} out")
    cost = session_cost(rec, prices)
    if cost is not None:
        parts.append(f"session ~{_usd(cost)}")
    return " · ".join(parts)


def status_line(home: Path, config_path: Path | None, stdin: Mapping[str, Any]) -> str:
    if not router_alive(home, config_path):
        return "ccm: not running"
    sid = stdin.get("session_id")
    rec = read_last(home, sid if isinstance(sid, str) and sid else None)
    if rec is None:
        return "ccm: no requests yet"
    return format_line(rec, load_prices(config_path))


def run(home: Path, config_path: Path | None) -> int:
    try:
        line = status_line(home, config_path, read_stdin())
    except Exception as exc:  # never break Claude Code's status bar
        line = f"ccm: statusline error ({type(exc).__name__})"
    print(line, flush=True)
    return 0


def fast_main(argv: list[str], environ: Mapping[str, str] | None = None) -> int | None:
    """Bare ``ccm statusline``, run before the CLI (pydantic, httpx) is imported; None: not handled."""
    if argv:
        return None
    env = os.environ if environ is None else environ
    home = Path(env["CCM_HOME"]).expanduser() if env.get("CCM_HOME") else Path.home() / ".claude-code-mux"
    config = Path(env["CCM_CONFIG"]).expanduser() if env.get("CCM_CONFIG") else home / "config.toml"
    return run(home, config)


def cmd_statusline(args: argparse.Namespace) -> int:
    return run(args.home, args.config_path)


# ---------------------------------------------------------------------------------------------- install


def claude_settings_path(environ: Mapping[str, str] | None = None) -> Path:
    """``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR/settings.json`` when that is set)."""
    env = os.environ if environ is None else environ
    base = Path(env["CLAUDE_CONFIG_DIR"]).expanduser() if env.get("CLAUDE_CONFIG_DIR") else Path.home() / ".claude"
    return base / "settings.json"


_SCRIPT_NAMES = ("ccm", "claude-code-mux")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def default_command(argv0: str | None = None, executable: str | None = None) -> str:
    """An absolute command for Claude Code, which does not share the shell's PATH (an activated venv).

    The ``ccm`` script this process runs from (``sys.argv[0]``), else the one installed next to this
    interpreter (the venv's ``bin/``), else this interpreter with ``-m claude_code_mux``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    script = Path(argv0)
    if script.name in _SCRIPT_NAMES:
        if os.sep not in argv0:  # started by name: find the file the way the shell did
            found = shutil.which(argv0)
            script = Path(found) if found else script
        if _executable(script):
            return f"{shlex.quote(os.path.abspath(script))} statusline"
    for name in _SCRIPT_NAMES:
        beside = Path(executable).parent / name
        if _executable(beside):
            return f"{shlex.quote(os.path.abspath(beside))} statusline"
    return f"{shlex.quote(os.path.abspath(executable))} -m claude_code_mux statusline"


def _is_ours(entry: Any) -> bool:
    if not isinstance(entry, dict) or entry.get("type") != "command":
        return False
    try:
        words = shlex.split(str(entry.get("command", "")))
    except ValueError:
        return False
    return (
        len(words) >= 2
        and words[-1] == "statusline"
        and (Path(words[0]).name in _SCRIPT_NAMES or "claude_code_mux" in words)
    )


def merge_statusline(settings: dict[str, Any], command: str, *, force: bool) -> tuple[dict[str, Any], str]:
    """(new settings, "installed" | "unchanged" | "refused"); all other keys are kept as they are."""
    ours = {"type": "command", "command": command}
    existing = settings.get("statusLine")
    if isinstance(existing, dict) and {**existing, **ours} == existing:  # ours, maybe with padding etc.
        return settings, "unchanged"
    if existing is not None and not force and not _is_ours(existing):
        return settings, "refused"
    merged = {**existing, **ours} if isinstance(existing, dict) and _is_ours(existing) else ours
    return {**settings, "statusLine": merged}, "installed"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    tmp = path.with_name(f".{path.name}.ccm-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cmd_install(args: argparse.Namespace) -> int:
    path = claude_settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    try:
        settings = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        print(f"error: {path} is not valid JSON ({exc}); not changed", file=sys.stderr)
        return 1
    if not isinstance(settings, dict):
        print(f"error: {path} does not hold a JSON object; not changed", file=sys.stderr)
        return 1
    command = args.command or default_command()
    merged, what = merge_statusline(settings, command, force=args.force)
    if what == "refused":
        print(
            f"error: {path} already has a different statusLine: {json.dumps(settings['statusLine'])}\n"
            "Use `ccm statusline install --force` to replace it.",
            file=sys.stderr,
        )
        return 1
    if what == "unchanged":
        print(f"statusLine already set in {path}")
        return 0
    _write_atomic(path, json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    print(f"statusLine set in {path}: {command}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "statusline",
        parents=[common],
        help="Claude Code statusLine command (route, model, tokens, cost of the session's last request)",
    )
    p.set_defaults(func=cmd_statusline)
    ssub = p.add_subparsers(dest="statusline_command", metavar="install")
    inst = ssub.add_parser("install", parents=[common], help="add `ccm statusline` to ~/.claude/settings.json")
    inst.add_argument("--force", action="store_true", help="replace a different existing statusLine")
    inst.add_argument(
        "--command",
        default=None,
        help="command to register (default: the absolute path of this ccm, then statusline)",
    )
    inst.set_defaults(func=cmd_install)
