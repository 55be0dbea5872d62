"""Email replies to patients, on the way their latest email came in.

An email that came through the Microsoft 365 shared mailbox is answered with Graph's reply on that message; one
that came through an IMAP mailbox by SMTP with In-Reply-To and References. A patient who never emailed (a web
form that gave an address) gets a new email: by SMTP when it is set, else from the shared mailbox.
"""

from __future__ import annotations

from typing import Protocol

from bot.flows.mail_thread import VIA_GRAPH, MailHistory, MailThread
from bot.outbox.errors import permanent
from integrations.email_smtp import SmtpEmail


class GraphMail(Protocol):
    """The shared mailbox, as a way out (integrations/graph_mail.py)."""

    def reply(self, thread: MailThread, text: str, *, idempotency_key: str) -> str:
        """Graph's reply on the patient's message (`thread.graph_id`): the patient sees one thread."""
        ...

    def send_new(self, to: str, text: str, *, idempotency_key: str) -> str: ...


class MailReplies:
    """The `reply.email` messenger: picks Graph or SMTP by the patient's latest email."""

    def __init__(self, history: MailHistory, *, smtp: SmtpEmail | None = None, graph: GraphMail | None = None) -> None:
        if smtp is None and graph is None:
            raise ValueError("MailReplies needs SMTP or the Graph mailbox")
        self._history = history
        self._smtp = smtp
        self._graph = graph

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        thread = self._history.latest(to)
        if thread is not None and thread.via == VIA_GRAPH and thread.graph_id and self._graph is not None:
            return self._graph.reply(thread, text, idempotency_key=idempotency_key)
        if self._smtp is not None:
            return self._smtp.send(to, text, idempotency_key=idempotency_key, thread=thread)
        if self._graph is not None and thread is None:
            return self._graph.send_new(to, text, idempotency_key=idempotency_key)
        raise permanent("no way to answer this email: SMTP_HOST/SMTP_SENDER are not set")
