"""Fill the clinic's templates in the patient's language."""

from __future__ import annotations

from datetime import datetime

from bot.config.models import ClinicConfig
from bot.match.directory import PatientRecord
from bot.respond.slots import format_slot


def _pick(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts["en"]


def _greeting_name(patient: PatientRecord | None) -> str:
    if patient is None or not patient.name.strip():
        return ""
    return " " + patient.name.split()[0]


def booking_reply(
    config: ClinicConfig, language: str, patient: PatientRecord | None, slots: list[datetime]
) -> str:
    shown = ", ".join(format_slot(s, language) for s in slots)
    return _pick(config.templates.booking_reply, language).format(
        name=_greeting_name(patient), clinic=config.clinic.name, slots=shown, link=config.booking.link
    )


def faq_reply(config: ClinicConfig, language: str, answer: str) -> str:
    return _pick(config.templates.faq_reply, language).format(answer=answer, clinic=config.clinic.name)


def after_hours_ack(config: ClinicConfig, language: str) -> str:
    return _pick(config.templates.after_hours_ack, language).format(clinic=config.clinic.name)
