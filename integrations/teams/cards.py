"""Adaptive Card 1.5 rendering of a Card for Microsoft Teams, and the forms that answer its buttons.

Layout only: every decision (what to show, which buttons) was made in bot/. Built with the small typed layer
below (frozen dataclasses with ``to_dict()``), not with raw dicts. The PyPI package ``adaptive-cards-py`` was
looked at and not used: its ``msteams`` model has no ``entities``, so it cannot carry mentions.

**Escaping.** A TextBlock renders a Markdown subset, so every text this module did not write itself (the
patient's message and fields, reasons quoting the patient's words, staff names, notes) goes through
`escape_markdown`. Teams also turns ``<at>…</at>`` into a mention when an entity matches it: ``<`` and ``>`` are
escaped too, so a patient can neither format the card nor ping anyone.

**Mentions.** A person with a Teams id is ``<at>Name</at>`` in the text plus an entry in ``msteams.entities``;
a person without one is the plain text "@Name". A group with a Teams tag id is a tag mention; any other group
and "here" are bold "@role" text (see `mention_markup`).

**Buttons.** Each CardAction is an ``Action.Execute`` with ``verb`` = the action id (``triage_claim``,
``triage_reply``, …) and ``data`` = ``{"ticket": <ref>}``; ``overflow`` actions get ``mode: secondary`` (Teams
shows them in its "…" menu). Teams sends an ``adaptiveCard/action`` invoke; the answer is one of the cards below,
which Teams shows to the clicking user only (ReplaceForInteractor):

================================  ===========================================================================
clicked verb                      answer
================================  ===========================================================================
``triage_reply``                  `reply_form`: submits verb ``triage_reply_send`` with
                                  ``reply_template`` (saved reply name; only present when the clinic has
                                  saved replies, may be empty) and ``reply_text`` (may be empty when a
                                  template is picked)
``triage_escalate``               `escalate_form`: verb ``triage_escalate_send`` with ``escalate_target``
                                  (an `EscalationTarget` value) and ``escalate_reason``
``triage_reclassify``             `reclassify_form`: verb ``triage_reclassify_send`` with
                                  ``reclassify_category`` (a `Category` value)
``triage_link_patient``           `link_form`: verb ``triage_link_search`` with ``link_query`` (what was
                                  typed) answers with the form listing the matches; verb ``triage_link_send``
                                  with ``link_patient`` (a directory key) links the ticket's sender
``triage_show_message``           `message_view`: the card with the message shown; its "Hide message" button
                                  sends ``triage_refresh``
a refusal / an outcome            `with_notice` on the current card
``triage_refresh``                Cancel on every form, Hide message: answer with the current card
================================  ===========================================================================

Every action of every form carries ``data: {"ticket": <ref>}``; Teams merges the inputs into that ``data``, so
an invoke's ``value.action.data`` reads ``{"ticket": "12", "reply_template": "call-me", "reply_text": "…"}``.
The ids and verbs are `FormInput` and `FormVerb`. Cancel and Hide send no inputs (``associatedInputs: none``),
so a required input left empty never blocks them.

**Size.** Teams refuses a message over about 28 KB: the message is clipped with an ellipsis (as in Slack) and,
if the card is still too big, clipped further until the card is under `CARD_MAX_BYTES`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from bot.cards.model import ActionId, Card, CardAction, CardField, CardSection, SectionKind
from bot.domain import Category
from bot.flows.actions.escalate import TARGET_LABELS
from bot.mentions import Line, Mention, MentionKind

JSON = dict[str, Any]
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
PLATFORM = "teams"  # the key of a person's id in Mention.users

CARD_MAX_BYTES = 26 * 1024  # Teams' limit is ~28 KB for the whole activity: room left for its envelope
MESSAGE_MAX = 6000  # characters of the quoted message before any further clipping for size
TITLE_MAX = 150
TEXT_MAX = 2000  # one line, fact, reason list or note
REPLY_MAX = 1500  # as the Slack reply modal
REASON_MAX = 500
ELLIPSIS = "…"
HIDDEN_MESSAGE = "Message hidden by the clinic's privacy setting. Use **Show message** to read it."
SHOWN_TO_YOU = "🔒 Shown to you only; the card hides it again when it is refreshed."
NOTICE_ID = "triage_notice"
ACTION_STYLES: Mapping[str, Literal["positive", "destructive"]] = {"primary": "positive", "danger": "destructive"}


class FormVerb(StrEnum):
    """Verbs of the forms' buttons. Fixed strings: posted cards keep them."""

    REPLY_SEND = "triage_reply_send"
    ESCALATE_SEND = "triage_escalate_send"
    RECLASSIFY_SEND = "triage_reclassify_send"
    LINK_SEARCH = "triage_link_search"
    LINK_SEND = "triage_link_send"
    REFRESH = "triage_refresh"  # Cancel, Hide message: answer with the card as it is now


