"""Budget periods in UTC: when the current one started and when it resets (None: ``total`` never does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

Period = str  # "day" | "week" | "month" | "total"


def period_start(period: Period, now: float) -> float:
    """Epoch seconds at which the period containing ``now`` began (0 for ``total``)."""
    t = datetime.fromtimestamp(now, UTC)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day.timestamp()
    if period == "week":  # ISO weeks: Monday 00:00 UTC
        return (day - timedelta(days=day.weekday())).timestamp()
    if period == "month":
        return day.replace(day=1).timestamp()
    if period == "total":
        return 0.0
    raise ValueError(f"unknown budget period {period!r}")


def period_end(period: Period, now: float) -> float | None:
    """When the period containing ``now`` resets, or None for ``total``."""
    start = datetime.fromtimestamp(period_start(period, now), UTC)
    if period == "day":
        return (start + timedelta(days=1)).timestamp()
    if period == "week":
        return (start + timedelta(days=7)).timestamp()
    if period == "month":
        nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return nxt.timestamp()
    return None


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def span(seconds: float) -> str:
    """``3d 4h``, ``7h 12m``, ``5m``: a short human duration."""
    s = max(0, int(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{max(m, 1)}m"
