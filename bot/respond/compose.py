"""Fill the clinic's templates in the patient's language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.config.models import ClinicConfig
from bot.match.directory import PatientRecord
from bot.respond.slots import format_slot


def pick_language(texts: Mapping[Any, str], language: str) -> str:
    """The text in `language`, else the English one (every template has one)."""
    return texts.get(language) or texts["en"]


def _greeting_name(patient: PatientRecord | None) -> str:
    if patient is None or not patient.name.strip():
        return ""
    return " " + patient.name.split()[0]


def booking_reply(
    config: ClinicConfig, language: str, patient: PatientRecord | None, slots: list[datetime]
) -> str:
    shown = ", ".join(format_slot(s, language) for s in slots)
    return pick_language(config.templates.booking_reply, language).format(
        name=_greeting_name(patient), clinic=config.clinic.name, slots=shown, link=config.booking.link
    )


def faq_reply(config: ClinicConfig, language: str, answer: str) -> str:
    return pick_language(config.templates.faq_reply, language).format(answer=answer, clinic=config.clinic.name)


def after_hours_ack(config: ClinicConfig, language: str) -> str:
    return pick_language(config.templates.after_hours_ack, language).format(clinic=config.clinic.name)


def booking_passed_on(config: ClinicConfig, language: str, patient: PatientRecord | None) -> str:
    return pick_language(config.templates.booking_passed_on, language).format(
        name=_greeting_name(patient), clinic=config.clinic.name)


def booking_confirming(config: ClinicConfig, language: str, patient: PatientRecord | None, slot: datetime) -> str:
    return pick_language(config.templates.booking_confirming, language).format(
        name=_greeting_name(patient), clinic=config.clinic.name, slot=format_slot(slot, language))


def named_human_after_hours_ack(config: ClinicConfig, language: str, human: str) -> str:
    return pick_language(config.templates.named_human_after_hours_ack, language).format(
        clinic=config.clinic.name, human=human)
