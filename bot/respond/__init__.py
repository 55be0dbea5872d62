"""Respond: the texts the bot sends patients by itself (slots, answers, after-hours acknowledgements)."""