class FormInput(StrEnum):
    """Input ids of the forms: the keys Teams adds to the submitted action's ``data``."""

    REPLY_TEMPLATE = "reply_template"
    REPLY_TEXT = "reply_text"
    ESCALATE_TARGET = "escalate_target"
    ESCALATE_REASON = "escalate_reason"
    RECLASSIFY_CATEGORY = "reclassify_category"
    LINK_QUERY = "link_query"
    LINK_PATIENT = "link_patient"


# --- escaping ------------------------------------------------------------------------------------------------

_INLINE = re.compile(r"([\\`*_~\[\]<>])")  # emphasis, code, links, and the <at> mention tag
_LINE_MARK = re.compile(r"^([ \t]*)([-+#=])", re.MULTILINE)  # list items, headings, setext underlines
_LINE_NUMBER = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)  # "1. " starts a numbered list
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")  # "&amp;" would show as "&"


def escape_markdown(text: str) -> str:
    """Text shown exactly as written in a TextBlock or Fact: Markdown's and Teams' syntax backslash-escaped."""
    text = _INLINE.sub(r"\\\1", text)
    text = _LINE_MARK.sub(r"\1\\\2", text)
    text = _LINE_NUMBER.sub(r"\1\\\2", text)
    return _ENTITY.sub(r"\\&", text)


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, the cut marked with an ellipsis. Clip before escaping, never after."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def _text(text: str, limit: int = TEXT_MAX) -> str:
    return escape_markdown(_clip(text, limit))


def _one_line(text: str, limit: int = TEXT_MAX) -> str:
    return _text(" ".join(text.splitlines()), limit)


# --- the typed Adaptive Card layer -----------------------------------------------------------------------------

Spacing = Literal["none", "small", "default", "medium", "large"]


def _compact(data: JSON) -> JSON:
    return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True)
class TextBlock:
    text: str
    wrap: bool = True
    weight: Literal["bolder"] | None = None
    size: Literal["small", "medium", "large"] | None = None
    style: Literal["heading"] | None = None
    is_subtle: bool | None = None
    color: Literal["attention", "warning", "good", "accent"] | None = None
    spacing: Spacing | None = None

    def to_dict(self) -> JSON:
        return _compact({"type": "TextBlock", "text": self.text, "wrap": self.wrap, "weight": self.weight,
                         "size": self.size, "style": self.style, "isSubtle": self.is_subtle, "color": self.color,
                         "spacing": self.spacing})


@dataclass(frozen=True)
class Fact:
    title: str
    value: str

    def to_dict(self) -> JSON:
        return {"title": self.title, "value": self.value}


@dataclass(frozen=True)
class FactSet:
    facts: tuple[Fact, ...]
    spacing: Spacing | None = None

    def to_dict(self) -> JSON:
        return _compact({"type": "FactSet", "facts": [f.to_dict() for f in self.facts], "spacing": self.spacing})


