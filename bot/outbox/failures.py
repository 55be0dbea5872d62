"""What went wrong with a delivery, in words that are safe anywhere: the failure class, never the vendor's text.

A vendor's error text can quote the patient's phone number or address ("The 'To' number +1212... is not a
valid phone number"). It stays in the outbox row and the audit log; alerts, card notes and thread lines say
only this.
"""

from __future__ import annotations

_SUBJECTS = {"reply.sms": "the SMS provider", "reply.email": "the mail server", "chat.media": "the photo transfer"}
_REFUSED = {"reply.sms": "the number", "reply.email": "the address"}
_WHAT = {"reply.sms": "SMS sending", "reply.email": "email sending", "chat.media": "fetching MMS photos"}
_UNREACHABLE = ("unreachable", "timed out", "server error", "rate limited", "problem", "client error", "waiting")


def failure_class(kind: str, reason: str) -> str:
    """"the SMS provider refused the number", "the mail server was unreachable", "email sending is not set up"."""
    text = reason.lower()
    subject = _SUBJECTS.get(kind, "the chat app" if kind.startswith("chat.") else "the provider")
    if "not installed" in text:
        return "the bot's app is not installed for them"
    if "no transport" in text or "not set" in text or "not configured" in text:
        return f"{_WHAT.get(kind, kind)} is not set up"
    if "login" in text:
        return f"{subject} refused the bot's login"
    if "refused" in text:
        return f"{subject} refused {_REFUSED.get(kind, 'it')}"
    if any(word in text for word in _UNREACHABLE):
        return f"{subject} was unreachable"
    if "internal error" in text:
        return "it failed inside the bot (see the error log)"
    return f"{subject} did not take it"
