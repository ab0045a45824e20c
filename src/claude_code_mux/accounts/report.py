"""What the account router knows, as plain data: for ``ccm accounts``, the admin API, the UI and metrics."""

from __future__ import annotations

import time
from typing import Any

from claude_code_mux.accounts.book import OK
from claude_code_mux.accounts.select import AccountRouter

STATE_CODES = {"ok": 0, "soft": 1, "hard": 2}


def snapshot(router: AccountRouter, now: float | None = None) -> list[dict[str, Any]]:
    """One entry per pooled account: windows (utilization, reset), state per family seen, sessions pinned."""
    now = router.clock() if now is None else now
    pinned = router.sticky.count_by_account(now)
    out: list[dict[str, Any]] = []
    for provider, pool in router.pools.items():
        for acc in pool.accounts:
            windows = router.book.windows(acc, None, now)
            families = sorted(router.book.readings(acc)) or ["*"]
            states = {fam: router.book.state(acc, fam if fam != "*" else "", now) for fam in families}
            worst = max(states.values(), key=lambda s: STATE_CODES[s.state])
            out.append(
                {
                    "provider": provider,
                    "account": acc,
                    "strategy": pool.strategy,
                    "state": worst.state,
                    "until": worst.until,
                    "reason": None if worst.state == OK else worst.window,
                    "families": {f: s.state for f, s in states.items()},
                    "windows": {
                        name: {"utilization": w.utilization, "reset": w.reset, "status": w.status}
                        for name, w in sorted(windows.items())
                    },
                    "sessions": pinned.get((provider, acc), 0),
                }
            )
    return out


def _pct(u: Any) -> str:
    return f"{round(float(u) * 100)} %" if isinstance(u, int | float) else "—"


def _at(ts: Any) -> str:
    return time.strftime("%a %H:%M", time.localtime(float(ts))) if isinstance(ts, int | float) else ""


def format_table(rows: list[dict[str, Any]]) -> str:
    """The ``ccm accounts`` table: account, 5h and 7d utilization with reset times (local time), state, sessions."""
    if not rows:
        return "no account pools configured (set oauth_accounts or api_keys on a provider)"
    head = ["PROVIDER", "ACCOUNT", "5H", "RESETS", "7D", "RESETS", "STATE", "SESSIONS"]
    lines = [head]
    for r in rows:
        w = r["windows"]
        five, seven = w.get("5h", {}), w.get("7d", {})
        state = r["state"] if r["state"] == "ok" else f"{r['state']} until {_at(r['until'])}".strip()
        lines.append(
            [
                r["provider"],
                r["account"],
                _pct(five.get("utilization")),
                _at(five.get("reset")),
                _pct(seven.get("utilization")),
                _at(seven.get("reset")),
                state,
                str(r["sessions"]),
            ]
        )
        extra = [f"{k} {_pct(v.get('utilization'))}" for k, v in w.items() if k not in ("5h", "7d")]
        if extra:
            lines.append(["", "  " + ", ".join(extra), "", "", "", "", "", ""])
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in lines)