@dataclass(frozen=True)
class Choice:
    title: str
    value: str

    def to_dict(self) -> JSON:
        return {"title": self.title, "value": self.value}


@dataclass(frozen=True)
class InputChoiceSet:
    id: str
    label: str
    choices: tuple[Choice, ...]
    placeholder: str | None = None
    is_required: bool = False
    error_message: str | None = None
    style: Literal["compact", "expanded"] = "compact"

    def to_dict(self) -> JSON:
        return _compact({"type": "Input.ChoiceSet", "id": self.id, "label": self.label, "style": self.style,
                         "choices": [c.to_dict() for c in self.choices], "placeholder": self.placeholder,
                         "isRequired": self.is_required, "errorMessage": self.error_message})


@dataclass(frozen=True)
class InputText:
    id: str
    label: str
    is_multiline: bool = False
    max_length: int | None = None
    placeholder: str | None = None
    is_required: bool = False
    error_message: str | None = None
    value: str | None = None

    def to_dict(self) -> JSON:
        return _compact({"type": "Input.Text", "id": self.id, "label": self.label, "isMultiline": self.is_multiline,
                         "maxLength": self.max_length, "placeholder": self.placeholder,
                         "isRequired": self.is_required, "errorMessage": self.error_message, "value": self.value})


@dataclass(frozen=True)
class Container:
    items: tuple[Element, ...]
    style: Literal["default", "emphasis", "good", "attention", "warning", "accent"] | None = None
    id: str | None = None
    spacing: Spacing | None = None

    def to_dict(self) -> JSON:
        return _compact({"type": "Container", "id": self.id, "style": self.style, "spacing": self.spacing,
                         "items": [item.to_dict() for item in self.items]})


Element = TextBlock | FactSet | Container | InputChoiceSet | InputText


@dataclass(frozen=True)
class ExecuteAction:
    """``Action.Execute``: Teams sends an ``adaptiveCard/action`` invoke with ``verb`` and ``data``."""

    title: str
    verb: str
    ticket: str  # the opaque ticket reference: the only data a button carries
    style: Literal["positive", "destructive"] | None = None
    mode: Literal["secondary"] | None = None  # secondary: in the "…" menu, not a button
    associated_inputs: Literal["none"] | None = None  # none: submit no inputs (Cancel)

    def to_dict(self) -> JSON:
        return _compact({"type": "Action.Execute", "title": self.title, "verb": self.verb,
                         "data": {"ticket": self.ticket}, "style": self.style, "mode": self.mode,
                         "associatedInputs": self.associated_inputs})


@dataclass(frozen=True)
class MentionEntity:
    """One ``msteams.entities`` (or activity ``entities``) entry; ``text`` appears verbatim in the card's text."""

    text: str  # "<at>Name</at>"
    id: str  # the person's Teams user id, or a tag id
    name: str
    tag: bool = False

    def to_dict(self) -> JSON:
        mentioned = {"id": self.id, "name": self.name, **({"type": "tag"} if self.tag else {})}
        return {"type": "mention", "text": self.text, "mentioned": mentioned}


@dataclass(frozen=True)
class AdaptiveCard:
    body: tuple[Element, ...]
    actions: tuple[ExecuteAction, ...] = ()
    entities: tuple[MentionEntity, ...] = ()
    fallback_text: str | None = None

    def to_dict(self) -> JSON:
        msteams: JSON = {"width": "Full"}
        if self.entities:
            msteams["entities"] = [e.to_dict() for e in self.entities]
        data: JSON = {"$schema": SCHEMA, "type": "AdaptiveCard", "version": VERSION,
                      "body": [item.to_dict() for item in self.body]}
        if self.actions:
            data["actions"] = [a.to_dict() for a in self.actions]
        if self.fallback_text is not None:
            data["fallbackText"] = self.fallback_text
        data["msteams"] = msteams
        return data


