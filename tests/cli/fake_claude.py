#!/usr/bin/env python3
"""A stand-in for the ``claude`` CLI in tests of ``ccm code``.

It writes ``{"argv", "env", "health"}`` to ``$FAKE_CLAUDE_OUT`` (``health``: the status of GET
``$ANTHROPIC_BASE_URL/health``, or an error string, so a test sees the router was up while it ran), prints a
line on stdout, optionally waits until the file ``$FAKE_CLAUDE_WAIT_FOR`` exists (at most 30 s), and exits
with ``$FAKE_CLAUDE_EXIT`` (default 0). Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request


def main() -> int:
    health: object = None
    base = os.environ.get("ANTHROPIC_BASE_URL")
    if base:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                health = r.status
        except OSError as exc:
            health = f"error: {exc}"
    record = {"argv": sys.argv[1:], "env": dict(os.environ), "health": health}
    out = os.environ.get("FAKE_CLAUDE_OUT")
    if out:
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, out)
    print("fake-claude ran", flush=True)
    gate = os.environ.get("FAKE_CLAUDE_WAIT_FOR")
    if gate:
        deadline = time.monotonic() + 30
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
    return int(os.environ.get("FAKE_CLAUDE_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
