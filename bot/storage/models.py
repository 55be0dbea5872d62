"""Tables. Only portable column types: the same schema runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from bot.posts import PostRef


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and hands them back aware, whatever the dialect does with zones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class InboundMessageRow(Base):
    """A raw patient message exactly as a channel delivered it; stored before the webhook is acknowledged."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id", name="uq_inbound_provider_id"),
        Index("ix_inbound_pending", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(320), index=True)
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    # Every way back the patient gave (a web form may give a phone and an email; `sender` is the reply address).
    sender_phone: Mapped[str] = mapped_column(String(40), default="")
    sender_email: Mapped[str] = mapped_column(String(320), default="")
    recipient: Mapped[str] = mapped_column(String(320), default="")
    body: Mapped[str] = mapped_column(Text)
    media: Mapped[list[Any]] = mapped_column(default=list)
    # How to answer it in its own thread (bot/flows/mail_thread.py): None for channels without threads.
    reply_ref: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Triage claims (bot/flows/triage_queue.py): a lease held while one worker triages it, when a failed one may
    # be tried again, and the class name (never the text) of its last failure.
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error_class: Mapped[str | None] = mapped_column(String(100), default=None)


class PatientRow(Base):
    """The embedded patient directory (a clinic without an EHR connection imports a CSV here)."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    email: Mapped[str | None] = mapped_column(String(320), index=True, default=None)
    tier: Mapped[int | None] = mapped_column(Integer, default=None)
    lifetime_value_cents: Mapped[int] = mapped_column(Integer, default=0)
    balance_cents: Mapped[int] = mapped_column(Integer, default=0)
    last_visit: Mapped[date | None] = mapped_column(Date, default=None)
    next_appointment: Mapped[datetime | None] = mapped_column(default=None)
    provider: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8), default="")


OPEN_STATUSES = text("status IN ('open', 'claimed')")  # TicketStatus.is_open, for the partial index below


def open_key(patient_key: str | None, sender: str) -> str:
    """Who a conversation is with, as `open_tickets_for` finds it: the directory match, else the sender."""
    return f"p:{patient_key}" if patient_key else f"s:{sender}"


class TicketRow(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_open_sender", "status", "sender"),
        # One open conversation per patient, whatever races: two triages of one patient's first messages
        # cannot both open one (the second fails, retries and joins). Linked tickets carry no key.
        Index("uq_tickets_one_open_per_patient", "open_key", unique=True,
              sqlite_where=OPEN_STATUSES, postgresql_where=OPEN_STATUSES),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(24), index=True)
    category: Mapped[str] = mapped_column(String(24))
    urgency: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float]
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    language: Mapped[str] = mapped_column(String(8), default="en")
    channel: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(320))
    patient_key: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    patient: Mapped[dict[str, Any]] = mapped_column(default=dict)
    role: Mapped[str | None] = mapped_column(String(24), default=None)
    assignee: Mapped[str | None] = mapped_column(String(64), default=None)
    paged: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # The nudge plan frozen at routing: [{"key": "nudge:1", "at": iso, "notify": "lead"}, ...]
    escalation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A follow-up with a different, less severe request opens its own ticket, linked to the one it followed.
    related_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), default=None)
    # Other requests the patient made in the same messages ("also asks: booking"), most severe first.
    also_asks: Mapped[list[Any]] = mapped_column(default=list)
    # A booking message as the bot read it: {"intent", "preferences", "offered": [iso, ...] (slots held for the
    # patient's reply), "wants": "cancel the appointment on Fri Nov 28" (what a person is asked to do), ...}
    booking: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # `open_key(patient_key, sender)` on the ticket a patient's conversation opened with (no related ticket),
    # while it is open; cleared when it closes (`move`) and not given back on reopening, so a reopened ticket
    # never collides with the conversation opened since.
    open_key: Mapped[str | None] = mapped_column(String(330), default=None)

    events: Mapped[list[TicketEventRow]] = relationship(
        back_populates="ticket", order_by="TicketEventRow.id", lazy="select"
    )
    messages: Mapped[list[InboundMessageRow]] = relationship(order_by="InboundMessageRow.id", lazy="select")
    related: Mapped[TicketRow | None] = relationship(remote_side=[id], back_populates="linked", lazy="select")
    linked: Mapped[list[TicketRow]] = relationship(back_populates="related", order_by="TicketRow.id", lazy="select")


class TicketEventRow(Base):
    """Append-only audit log: every step on a ticket, with its actor and time."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    ticket: Mapped[TicketRow] = relationship(back_populates="events")


