"""Audit event kinds. Stored as strings; never renamed once shipped."""

from enum import StrEnum


class EventKind(StrEnum):
    RECEIVED = "received"
    MATCHED = "matched"
    CLASSIFIED = "classified"
    ROUTED = "routed"
    FOLLOW_UP = "follow_up"
    RAISED = "raised"
    LINKED = "linked"  # a follow-up with a different, less severe request opened its own ticket
    AUTO_REPLIED = "auto_replied"
    ACKNOWLEDGED_AFTER_HOURS = "after_hours_ack"
    POSTED = "posted"
    PAGED = "paged"
    CLAIMED = "claimed"
    UNCLAIMED = "unclaimed"
    REPLIED = "replied"
    REPLY_SENT = "reply_sent"
    DELIVERY_FAILED = "delivery_failed"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    RECLASSIFIED = "reclassified"
    REFUSED = "refused"
    ACKNOWLEDGED = "acknowledged"
    MESSAGE_VIEWED = "message_viewed"
    NUDGED = "nudged"
    ONCALL_CHANGED = "oncall_changed"
    PAGE_TEXTED = "page_texted"  # a page reached (or could not reach) a provider's phone by SMS
    PAGE_CALLED = "page_called"  # ... by voice call
    STAFF_SMS = "staff_sms"  # a staff member's text command about this ticket ("42", "ack 42"), and its answer
    OPTED_OUT = "opted_out"  # the patient texted STOP (or BAJA, ...)
    OPTED_IN = "opted_in"  # ... START (or ALTA, ...)
    REPLY_DROPPED = "reply_dropped"  # a bot text not sent because the patient opted out
    PATIENT_LINKED = "patient_linked"  # a staff member linked the sender's address to a directory patient


BOT = "bot"
