"""Tickets: the unit of work staff see, with explicit transitions and an append-only audit log."""