class OutboxRow(Base):
    """An outbound action (a reply to a patient, a card to post) waiting to be delivered or given up on."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True, default=None)
    target: Mapped[str] = mapped_column(String(320))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True, default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # failed tries (a 429 is not one)
    leased_until: Mapped[datetime | None] = mapped_column(default=None)  # set while a try's outcome is unknown


class OutboxPaceRow(Base):
    """When the next send to one destination (a chat channel) may go, shared by every instance."""

    __tablename__ = "outbox_pace"

    target: Mapped[str] = mapped_column(String(320), primary_key=True)
    next_at: Mapped[datetime]


class ChatPostRow(Base):
    """Where a ticket's card (or page) was posted, so it can be changed in place and threaded on."""

    __tablename__ = "chat_posts"
    __table_args__ = (UniqueConstraint("platform", "conversation", "message_id", name="uq_chat_post"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "card" in a role channel, "page" in a provider's DM
    role: Mapped[str] = mapped_column(String(24), default="")
    # Where it is, as the messenger identifies it (bot.ports.PostRef): opaque to the core.
    platform: Mapped[str] = mapped_column(String(16), default="slack", server_default="slack")
    conversation: Mapped[str] = mapped_column(String(512))  # Slack channel id; Teams conversation id
    message_id: Mapped[str] = mapped_column(String(512))  # Slack ts; Teams activity id
    created_at: Mapped[datetime]
    current: Mapped[bool] = mapped_column(default=True)  # False once the ticket moved to another channel

    @property
    def ref(self) -> PostRef:
        return PostRef(self.platform, self.conversation, self.message_id)
    note: Mapped[str] = mapped_column(String(300), default="")  # shown on every render ("Escalated from ...")


class CorrectionRow(Base):
    """A human's reclassification, kept as a labelled example for improving the classifier."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    predicted: Mapped[str] = mapped_column(String(24))
    corrected: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class SeenDeliveryRow(Base):
    """Ids of deliveries already handled (chat event retries), so a retry does its work once."""

    __tablename__ = "seen_deliveries"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    at: Mapped[datetime]


class OnCallOverrideRow(Base):
    """"/triage oncall set @dr-lee until tomorrow 8am": who covers instead of the rota, until when."""

    __tablename__ = "oncall_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))  # staff id
    starts_at: Mapped[datetime]
    until: Mapped[datetime]
    set_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class OptOutRow(Base):
    """One opt-out of one address on one channel (STOP), closed when the patient opts back in (START).

    Rows are never deleted: the table is the history of who asked not to be texted, and when.
    """

    __tablename__ = "opt_outs"
    __table_args__ = (Index("ix_opt_outs_address", "channel", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))
    opted_out_at: Mapped[datetime]
    opted_back_in_at: Mapped[datetime | None] = mapped_column(default=None)
    keyword: Mapped[str] = mapped_column(String(32), default="")  # what the patient sent: STOP, BAJA, ...
    back_in_keyword: Mapped[str] = mapped_column(String(32), default="")
    message_id: Mapped[int | None] = mapped_column(Integer, default=None)  # the stored inbound message
    back_in_message_id: Mapped[int | None] = mapped_column(Integer, default=None)


class ChatPlaceRow(Base):
    """A conversation the bot may post in, learnt from an authenticated messenger activity (bot/places.py)."""

    __tablename__ = "chat_places"
    __table_args__ = (UniqueConstraint("platform", "conversation", name="uq_chat_place"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    conversation: Mapped[str] = mapped_column(String(512))
    service_url: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))  # channel, personal, groupChat
    tenant: Mapped[str | None] = mapped_column(String(64), default=None)
    team: Mapped[str | None] = mapped_column(String(512), default=None)
    team_name: Mapped[str | None] = mapped_column(String(256), default=None)
    channel_name: Mapped[str | None] = mapped_column(String(256), default=None)
    user: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    seen_at: Mapped[datetime]


class ChannelCursorRow(Base):
    """Where a polled channel left off (bot/storage/cursors.py): an IMAP folder's UIDVALIDITY and last UID, a Graph
    delta link. Written in the same transaction as the messages it read past."""

    __tablename__ = "channel_cursors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime]


class PatientLinkRow(Base):
    """A sender address (a DM id, a new email address) a staff member linked to a directory patient."""

    __tablename__ = "patient_links"
    __table_args__ = (UniqueConstraint("address", name="uq_patient_link_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    patient_key: Mapped[str] = mapped_column(String(64))
    linked_by: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime]


class ClassifierModelRow(Base):
    """A retrained classifier and the decision about it (bot/classify/installed.py): `installed` (the model in use
    is the latest installed one), `refused` (kept out, with why), `retired` (replaced or reverted). The model
    itself is the artifact's JSON (`meta`, with its vocabularies) and its arrays as .npz bytes: never pickle."""

    __tablename__ = "classifier_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    meta: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    arrays: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
