"""The Microsoft 365 shared mailbox: the app gets a token and may read the inbox (GET mailFolders/inbox, its item
count), as a poll does. Nothing is read, sent or marked; Mail.Send cannot be checked without sending, so the line
says where it is granted."""

from __future__ import annotations

from bot.settings import GraphMailSettings
from handlers.doctor.report import Check, fail, ok, skip
from handlers.doctor.teams import INSTALL_EXTRA

NAME = "Email (Microsoft 365)"


def check_graph_mail(settings: GraphMailSettings, public_url: str = "") -> Check:
    if not settings.configured:
        return skip(NAME, "not configured (set GRAPH_MAILBOX and GRAPH_TENANT_ID/GRAPH_CLIENT_ID/"
                          "GRAPH_CLIENT_SECRET to read patients' email from the clinic's shared mailbox)")
    if missing := settings.missing():
        return fail(NAME, f"GRAPH_MAILBOX is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                          "not — set them (the app registration's tenant, id and client secret)")
    try:
        from integrations.graph_mail import GraphMailbox, MailboxError
    except ImportError as exc:
        return fail(NAME, f"GRAPH_MAILBOX needs the Microsoft packages, which are not installed ({exc.name}) — "
                          f"{INSTALL_EXTRA}")
    try:
        mailbox = GraphMailbox(settings, timeout=10.0)
    except ValueError as exc:
        return fail(NAME, f"{exc} — fix it")
    try:
        count = mailbox.inbox_count()
    except MailboxError as exc:
        return fail(NAME, f"{mailbox.address}: {exc.reason}")
    finally:
        mailbox.close()
    how = (f"change notifications to {public_url.rstrip('/')}/inbound/graph-mail and a poll every "
           f"{settings.mail_poll_seconds} s" if public_url.strip() else
           f"polled every {settings.mail_poll_seconds} s (set TRIAGE_PUBLIC_URL for change notifications)")
    return ok(NAME, f"{mailbox.address}: the inbox answers ({count} item{'s' if count != 1 else ''}), {how}; "
                    "replies need Mail.Send (application) on the same app")