def payload_size(card: Mapping[str, Any]) -> int:
    """Bytes of the card as JSON, counted the widest way it may be sent (non-ASCII as \\u escapes)."""
    return len(json.dumps(card).encode("utf-8"))


# --- mentions ---------------------------------------------------------------------------------------------------

def _at_name(name: str) -> str:
    return name.replace("<", "").replace(">", "").strip() or "someone"


def mention_markup(mention: Mention) -> tuple[str, MentionEntity | None]:
    """A mention as Teams text, and the entity that makes it ring when there is one."""
    teams_id = mention.user_on(PLATFORM)
    if mention.kind is MentionKind.USER:
        name = _at_name(mention.name or mention.staff)
        if teams_id:
            tag = f"<at>{name}</at>"
            return tag, MentionEntity(tag, teams_id, name)
        return escape_markdown(f"@{name}"), None  # no Teams id: the name only, nobody is pinged
    role = _at_name(mention.role or mention.name or "here")
    if mention.kind is MentionKind.GROUP and teams_id:
        tag = f"<at>{role}</at>"
        return tag, MentionEntity(tag, teams_id, role, tag=True)
    # A group with no Teams tag, or "here": a bot cannot @channel or @here in Teams, so the role is named in bold.
    return f"**{escape_markdown('@' + role)}**", None


def unique(entities: Iterable[MentionEntity]) -> tuple[MentionEntity, ...]:
    """Each mentioned text once, in first-seen order."""
    seen: dict[tuple[str, str], MentionEntity] = {}
    for entity in entities:
        seen.setdefault((entity.text, entity.id), entity)
    return tuple(seen.values())


def line_markup(line: Line | str) -> tuple[str, tuple[MentionEntity, ...]]:
    """A core Line as Teams text: its strings escaped, its mentions as `mention_markup` writes them.

    The " (Name)" that follows a mention for messengers showing a bare id is left out: Teams shows the name.
    """
    if isinstance(line, str):
        return escape_markdown(line), ()
    out: list[str] = []
    entities: list[MentionEntity] = []
    for index, part in enumerate(line):
        if isinstance(part, Mention):
            text, entity = mention_markup(part)
            out.append(text)
            if entity is not None:
                entities.append(entity)
            continue
        before = line[index - 1] if index else None
        if isinstance(before, Mention) and before.name and part.startswith(f" ({before.name})"):
            part = part.removeprefix(f" ({before.name})")
        out.append(escape_markdown(part))
    return "".join(out), unique(entities)


# --- the ticket card -------------------------------------------------------------------------------------------

def _fact(field: CardField) -> Fact:
    return Fact(_one_line(field.label), _one_line(field.value))


def _quote(message: str, limit: int) -> str:
    """The patient's words; Markdown needs a blank line for a line break, so each line is its own paragraph."""
    lines = [escape_markdown(line) for line in _clip(message, limit).splitlines() if line.strip()]
    return "\n\n".join(lines) or "(empty)"


def _section(section: CardSection, message_limit: int) -> list[Element]:
    if section.kind is SectionKind.MESSAGE:
        if section.text is None:
            return [TextBlock(HIDDEN_MESSAGE, is_subtle=True)]
        return [Container((TextBlock(_quote(section.text, message_limit)),), style="emphasis")]
    if section.kind is SectionKind.LINE:
        return [TextBlock(_text(section.text or ""))]
    return [FactSet(tuple(_fact(f) for f in section.fields))] if section.fields else []


def _button(action: CardAction, *, message_shown: bool) -> ExecuteAction:
    if message_shown and action.action_id is ActionId.SHOW_MESSAGE:
        return ExecuteAction("Hide message", FormVerb.REFRESH.value, action.value, associated_inputs="none")
    return ExecuteAction(action.label, action.action_id.value, action.value, style=ACTION_STYLES.get(action.style),
                         mode="secondary" if action.overflow else None)


