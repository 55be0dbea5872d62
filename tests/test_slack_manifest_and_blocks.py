"""The Slack app manifest validates against Slack's schema, and cards render to Block Kit slack_sdk accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cards.model import ActionId, Card, CardAction, CardField
from bot.mentions import Mention, MentionKind
from integrations.slack.blocks import render_blocks, render_text

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"
EVENTS_URL = "https://YOUR-HOST/slack/events"
BOT_SCOPES = [
    "chat:write",
    "chat:write.public",
    "commands",
    "im:write",
    "users:read",
    "usergroups:read",
    "channels:read",
    "groups:read",
    "files:write",
    "channels:history",
    "groups:history",
    "im:history",
]
ACTION_IDS = {a.value for a in ActionId}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


def test_manifest_validates_against_slack_schema(manifest: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMAS.is_dir():
        pytest.skip(reason="../shared/schemas is not beside this clone")
    major = manifest["_metadata"]["major_version"]
    schema_file = SCHEMAS / f"slack-app-manifest.v{major}.0.0.schema.json"
    if not schema_file.is_file():
        pytest.skip(reason="../shared/schemas is not beside this clone")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.validate(manifest, schema, cls=jsonschema.Draft7Validator)


def test_manifest_declares_what_the_bot_uses(manifest: dict[str, Any]) -> None:
    features, settings = manifest["features"], manifest["settings"]
    assert manifest["display_information"]["name"] == "Med Spa Triage"
    assert features["bot_user"] == {"display_name": "triage", "always_online": True}
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    (command,) = features["slash_commands"]
    assert command["command"] == "/triage"
    assert command["url"] == EVENTS_URL
    assert command["usage_hint"] == "[oncall | oncall set @user until TIME | oncall clear | digest]"
    assert command["should_escape"] is True
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert settings["event_subscriptions"]["request_url"] == EVENTS_URL
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def _card(**overrides: Any) -> Card:
    values: dict[str, Any] = {
        "ticket_id": 42,
        "notification": "🚨 Urgent: possible adverse event, ticket #42",
        "title": "🚨 Adverse event · URGENT · #42",
        "category": "adverse_event",
        "urgency": "urgent",
        "patient": (
            CardField("Patient", "Jane Doe"),
            CardField("Phone", "+1 555 0100"),
            CardField("Last visit", "Lip filler, 3 days ago"),
            CardField("Provider", "Dr. Smith"),
        ),
        "message": "My lip is swollen <script> & stuff\nand it hurts",
        "reasons": ("mentions swelling after filler", "mentions pain"),
        "context": (CardField("Came in on", "SMS"), CardField("Routed to", "<#C123>"), CardField("SLA", "15 min")),
        "status": ("Unclaimed",),
        "actions": (
            CardAction(ActionId.CLAIM, "Claim", "t42", style="primary"),
            CardAction(ActionId.REPLY, "Reply", "t42"),
            CardAction(ActionId.ESCALATE, "Escalate", "t42", style="danger"),
            CardAction(ActionId.RESOLVE, "Resolve", "t42", overflow=True),
            CardAction(ActionId.RECLASSIFY, "Reclassify", "t42", overflow=True),
        ),
        "mentions": (Mention(MentionKind.USER, "U111"), Mention(MentionKind.USER, "U222")),
        "notes": ("Paged <@U111>",),
    }
    values.update(overrides)
    return Card(**values)


def _texts(block: dict[str, Any]) -> list[str]:
    if block["type"] == "section":
        return [block["text"]["text"]] if "text" in block else [f["text"] for f in block["fields"]]
    if block["type"] == "context":
        return [e["text"] for e in block["elements"]]
    return []


def _message_block(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    (block,) = [b for b in blocks if b["type"] == "section" and "text" in b and b["text"]["text"].startswith(">")]
    return block


def test_adverse_event_card_renders_to_block_kit() -> None:
    card = _card()
    blocks = render_blocks(card)

    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": card.title, "emoji": True}}
    assert blocks[1]["type"] == "section"
    assert blocks[1]["text"]["text"] == "<@U111> <@U222>"

    (patient,) = [b for b in blocks if "fields" in b]
    assert patient["fields"][0]["text"] == "*Patient*\nJane Doe"
    assert len(patient["fields"]) == 4

    message = _message_block(blocks)["text"]["text"]
    assert "&lt;script&gt; &amp; stuff" in message
    assert "<script>" not in message
    assert message.splitlines() == ["> My lip is swollen &lt;script&gt; &amp; stuff", "> and it hurts"]

    contexts = [t for b in blocks for t in _texts(b) if b["type"] == "context"]
    assert "Why: mentions swelling after filler; mentions pain" in contexts
    assert "Came in on: SMS · Routed to: <#C123> · SLA: 15 min · Unclaimed" in contexts
    assert "Paged <@U111>" in contexts

    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert blocks[-1] is actions
    buttons = [e for e in actions["elements"] if e["type"] == "button"]
    assert [b["text"]["text"] for b in buttons] == ["Claim", "Reply", "Escalate"]
    for button in buttons:
        assert button["action_id"] in ACTION_IDS
        assert button["value"] == "t42"
    assert buttons[0]["style"] == "primary"
    assert "style" not in buttons[1]
    assert buttons[2]["style"] == "danger"

    (overflow,) = [e for e in actions["elements"] if e["type"] == "overflow"]
    assert overflow["action_id"] == ActionId.MORE.value
    assert [o["value"] for o in overflow["options"]] == ["triage_resolve:t42", "triage_reclassify:t42"]
    assert [o["text"]["text"] for o in overflow["options"]] == ["Resolve", "Reclassify"]


def test_render_text_is_the_notification_and_mentions_only() -> None:
    card = _card()
    text = render_text(card)
    assert text == "<@U111> <@U222> " + card.notification
    for field in card.patient:
        assert field.value not in text
    assert render_text(_card(mentions=())) == card.notification


def test_privacy_none_card_hides_message_and_patient() -> None:
    card = _card(message=None, patient=(), mentions=(), reasons=(), notes=())
    blocks = render_blocks(card)

    assert not any("fields" in b for b in blocks)
    assert not any(b["type"] == "section" and b["text"]["text"].startswith(">") for b in blocks if "text" in b)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 1
    assert "hidden by the clinic's privacy setting" in sections[0]
    assert not any(b["type"] == "context" and b["elements"][0]["text"].startswith("Why:") for b in blocks)


def test_many_patient_fields_split_into_sections_of_ten() -> None:
    patient = tuple(CardField(f"Field {i}", f"value {i}") for i in range(23))
    sections = [b for b in render_blocks(_card(patient=patient)) if "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 10, 3]


@pytest.mark.parametrize("message", ["x" * 10_000, "a & b < c > d\n" * 1_000, "&" * 10_000])
def test_very_long_message_is_truncated_under_slack_limit(message: str) -> None:
    blocks = render_blocks(_card(message=message))  # slack_sdk raises on a text over 3000 chars
    text = _message_block(blocks)["text"]["text"]
    assert len(text) < 3000
    assert text.endswith("…")
    assert not text[:-1].rstrip().endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt"))


def test_long_title_and_field_values_fit() -> None:
    card = _card(title="T" * 400, patient=(CardField("Notes", "n" * 5_000),))
    blocks = render_blocks(card)
    assert len(blocks[0]["text"]["text"]) <= 150
    (patient,) = [b for b in blocks if "fields" in b]
    assert len(patient["fields"][0]["text"]) <= 2000


def test_sections_render_in_the_order_the_card_model_gives() -> None:
    from bot.cards.model import CardSection, SectionKind

    sections = (
        CardSection(SectionKind.MESSAGE, text="my lip is swollen"),
        CardSection(SectionKind.FIELDS, fields=(CardField("Call back", "+1 212-555-0101"),)),
        CardSection(SectionKind.LINE, text="📷 1 photo from the patient, in the thread of the card in #clinical"),
        CardSection(SectionKind.FIELDS, fields=(CardField("Lifetime value", "$3,240.00"),)),
    )
    blocks = render_blocks(_card(sections=sections, mentions=()))
    body = [t for b in blocks[1:] if b["type"] == "section" for t in _texts(b)]
    assert body == ["> my lip is swollen", "*Call back*\n+1 212-555-0101",
                    "📷 1 photo from the patient, in the thread of the card in #clinical",
                    "*Lifetime value*\n$3,240.00"]
    hidden = render_blocks(_card(sections=(CardSection(SectionKind.MESSAGE, text=None),), mentions=()))
    assert "hidden by the clinic's privacy setting" in str(hidden)
