"""Who is paged: the weekly on-call rota, overrides set from chat, and reading "until ..." times."""

from bot.oncall.rota import OnCall, Override, next_shift_change, on_call
from bot.oncall.store import active_overrides, add_override, current_on_call, end_overrides
from bot.oncall.when import parse_until

__all__ = [
    "OnCall",
    "Override",
    "active_overrides",
    "add_override",
    "current_on_call",
    "end_overrides",
    "next_shift_change",
    "on_call",
    "parse_until",
]
