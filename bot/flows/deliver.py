"""Delivery: what each outbox kind does through the ports, and what is recorded when it lands or fails."""

from __future__ import annotations

import base64
import dataclasses
import logging
import mimetypes
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cards.build import build_card
from bot.cards.model import Card
from bot.clock import Clock
from bot.config.models import ClinicConfig, StaffMember
from bot.document import document_from_json
from bot.domain import TicketStatus
from bot.flows.chat import chat_line, post_card, refresh_cards, share_media, thread_line
from bot.flows.paging import call_text, page_text
from bot.optouts import is_opted_out
from bot.optouts.notice import opt_out_notice, what_stops
from bot.outbox.errors import permanent, waiting
from bot.outbox.failures import failure_class
from bot.outbox.queue import OutboxKind, OutboxStatus, enqueue
from bot.outbox.worker import Delivery
from bot.ports import ChatPoster, MediaFetcher, PatientMessenger, PhoneCaller, PostRef, SentLookup
from bot.sla.sweep import late_by
from bot.storage.models import ChatPostRow, InboundMessageRow, OutboxRow, TicketRow
from bot.tickets.events import BOT, EventKind
from bot.tickets.store import move, record

CHAT_PACE_SECONDS = 1.0  # Slack allows about one message a second per channel (chat.postMessage)
CARD_WAIT_SECONDS = 2.0  # a thread line looks again this soon for the card it belongs to

log = logging.getLogger(__name__)


def ticket_text(ticket: TicketRow) -> str:
    """Every message the patient sent on this ticket, oldest first."""
    return "\n\n".join(m.body for m in ticket.messages)


def current_cards(session: Session, ticket_id: int) -> list[ChatPostRow]:
    """The ticket's card in its role channel: one per messenger the instance posts to, newest first."""
    return list(session.scalars(
        select(ChatPostRow).where(ChatPostRow.ticket_id == ticket_id, ChatPostRow.kind == "card",
                                  ChatPostRow.current.is_(True)).order_by(ChatPostRow.id.desc())
    ))


def current_card(session: Session, ticket_id: int, platform: str | None = None) -> ChatPostRow | None:
    """The ticket's current card (on `platform`, when given)."""
    return next((post for post in current_cards(session, ticket_id) if platform in (None, post.platform)), None)


def card_now(session: Session, config: ClinicConfig, now: datetime, ticket: TicketRow,
             post: ChatPostRow | None = None, *, note: str = "", addressed_to: str | None = None) -> Card:
    """The ticket's card as it is now, for `post` (a role channel's card, or a page to one provider)."""
    moved_to = None
    if post is not None and post.kind == "card" and not post.current and post.role != ticket.role:
        moved_to = config.channels.for_role_name(ticket.role)
    if post is not None and post.kind == "page":
        addressed_to = _page_recipient(session, config, post)
    card = build_card(ticket, None, config, now, note=note or (post.note if post else ""),
                      moved_to=moved_to, addressed_to=addressed_to)
    opted_out = opt_out_notice(session, ticket, config)
    if opted_out:
        card = dataclasses.replace(card, notes=(*card.notes, f"🚫 {opted_out}."))
    return card


class ChatPosters:
    """The messengers an instance posts to, by platform. With one, every chat row goes to it; with several (Slack
    and Teams), a row goes to the one its payload names (a card, page, line or post: bot/outbox/queue.py fans them
    out), or the one its post is on (an update, a photo, a file), the first for rows queued before."""

    def __init__(self, posters: ChatPoster | Mapping[str, ChatPoster]) -> None:
        self.by_platform = dict(posters) if isinstance(posters, Mapping) else {posters.platform: posters}
        self.first = next(iter(self.by_platform.values()))

    @property
    def several(self) -> bool:
        return len(self.by_platform) > 1

    def on(self, platform: str | None) -> ChatPoster:
        if not self.several or not platform:
            return self.first
        found = self.by_platform.get(platform)
        if found is None:
            raise permanent(f"this instance does not post to {platform} (it posts to {', '.join(self.by_platform)})")
        return found

    def for_row(self, row: OutboxRow) -> ChatPoster:
        return self.on(str(row.payload.get("platform") or "") or None)

    def page_skip(self, config: ClinicConfig, row: OutboxRow, platform: str) -> str:
        """Why a page row on `platform` is not sent: the provider is reached on the other messenger, else ''."""
        member = config.staff_member(row.target)
        if not self.several or member is None:
            return ""
        reachable = [p for p in self.by_platform if member.user_on(p)]
        if platform in reachable or (not reachable and self.for_row(row) is self.first):
            return ""
        return f"no {platform} user id for this provider in the config" + (
            f" (paged in {', '.join(reachable)})" if reachable else "")


