"""Durations in words staff read at a glance: "1 h 48 min", never "708 min" or "1h 48m"."""

from __future__ import annotations

from datetime import timedelta


def humanize_minutes(minutes: float) -> str:
    """Whole minutes, rounded half up: "0 min", "under 1 min", "4 min", "1 h", "1 h 5 min", "27 h 10 min"."""
    value = max(float(minutes), 0.0)
    if value == 0:
        return "0 min"
    if value < 1:
        return "under 1 min"
    whole = int(value + 0.5)
    if whole < 60:
        return f"{whole} min"
    hours, rest = divmod(whole, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"


def humanize_duration(value: timedelta) -> str:
    return humanize_minutes(value.total_seconds() / 60)
