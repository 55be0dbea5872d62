"""Sender addresses a staff member linked to a patient: a DM sender is only a page-scoped id, and patients email
from new addresses. The link is checked before the directory's own phone/email match, so the next message from
that address is matched to the patient too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.match.directory import PatientDirectory, PatientRecord, lookup
from bot.storage.models import PatientLinkRow


def linked_key(session: Session, address: str) -> str | None:
    return session.scalar(select(PatientLinkRow.patient_key).where(PatientLinkRow.address == address))


def link_address(session: Session, address: str, patient_key: str, by: str, now: datetime) -> None:
    """Remember (or change) whom `address` belongs to."""
    row = session.scalar(select(PatientLinkRow).where(PatientLinkRow.address == address))
    if row is None:
        session.add(PatientLinkRow(address=address, patient_key=patient_key, linked_by=by, linked_at=now))
    else:
        row.patient_key, row.linked_by, row.linked_at = patient_key, by, now


def match_sender(session: Session, directory: PatientDirectory, address: str) -> PatientRecord | None:
    """The patient behind `address`: a staff member's link first, else the directory's match on it."""
    key = linked_key(session, address)
    if key is not None and (found := directory.find_by_key(key)) is not None:
        return found
    return lookup(directory, address)