def _ticket_card(card: Card, message_limit: int, *, message_shown: bool = False) -> AdaptiveCard:
    entities: list[MentionEntity] = []
    body: list[Element] = [TextBlock(_one_line(card.title, TITLE_MAX), style="heading", size="medium",
                                     weight="bolder")]
    if message_shown:
        body.append(TextBlock(SHOWN_TO_YOU, is_subtle=True, spacing="none"))
    if card.mentions:
        marked = [mention_markup(m) for m in card.mentions]
        body.append(TextBlock(" ".join(text for text, _ in marked)))
        entities.extend(entity for _, entity in marked if entity is not None)
    status, found = line_markup(card.status)
    body.append(TextBlock(status, is_subtle=True, spacing="small"))
    entities.extend(found)
    for section in card.sections:
        body.extend(_section(section, message_limit))
    if card.reasons:
        body.append(TextBlock("Why: " + _text("; ".join(card.reasons)), is_subtle=True))
    if card.context:
        body.append(FactSet(tuple(_fact(f) for f in card.context)))
    body.extend(TextBlock(_text(note)) for note in card.notes)
    actions = tuple(_button(a, message_shown=message_shown) for a in card.actions)
    return AdaptiveCard(tuple(body), actions, unique(entities), fallback_text=escape_markdown(card.notification))


