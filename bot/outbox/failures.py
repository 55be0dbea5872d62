"""What went wrong with a delivery, in words that are safe anywhere: the failure class, never the vendor's text.

A vendor's error text can quote the patient's phone number or address ("The 'To' number +1212... is not a
valid phone number"). It stays in the outbox row and the audit log; alerts, card notes and thread lines say
only this.
"""

from __future__ import annotations

import re

_SUBJECTS = {"reply.sms": "the SMS provider", "reply.email": "the mail server", "chat.media": "the photo transfer",
             "reply.dm": "Meta (Instagram/Messenger)"}
_REFUSED = {"reply.sms": "the number", "reply.email": "the address", "reply.dm": "the message"}
_WHAT = {"reply.sms": "SMS sending", "reply.email": "email sending", "chat.media": "fetching MMS photos",
         "reply.dm": "Instagram/Facebook DM sending"}
# integrations/meta.py's reasons when Meta's messaging window is closed; only the number of hours or days is kept.
_DM_WINDOW = re.compile(r"reply window has closed(?: \(the patient last wrote ([0-9]{1,6}) (hours|days) ago\))?")
_UNREACHABLE = ("unreachable", "timed out", "server error", "rate limited", "problem", "client error", "waiting")


def failure_class(kind: str, reason: str) -> str:
    """"the SMS provider refused the number", "the mail server was unreachable", "email sending is not set up"."""
    text = reason.lower()
    subject = _SUBJECTS.get(kind, "the chat app" if kind.startswith("chat.") else "the provider")
    if kind == "reply.dm" and (dm := _dm_failure(text)):
        return dm
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


def _dm_failure(text: str) -> str | None:
    """Meta's window closed (the card's note then says what to do), or its page token refused."""
    if found := _DM_WINDOW.search(text):
        wrote = f" (the patient last wrote {found[1]} {found[2]} ago)" if found[1] else ""
        if "for the bot's replies" in text:  # a person may still answer with Meta's human-agent tag
            return (f"Meta's reply window has closed{wrote} for the bot's replies: a staff reply from the card can "
                    "still go within 7 days of their message")
        return f"Meta's reply window has closed{wrote}: reach the patient another way"
    if "meta_page_token" in text:
        return "Meta refused the page token (check META_PAGE_TOKEN)"
    return None