def deliveries(
    config: ClinicConfig, clock: Clock, messengers: Mapping[str, PatientMessenger],
    poster: ChatPoster | Mapping[str, ChatPoster], caller: PhoneCaller | None = None, *,
    media: MediaFetcher | None = None,
) -> dict[str, Delivery]:
    """`poster`: the messenger, or several by platform (see `ChatPosters`)."""
    posters = ChatPosters(poster)

    def card_for(session: Session, ticket: TicketRow, post: ChatPostRow | None = None, note: str = "",
                 addressed_to: str | None = None) -> Card:
        return card_now(session, config, clock.now(), ticket, post, note=note, addressed_to=addressed_to)

    def send_card(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket = _ticket(session, row)
        ref = posters.for_row(row).post_card(row.target, card_for(session, ticket,
                                                                  note=str(row.payload.get("note", ""))),
                                             tag=str(row.id))
        return ref.as_result()

    def send_page(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket, poster = _ticket(session, row), posters.for_row(row)
        if skipped := posters.page_skip(config, row, poster.platform):
            return {"skipped": skipped}
        to = _direct(config, row.target, poster.platform)
        # Addressed to the DM's reader: its push text never names another provider (the primary, for a backup).
        ref = poster.post_card(to, card_for(session, ticket, addressed_to=row.target), tag=str(row.id))
        return ref.as_result()

    sms = messengers.get(OutboxKind.REPLY_SMS)

    def send_page_sms(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket, member = _ticket(session, row), config.staff_member(row.target)
        if skipped := _page_skip(ticket, member):
            return {"skipped": skipped}
        assert member is not None
        if is_opted_out(session, "sms", member.phone):
            return {"skipped": "the provider texted STOP to the clinic number"}  # Twilio would refuse it
        if sms is None:
            raise permanent("SMS is not configured (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_FROM_NUMBER)")
        sid = sms.send(member.phone, page_text(ticket, config), idempotency_key=f"outbox-{row.id}")
        return {"provider_id": sid}

    def send_page_call(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket, member = _ticket(session, row), config.staff_member(row.target)
        if skipped := _page_skip(ticket, member):
            return {"skipped": skipped}
        if caller is None:
            raise permanent("voice calls are not configured (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_FROM_NUMBER)")
        assert member is not None
        sid = caller.call(member.phone, call_text(ticket, config), idempotency_key=f"outbox-{row.id}")
        return {"provider_id": sid}

    def send_staff_sms(session: Session, row: OutboxRow) -> dict[str, Any]:
        if is_opted_out(session, "sms", row.target):
            return {"skipped": "the staff member texted STOP to the clinic number"}
        if sms is None:
            raise permanent("SMS is not configured (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_FROM_NUMBER)")
        return {"provider_id": sms.send(row.target, str(row.payload["text"]), idempotency_key=f"outbox-{row.id}")}

    def send_update(session: Session, row: OutboxRow) -> dict[str, Any]:
        ticket = _ticket(session, row)
        post = session.get(ChatPostRow, int(row.payload["post_id"]))
        if post is None:
            return {"skipped": "post not found"}
        posters.on(post.platform).update_card(post.ref, card_for(session, ticket, post))
        return post.ref.as_result()

    def thread_of(session: Session, row: OutboxRow) -> ChatPostRow | None:
        pinned = row.payload.get("post_id")
        if pinned:
            return session.get(ChatPostRow, int(pinned))
        return current_card(session, int(row.ticket_id or 0), _platform(row) if posters.several else None)

    def send_thread(session: Session, row: OutboxRow) -> dict[str, Any]:
        post = thread_of(session, row)
        if post is None:
            card = _card_pending(session, int(row.ticket_id or 0), _platform(row) if posters.several else None)
            if card is not None:
                # Waits for its card however long the card is retried (not a failed try: never given up),
                # looking again just after the card's next try.
                wait = max((card.next_attempt_at - clock.now()).total_seconds(), 0.0) + CARD_WAIT_SECONDS
                raise waiting("waiting: the card is not posted yet", retry_after=wait)
            return {"skipped": "the ticket has no card"}
        ref = posters.on(post.platform).post_text(post.conversation, chat_line(row.payload), thread=post.ref,
                                                  tag=str(row.id))
        return ref.as_result()

    def send_alert(session: Session, row: OutboxRow) -> dict[str, Any]:
        document, poster = row.payload.get("document"), posters.for_row(row)
        if isinstance(document, list):
            ref = poster.post_document(row.target, document_from_json(document), tag=str(row.id))
        else:
            ref = poster.post_text(row.target, chat_line(row.payload), tag=str(row.id))
        return ref.as_result()

    def find_post(session: Session, row: OutboxRow) -> dict[str, Any] | None:
        to, poster = row.target, posters.for_row(row)
        if row.kind == OutboxKind.CHAT_PAGE:
            to = _direct(config, row.target, poster.platform)
        ref = poster.find_tagged(to, str(row.id))
        return ref.as_result() if ref else None

    def find_thread_line(session: Session, row: OutboxRow) -> dict[str, Any] | None:
        post = thread_of(session, row)
        if post is None:
            return None
        ref = posters.on(post.platform).find_tagged(post.conversation, str(row.id), thread=post.ref)
        return ref.as_result() if ref else None

    def send_file(session: Session, row: OutboxRow) -> dict[str, Any]:
        post = session.get(OutboxRow, int(row.payload["after"]))
        if post is None or post.status == OutboxStatus.FAILED.value:
            raise permanent("the post this file belongs to was never delivered")
        if post.status != OutboxStatus.SENT.value:
            raise waiting("waiting for the post this file belongs to", retry_after=2)
        landed = PostRef.from_result(post.result)
        where = landed.conversation
        posters.on(landed.platform).post_file(where, str(row.payload["filename"]),
                         base64.b64decode(str(row.payload["data_b64"])), str(row.payload.get("title", "")))
        return {"conversation": where}

    def send_media(session: Session, row: OutboxRow) -> dict[str, Any]:
        if config.privacy.card_detail == "none":
            return {"skipped": "the privacy setting shows no patient detail"}
        post = session.get(ChatPostRow, int(row.payload["post_id"]))
        message = session.get(InboundMessageRow, int(row.payload["message_id"]))
        index = int(row.payload["index"])
        if post is None or message is None or index >= len(message.media or []):
            return {"skipped": "the card or the media is gone"}
        if media is None:
            raise permanent("no way to fetch MMS media (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not set)")
        item = message.media[index]
        fetched = media.fetch(str(item.get("url", "")))
        content_type = fetched.content_type or str(item.get("content_type", ""))
        extension = mimetypes.guess_extension(content_type) or ".bin"
        number = sum(len(m.media or []) for m in _ticket(session, row).messages if m.id < message.id) + index + 1
        # Neither the file name nor the title names the patient: ticket number and photo number only.
        posters.on(post.platform).post_file(post.conversation, f"ticket-{row.ticket_id}-photo-{number}{extension}",
                                            fetched.data, f"Photo {number} from the patient (ticket #{row.ticket_id})",
                                            thread=post.ref)
        return {"conversation": post.conversation, "thread_root": post.message_id, "bytes": len(fetched.data)}

    table: dict[str, Delivery] = {
        kind: Delivery(send=_reply_sender(messenger), on_sent=_reply_sent(config),
                       reconcile=_reply_finder(messenger) if isinstance(messenger, SentLookup) else None)
        for kind, messenger in messengers.items()
    }
    # Pages and everything in the messenger are retried until delivered; replies to patients a bounded number of
    # times (then the failure is alerted and a human takes the ticket).
    table[OutboxKind.PAGE_SMS] = Delivery(send=send_page_sms, on_sent=_page_reached(EventKind.PAGE_TEXTED),
                                          until_delivered=True)
    table[OutboxKind.PAGE_CALL] = Delivery(send=send_page_call, on_sent=_page_reached(EventKind.PAGE_CALLED),
                                           until_delivered=True)
    table[OutboxKind.STAFF_SMS] = Delivery(send=send_staff_sms)
    def chat(send: Callable[[Session, OutboxRow], dict[str, Any]], **more: Any) -> Delivery:
        return Delivery(send=send, pace_seconds=CHAT_PACE_SECONDS, until_delivered=True, **more)

    table[OutboxKind.CHAT_CARD] = chat(send_card, on_sent=_posted("card"), reconcile=find_post, first=True)
    table[OutboxKind.CHAT_PAGE] = chat(send_page, on_sent=_posted("page"), reconcile=find_post, first=True)
    table[OutboxKind.CHAT_UPDATE] = chat(send_update, on_sent=_updated)  # an update is idempotent
    table[OutboxKind.CHAT_MEDIA] = chat(send_media)
    table[OutboxKind.CHAT_THREAD] = chat(send_thread, reconcile=find_thread_line)
    table[OutboxKind.CHAT_ALERT] = chat(send_alert, reconcile=find_post)
    table[OutboxKind.CHAT_POST] = chat(send_alert, reconcile=find_post)
    table[OutboxKind.CHAT_FILE] = chat(send_file)
    return table


def _card_pending(session: Session, ticket_id: int, platform: str | None = None) -> OutboxRow | None:
    """The ticket's card still to be posted (on `platform`, when given), the soonest retried first."""
    rows = session.scalars(select(OutboxRow).where(
        OutboxRow.ticket_id == ticket_id, OutboxRow.kind == OutboxKind.CHAT_CARD.value,
        OutboxRow.status == OutboxStatus.PENDING.value).order_by(OutboxRow.next_attempt_at))
    return next((row for row in rows if platform in (None, _platform(row))), None)


def _platform(row: OutboxRow) -> str | None:
    """The messenger a fanned-out chat row is for (bot/outbox/queue.py), or None (the instance's one)."""
    return str(row.payload.get("platform") or "") or None


def _ticket(session: Session, row: OutboxRow) -> TicketRow:
    ticket = session.get(TicketRow, row.ticket_id) if row.ticket_id else None
    if ticket is None:
        raise LookupError(f"outbox row {row.id} has no ticket")
    return ticket


def _direct(config: ClinicConfig, staff_id: str, platform: str) -> str:
    """Where a page to a staff member goes directly: their user id on the messenger (else the id as given)."""
    member = config.staff_member(staff_id)
    return (member.user_on(platform) if member else "") or staff_id


def _page_recipient(session: Session, config: ClinicConfig, post: ChatPostRow) -> str | None:
    """Who a page DM was sent to (their staff id), from the outbox row that posted it."""
    rows = session.scalars(select(OutboxRow).where(OutboxRow.ticket_id == post.ticket_id,
                                                   OutboxRow.kind == OutboxKind.CHAT_PAGE.value)).all()
    for row in rows:
        if row.result and PostRef.from_result(row.result).message_id == post.message_id:
            return row.target
    return None


def _page_skip(ticket: TicketRow, member: StaffMember | None) -> str:
    """Why a page by phone is not sent (nothing to ring, or nobody needs ringing any more), else ''."""
    if member is None or not member.phone:
        return "no phone number for this provider in the config"
    if ticket.acknowledged_by:
        return "the page was acknowledged before this went out"
    if not TicketStatus(ticket.status).is_open:
        return "the ticket was closed before this went out"
    return ""


def _page_reached(kind: EventKind) -> Callable[[Session, OutboxRow, datetime], None]:
    def on_sent(session: Session, row: OutboxRow, now: datetime) -> None:
        ticket = _ticket(session, row)
        skipped = row.result.get("skipped")
        record(session, ticket, kind, BOT, now, provider=row.target, outbox_id=row.id, sent=not skipped,
               **({"skipped": skipped} if skipped else {"provider_id": row.result.get("provider_id")}))
        if skipped:
            log.info("page by phone not sent", extra={"ticket_id": ticket.id, "kind": row.kind, "why": skipped})

    return on_sent


def _reply_sender(messenger: PatientMessenger) -> Callable[[Session, OutboxRow], dict[str, Any]]:
    def send(session: Session, row: OutboxRow) -> dict[str, Any]:
        # The one guard every text to a patient passes: nothing goes to an address that opted out (STOP),
        # except the single confirmation of that opt-out when the clinic turned it on.
        channel = row.kind.split(".", 1)[1]
        if not row.payload.get("opt_out_confirmation") and is_opted_out(session, channel, row.target):
            return {"dropped": "the patient opted out"}
        provider_id = messenger.send(row.target, str(row.payload["text"]), idempotency_key=f"outbox-{row.id}")
        return {"provider_id": provider_id}

    return send


def _reply_finder(lookup: SentLookup) -> Callable[[Session, OutboxRow], dict[str, Any] | None]:
    """After a try whose outcome is unknown: the text is looked for among those sent to the patient since the row
    was queued, leaving out the ones other rows already account for."""
    def find(session: Session, row: OutboxRow) -> dict[str, Any] | None:
        others = session.scalars(select(OutboxRow.result).where(
            OutboxRow.kind == row.kind, OutboxRow.target == row.target, OutboxRow.id != row.id,
            OutboxRow.status == OutboxStatus.SENT.value, OutboxRow.sent_at >= row.created_at))
        known = frozenset(str(r["provider_id"]) for r in others if isinstance(r, dict) and r.get("provider_id"))
        sid = lookup.find_sent(row.target, str(row.payload["text"]), row.created_at, not_these=known)
        return {"provider_id": sid, "reconciled": True} if sid else None

    return find


def _reply_sent(config: ClinicConfig) -> Callable[[Session, OutboxRow, datetime], None]:
    def on_sent(session: Session, row: OutboxRow, now: datetime) -> None:
        if row.result.get("dropped"):
            _reply_dropped(session, config, row, now)
        else:
            _reply_delivered(session, row, now)

    return on_sent


def _reply_dropped(session: Session, config: ClinicConfig, row: OutboxRow, now: datetime) -> None:
    """Not a failure (nothing is alerted): audited, and a ticket the bot thought it had answered goes to a human."""
    log.info("reply to an opted-out address dropped", extra={"outbox_id": row.id, "kind": row.kind})
    if not row.ticket_id:
        return
    ticket = _ticket(session, row)
    by = str(row.payload.get("by", BOT))
    record(session, ticket, EventKind.REPLY_DROPPED, BOT, now, outbox_id=row.id, channel=row.kind, by=by,
           reason="opted_out")
    what = what_stops(row.kind.split(".", 1)[1])
    if ticket.status == TicketStatus.AUTO_RESOLVED.value:
        move(session, ticket, TicketStatus.OPEN, event=EventKind.ROUTED, actor=BOT, at=now,
             data={"reopened": f"the patient opted out of {what}"}, resolved_at=None)
        post_card(session, ticket, config, now)
    elif by != BOT:
        thread_line(session, ticket, f"Reply not sent: the patient opted out of {what}", now)
        refresh_cards(session, ticket, now)


def _reply_delivered(session: Session, row: OutboxRow, now: datetime) -> None:
    if not row.ticket_id:
        return
    ticket = _ticket(session, row)
    by = str(row.payload.get("by", BOT))
    response = bool(row.payload.get("response", True))
    record(session, ticket, EventKind.REPLY_SENT, by, now, outbox_id=row.id, channel=row.kind,
           provider_id=row.result.get("provider_id"), response=response)
    if response and ticket.first_response_at is None:
        ticket.first_response_at = now
    if by != BOT:
        thread_line(session, ticket, f"Reply sent by {row.payload.get('by_name') or by}", now)


def _posted(kind: str) -> Callable[[Session, OutboxRow, datetime], None]:
    def on_sent(session: Session, row: OutboxRow, now: datetime) -> None:
        ticket = _ticket(session, row)
        if skipped := row.result.get("skipped"):  # a page for the other messenger's provider
            log.info("chat page not sent", extra={"ticket_id": ticket.id, "outbox_id": row.id, "why": skipped})
            return
        ref = PostRef.from_result(row.result)
        # With several messengers: the card's copy on another one that staff could already see.
        seen_elsewhere = kind == "card" and any(post.platform != ref.platform and post.role == row.payload.get("role")
                                                for post in current_cards(session, ticket.id))
        session.add(ChatPostRow(ticket_id=ticket.id, kind=kind, role=str(row.payload.get("role", "")),
                                platform=ref.platform, conversation=ref.conversation, message_id=ref.message_id,
                                created_at=now, current=True, note=str(row.payload.get("note", ""))[:300]))
        record(session, ticket, EventKind.POSTED if kind == "card" else EventKind.PAGED, BOT, now,
               **ref.as_result(), **({"provider": row.target} if kind == "page" else {}))
        if kind == "card":
            lag = late_by(row.created_at, now)
            if lag and ticket.due_at and ticket.first_response_at is None and not seen_elsewhere:
                # Posted late (the messenger was down): the SLA runs from when the staff could see the card.
                ticket.due_at = ticket.due_at + lag
            session.flush()
            share_media(session, ticket, now)  # the photos follow the card into its thread

    return on_sent


def _updated(session: Session, row: OutboxRow, now: datetime) -> None:
    """A card shown again after a follow-up: a photo that came with it goes into the thread."""
    share_media(session, _ticket(session, row), now)


def failure_hook(config: ClinicConfig) -> Callable[[Session, OutboxRow, datetime], None]:
    """A delivery given up on is never silent: an audit event, an alert to managers, and a human takes over."""

    def on_failed(session: Session, row: OutboxRow, now: datetime) -> None:
        ticket = session.get(TicketRow, row.ticket_id) if row.ticket_id else None
        if ticket is not None:
            # A page's target is a staff id (never patient detail): the card names who the page missed.
            whom = {"target": row.target} if row.kind == OutboxKind.CHAT_PAGE else {}
            if row.payload.get("platform"):  # one of several messengers
                whom["platform"] = str(row.payload["platform"])
            record(session, ticket, EventKind.DELIVERY_FAILED, BOT, now,
                   outbox_id=row.id, outbox_kind=row.kind, attempts=row.attempts, reason=row.last_error, **whom)
        if row.kind == OutboxKind.CHAT_ALERT:
            # An alert about an alert would loop: it goes to the error log (the failure class, no patient detail)
            # and stays `failed` in the outbox, which /readyz counts.
            log.error("outbox: an alert to the managers' channel could not be delivered (outbox #%s%s): %s",
                      row.id, f", ticket #{row.ticket_id}" if row.ticket_id else "",
                      failure_class(row.kind, row.last_error), extra={"outbox_id": row.id, "kind": row.kind})
            return
        number = f" for ticket #{ticket.id}" if ticket else ""
        # The failure class only: the vendor's text (which may quote the patient's number) stays in the audit
        # event above and the outbox row.
        enqueue(session, OutboxKind.CHAT_ALERT, config.channels.managers, now, ticket_id=row.ticket_id,
                payload={"text": f"⚠️ Delivery failed: {row.kind}{number} after {row.attempts} "
                         f"{'try' if row.attempts == 1 else 'tries'}: {failure_class(row.kind, row.last_error)}."})
        if ticket is not None and row.kind in (OutboxKind.CHAT_MEDIA, OutboxKind.CHAT_PAGE):
            # The card says a photo is missing (nobody assumes there is none), or whom the page did not reach.
            refresh_cards(session, ticket, now)
        if ticket is None or not row.kind.startswith("reply."):
            return
        if ticket.status == TicketStatus.AUTO_RESOLVED.value:
            # The bot's answer never reached the patient: the ticket goes back to a human.
            move(session, ticket, TicketStatus.OPEN, event=EventKind.ROUTED, actor=BOT, at=now,
                 data={"reopened": "auto-reply could not be delivered"}, resolved_at=None)
            post_card(session, ticket, config, now)
        else:
            refresh_cards(session, ticket, now)  # the card shows the failed reply

    return on_failed
