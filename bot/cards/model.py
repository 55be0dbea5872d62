"""The card model. Renderers (Block Kit, Adaptive Cards, plain text) only lay this out; they decide nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.mentions import Line, Mention


class ActionId(StrEnum):
    """Button ids, fixed strings defined once. Never derive them from class names: posted cards keep them."""

    CLAIM = "triage_claim"
    UNCLAIM = "triage_unclaim"
    REPLY = "triage_reply"
    ESCALATE = "triage_escalate"
    ACKNOWLEDGE = "triage_acknowledge"
    RESOLVE = "triage_resolve"
    RECLASSIFY = "triage_reclassify"
    SHOW_MESSAGE = "triage_show_message"
    LINK_PATIENT = "triage_link_patient"
    MORE = "triage_more"  # the overflow menu holding the `overflow` actions


@dataclass(frozen=True)
class CardField:
    label: str
    value: str


class SectionKind(StrEnum):
    MESSAGE = "message"  # the patient's words, quoted (text None: hidden by the privacy setting)
    FIELDS = "fields"  # labelled facts
    LINE = "line"  # one plain line, e.g. where the patient's photos are


@dataclass(frozen=True)
class CardSection:
    kind: SectionKind
    fields: tuple[CardField, ...] = ()
    text: str | None = None


@dataclass(frozen=True)
class CardAction:
    action_id: ActionId
    label: str
    value: str  # opaque ticket reference only, never patient data
    style: str = ""  # "primary" | "danger" | ""
    overflow: bool = False  # shown in the "more" menu instead of as a button


@dataclass(frozen=True)
class Card:
    ticket_id: int
    notification: str  # the push / lock-screen text: never any patient detail
    title: str  # category badge, urgency, ticket number: no patient detail either
    category: str
    urgency: str
    patient: tuple[CardField, ...]  # already cut down to what the clinic's privacy setting allows
    message: str | None  # None when the privacy setting hides it behind the SHOW_MESSAGE button
    reasons: tuple[str, ...]
    context: tuple[CardField, ...]  # came in on, routed to, SLA, named human, paged
    status: Line  # ("Unclaimed",), ("Claimed by ", Mention(...), " · 10:42"): each renderer writes the mention
    actions: tuple[CardAction, ...] = ()
    mentions: tuple[Mention, ...] = field(default_factory=tuple)  # who the card pings (the paged provider)
    notes: tuple[str, ...] = field(default_factory=tuple)  # "Escalated to #clinical", "⚠️ Reply not delivered"
    # The body in the order the reader needs it, decided by the builder per category (renderers keep the order).
    # Left empty, it is the patient fields, then the message.
    sections: tuple[CardSection, ...] = ()

    def __post_init__(self) -> None:
        if not self.sections:
            default = (CardSection(SectionKind.FIELDS, fields=self.patient),
                       CardSection(SectionKind.MESSAGE, text=self.message))
            object.__setattr__(self, "sections", tuple(s for s in default if s.kind != SectionKind.FIELDS or s.fields))
