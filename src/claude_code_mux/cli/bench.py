"""``ccm bench [ARGS...]``: run the in-repo benchmark (``python -m bench ARGS...``) from a source checkout."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HOW = """\
ccm bench runs the benchmark that lives in the source repository (its bench/ package is not installed
with claude-code-mux). Run it from a checkout, i.e. the directory holding pyproject.toml and bench/:

    cd path/to/claude-code-mux
    python -m bench --quick      # or: ccm bench --quick   (--smoke: correctness only; --help: options)
"""


class _Verbatim(argparse.ArgumentParser):
    """Keeps every argument after ``bench`` as is (``-h`` and unknown options too) for ``python -m bench``."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns = namespace if namespace is not None else argparse.Namespace()
        for key, value in self._defaults.items():
            setattr(ns, key, value)
        ns.bench_args = list(args if args is not None else sys.argv[1:])
        return ns, []


def find_checkout(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding ``bench/__main__.py`` and our pyproject."""
    for d in (start, *start.parents):
        pyproject = d / "pyproject.toml"
        if (d / "bench" / "__main__.py").is_file() and pyproject.is_file():
            try:
                if 'name = "claude-code-mux"' in pyproject.read_text(errors="replace"):
                    return d
            except OSError:
                continue
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    root = find_checkout(Path.cwd())
    if root is None:
        print(HOW, file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "bench", *args.bench_args], cwd=root)


def add_commands(sub: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "bench",
        parents=[common],
        add_help=False,
        help="run the benchmark (from a checkout; ccm bench --help)",
    )
    p.__class__ = _Verbatim  # argparse builds subparsers itself; this one passes its arguments through
    p.set_defaults(func=cmd_bench)
