"""The project a ``ccm code`` session spends for: sent as ``x-ccm-project`` through Claude Code's
``ANTHROPIC_CUSTOM_HEADERS`` so that ``[[budgets]] scope = "project:NAME"`` and ``ccm usage --by project`` see it.

The name is ``$CCM_PROJECT`` when set, else the name of the git work tree's root above the current directory
(a ``.git`` directory or file), else the current directory's name. A ``x-ccm-project`` line the user already
has in ``ANTHROPIC_CUSTOM_HEADERS`` wins; their other lines are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

HEADER = "x-ccm-project"
_UNSAFE = re.compile(r"[^\x21-\x7e ]")  # a header value: printable ASCII, no line breaks


def project_name(cwd: Path, environ: Mapping[str, str]) -> str | None:
    name = environ.get("CCM_PROJECT")
    if name is None:
        here = cwd.resolve()
        root = next((d for d in (here, *here.parents) if (d / ".git").exists()), here)
        name = root.name
    name = _UNSAFE.sub("_", name.strip())[:200].strip()
    return name or None


def with_project(custom_headers: str | None, project: str | None) -> str | None:
    """``ANTHROPIC_CUSTOM_HEADERS`` (newline-separated ``Name: value``) with the project line added."""
    lines = [ln for ln in (custom_headers or "").splitlines() if ln.strip()]
    if project is None or any(ln.split(":", 1)[0].strip().lower() == HEADER for ln in lines):
        return custom_headers
    return "\n".join([*lines, f"{HEADER}: {project}"])
