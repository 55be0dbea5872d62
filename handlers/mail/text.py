"""An email's own words: the HTML or plain body turned to text, with the quoted history and signature removed.

html2text reads the HTML (a patient's mail app sends HTML first); mail-parser-reply finds where the patient's
new text ends and the quoted earlier messages ("On Tue ... wrote:", "> ...", Outlook's "From: ... Sent: ...")
and the signature begin.
"""

from __future__ import annotations

import re

import html2text
from mailparser_reply import EmailReplyParser

LANGUAGES = ["en", "es", "fr", "de"]  # the quote headers it knows; a medical spa's patients write mostly en/es
_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_DELIMITER = re.compile(r"(?:\n\s*\\?-- ?\s*)+$")  # a signature's "-- " line left after its signature went
_ESCAPED_DASH = re.compile(r"^\\-", re.MULTILINE)  # html2text writes a line's leading "-" as "\-" (Markdown)
MAX_TEXT = 10_000  # what intake keeps of one email's own text (a pasted document is cut, and says so)


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: the card wraps
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.unicode_snob = True
    # Unescaped, an HTML signature's "-- " line is the delimiter mail-parser-reply knows.
    return _ESCAPED_DASH.sub("-", converter.handle(html))


def own_words(plain: str | None, html: str | None) -> str:
    """The patient's new text in this email: plain when the email has it, else from its HTML."""
    text = plain if plain and plain.strip() else html_to_text(html) if html else ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return ""
    replies = EmailReplyParser(languages=LANGUAGES).read(text).replies
    body = replies[0].body.strip() if replies else ""
    body = _TRAILING_DELIMITER.sub("", _BLANK_RUNS.sub("\n\n", body)).strip()
    if not body:  # nothing above the quote (a bare forward): keep what there is rather than nothing
        body = text.strip()
    if len(body) > MAX_TEXT:
        body = body[:MAX_TEXT].rstrip() + " […]"
    return body
