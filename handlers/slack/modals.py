"""The Reply, Escalate and Reclassify modals, built with slack_sdk's typed models."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ExternalDataSelectElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.config.models import ClinicConfig
from bot.domain import Category
from bot.flows.actions import staff_templates
from bot.flows.actions.escalate import TARGET_LABELS
from handlers.slack.ids import ModalCallback

MESSAGE_BLOCK, MESSAGE_INPUT = "message", "message_input"
TEMPLATE_BLOCK, TEMPLATE_INPUT = "template", "template_input"
TARGET_BLOCK, TARGET_INPUT = "target", "target_input"
REASON_BLOCK, REASON_INPUT = "reason", "reason_input"
CATEGORY_BLOCK, CATEGORY_INPUT = "category", "category_input"
PATIENT_BLOCK, PATIENT_INPUT = "patient", "patient_input"



def reply_modal(ticket_id: int, channel_name: str, language: str, config: ClinicConfig) -> View:
    blocks: list[Block] = [
        SectionBlock(text=f"The reply goes to the patient by *{channel_name}* and is logged in the card's thread."),
    ]
    templates = staff_templates(config, language)
    if templates:
        blocks.append(InputBlock(
            block_id=TEMPLATE_BLOCK, optional=True, label=f"Template ({language})",
            element=StaticSelectElement(action_id=TEMPLATE_INPUT, placeholder="Pick a saved reply",
                                        options=[Option(value=name, label=name[:75]) for name in templates]),
        ))
    blocks.append(InputBlock(
        block_id=MESSAGE_BLOCK, optional=bool(templates), label="Message",
        hint="Leave empty to send the template as it is." if templates else None,
        element=PlainTextInputElement(action_id=MESSAGE_INPUT, multiline=True, max_length=1500),
    ))
    return View(type="modal", callback_id=ModalCallback.REPLY, private_metadata=str(ticket_id),
                title="Reply to patient", submit="Send", close="Cancel", blocks=blocks)


def escalate_modal(ticket_id: int) -> View:
    targets = [Option(value=t.value, label=label) for t, label in TARGET_LABELS.items()]
    return View(
        type="modal", callback_id=ModalCallback.ESCALATE, private_metadata=str(ticket_id), title="Escalate",
        submit="Escalate", close="Cancel",
        blocks=[
            InputBlock(block_id=TARGET_BLOCK, label="Send to",
                       element=StaticSelectElement(action_id=TARGET_INPUT, options=targets)),
            InputBlock(block_id=REASON_BLOCK, label="Why", element=PlainTextInputElement(
                action_id=REASON_INPUT, multiline=True, max_length=500)),
        ],
    )


def reclassify_modal(ticket_id: int, current: str) -> View:
    options = [Option(value=c.value, label=c.value.replace("_", " ")) for c in Category if c.value != current]
    return View(
        type="modal", callback_id=ModalCallback.RECLASSIFY, private_metadata=str(ticket_id), title="Reclassify",
        submit="Save", close="Cancel",
        blocks=[
            SectionBlock(text=f"Now: *{current.replace('_', ' ')}*. The correction is kept to improve the classifier."),
            InputBlock(block_id=CATEGORY_BLOCK, label="Correct category",
                       element=StaticSelectElement(action_id=CATEGORY_INPUT, options=options)),
        ],
    )


def link_modal(ticket_id: int, channel_name: str) -> View:
    """Search the directory as you type (Slack asks the bot for the matches: handlers/slack/views.py)."""
    return View(
        type="modal", callback_id=ModalCallback.LINK_PATIENT, private_metadata=str(ticket_id), title="Link patient",
        submit="Link", close="Cancel",
        blocks=[
            SectionBlock(text=f"Who sent this message ({channel_name})? The bot remembers the link: their next message "
                              "from this address is matched to them too."),
            InputBlock(block_id=PATIENT_BLOCK, label="Patient", hint="Type a name, a phone number or an email.",
                       element=ExternalDataSelectElement(action_id=PATIENT_INPUT, min_query_length=2,
                                                         placeholder="Name, phone or email")),
        ],
    )


def message_modal(ticket_id: int, text: str) -> View:
    return View(type="modal", title=f"Ticket #{ticket_id}", close="Close",
                blocks=[SectionBlock(text=text[:2900] or "(empty)")])
