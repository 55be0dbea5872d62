"""Outbox: every outbound action is written down first, then delivered, retried, or raised as failed."""
