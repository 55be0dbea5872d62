"""Opaque ids carried in Slack payloads: button values, overflow options, modal metadata."""

from __future__ import annotations

from typing import Any

from bot.cards.model import ActionId


class BadPayload(ValueError):
    pass


def ticket_id(value: str) -> int:
    if not value.isdigit():
        raise BadPayload(f"not a ticket reference: {value[:20]!r}")
    return int(value)


def overflow_choice(action: dict[str, Any]) -> tuple[ActionId, int]:
    """Overflow options carry "<action id>:<ticket id>"."""
    value = str((action.get("selected_option") or {}).get("value", ""))
    name, _, ref = value.partition(":")
    try:
        return ActionId(name), ticket_id(ref)
    except ValueError:
        raise BadPayload(f"unknown menu choice {value[:40]!r}") from None


class ModalCallback:
    """Modal callback ids: fixed strings, like action ids."""

    REPLY = "triage_reply_modal"
    ESCALATE = "triage_escalate_modal"
    RECLASSIFY = "triage_reclassify_modal"
    LINK_PATIENT = "triage_link_patient_modal"