def _fitted(build: Callable[[int], AdaptiveCard]) -> JSON:
    """The card with the longest message that keeps it under CARD_MAX_BYTES."""
    limit = MESSAGE_MAX
    while True:
        data = build(limit).to_dict()
        size = payload_size(data)
        if size <= CARD_MAX_BYTES or limit == 0:
            return data
        limit = max(0, min(limit - 1, limit * CARD_MAX_BYTES // size - 64))


def render_card(card: Card) -> JSON:
    """The ticket card as an Adaptive Card 1.5, ready to be an attachment's ``content``."""
    return _fitted(lambda limit: _ticket_card(card, limit))


def notification_text(card: Card) -> str:
    """The activity's ``summary``: what a push notification and the chat list show. Never any patient detail."""
    return card.notification


# --- the forms -------------------------------------------------------------------------------------------------

def _ticket_ref(card: Card) -> str:
    return card.actions[0].value if card.actions else str(card.ticket_id)


def _cancel(ref: str) -> ExecuteAction:
    return ExecuteAction("Cancel", FormVerb.REFRESH.value, ref, associated_inputs="none")


def _form(heading: str, card: Card, fields: Iterable[Element], submit: ExecuteAction,
          *more: ExecuteAction) -> JSON:
    body: tuple[Element, ...] = (TextBlock(escape_markdown(heading), style="heading", size="medium",
                                           weight="bolder"),
                                 TextBlock(_one_line(card.title, TITLE_MAX), is_subtle=True, spacing="none"),
                                 *fields)
    return AdaptiveCard(body, (submit, *more, _cancel(submit.ticket)),
                        fallback_text=escape_markdown(card.notification)).to_dict()


def reply_form(card: Card, channel_name: str, language: str, templates: Mapping[str, str]) -> JSON:
    """Reply to the patient: a saved reply in their language (`staff_templates`) and/or a message."""
    fields: list[Element] = [
        TextBlock(f"The reply goes to the patient by **{escape_markdown(channel_name)}** and is logged in the "
                  "card's thread."),
    ]
    if templates:
        fields.append(InputChoiceSet(FormInput.REPLY_TEMPLATE.value, f"Template ({language})",
                                     tuple(Choice(name, name) for name in templates),
                                     placeholder="Pick a saved reply"))
    fields.append(InputText(FormInput.REPLY_TEXT.value, "Message", is_multiline=True, max_length=REPLY_MAX,
                            placeholder="Leave empty to send the template as it is." if templates else None,
                            is_required=not templates,
                            error_message=None if templates else "Write the reply."))
    submit = ExecuteAction("Send", FormVerb.REPLY_SEND.value, _ticket_ref(card), style="positive")
    return _form("Reply to patient", card, fields, submit)


def escalate_form(card: Card) -> JSON:
    """Hand the ticket to another team, or page the on-call provider, and say why."""
    targets = tuple(Choice(label, target.value) for target, label in TARGET_LABELS.items())
    fields: list[Element] = [
        InputChoiceSet(FormInput.ESCALATE_TARGET.value, "Send to", targets, placeholder="Pick a team",
                       is_required=True, error_message="Pick where the ticket goes."),
        InputText(FormInput.ESCALATE_REASON.value, "Why", is_multiline=True, max_length=REASON_MAX,
                  is_required=True, error_message="Say why it is escalated."),
    ]
    return _form("Escalate", card, fields, ExecuteAction("Escalate", FormVerb.ESCALATE_SEND.value, _ticket_ref(card)))


def reclassify_form(card: Card, current_category: str) -> JSON:
    """Correct the category; every other category is offered."""
    current = current_category.replace("_", " ")
    options = tuple(Choice(c.value.replace("_", " "), c.value) for c in Category if c.value != current_category)
    fields: list[Element] = [
        TextBlock(f"Now: **{escape_markdown(current)}**. The correction is kept to improve the classifier."),
        InputChoiceSet(FormInput.RECLASSIFY_CATEGORY.value, "Correct category", options, is_required=True,
                       error_message="Pick the right category."),
    ]
    submit = ExecuteAction("Save", FormVerb.RECLASSIFY_SEND.value, _ticket_ref(card), style="positive")
    return _form("Reclassify", card, fields, submit)


QUERY_MAX = 100


def link_form(card: Card, channel_name: str, query: str = "",
              matches: Iterable[tuple[str, str]] | None = None) -> JSON:
    """Say who sent the message: search the directory (name, phone or email), then pick one of the matches
    (`matches`: (label, directory key) pairs, None before the first search)."""
    fields: list[Element] = [
        TextBlock(f"Who sent this message ({escape_markdown(channel_name)})? The bot remembers the link: their next "
                  "message from this address is matched to them too."),
        InputText(FormInput.LINK_QUERY.value, "Search", max_length=QUERY_MAX, placeholder="Name, phone or email",
                  value=query or None),
    ]
    search = ExecuteAction("Search", FormVerb.LINK_SEARCH.value, _ticket_ref(card))
    found = tuple(matches or ())
    if not found:
        return _form("Link patient", card, fields, search)
    fields.append(InputChoiceSet(FormInput.LINK_PATIENT.value, "Patient",
                                 tuple(Choice(label, key) for label, key in found), placeholder="Pick the patient"))
    link = ExecuteAction("Link", FormVerb.LINK_SEND.value, _ticket_ref(card), style="positive")
    return _form("Link patient", card, fields, link, search)


def message_view(card: Card, text: str) -> JSON:
    """The card with the message its privacy setting hides (``card_detail: none``), for the one who asked."""
    sections = tuple(replace(s, text=text) if s.kind is SectionKind.MESSAGE else s for s in card.sections)
    if not any(s.kind is SectionKind.MESSAGE for s in sections):
        sections = (CardSection(SectionKind.MESSAGE, text=text), *sections)
    shown = replace(card, message=text, sections=sections)
    return _fitted(lambda limit: _ticket_card(shown, limit, message_shown=True))


def with_notice(card: Mapping[str, Any], text: str) -> JSON:
    """A rendered card with a notice on top ("Sorry: only the clinical team can claim …"), replacing any before."""
    data = copy.deepcopy(dict(card))
    body = [item for item in data.get("body", []) if not (isinstance(item, dict) and item.get("id") == NOTICE_ID)]
    notice = Container((TextBlock(_text(text), weight="bolder"),), style="attention", id=NOTICE_ID)
    data["body"] = [notice.to_dict(), *body]
    return data
