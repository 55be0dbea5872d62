"""The patient directory port, and the embedded directory that lives in our own database."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.storage.models import PatientRow


@dataclass(frozen=True)
class PatientRecord:
    """What a card shows about a patient. Money in cents, times aware UTC."""

    key: str
    name: str
    phone: str | None = None
    email: str | None = None
    tier: int | None = None
    lifetime_value_cents: int = 0
    balance_cents: int = 0
    last_visit: date | None = None
    next_appointment: datetime | None = None
    provider: str = ""
    language: str = ""

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_visit"] = self.last_visit.isoformat() if self.last_visit else None
        data["next_appointment"] = self.next_appointment.isoformat() if self.next_appointment else None
        return data


class PatientDirectory(Protocol):
    """Looks a sender up in the clinic's booking/EHR system. Addresses arrive normalised."""

    def find_by_phone(self, phone: str) -> PatientRecord | None: ...

    def find_by_email(self, email: str) -> PatientRecord | None: ...

    def find_by_key(self, key: str) -> PatientRecord | None: ...

    def search(self, query: str, limit: int = 10) -> list[PatientRecord]:
        """Patients whose name, phone or email matches what a staff member typed ("Link patient")."""
        ...


class EmbeddedDirectory:
    """Patients imported into our own database (`triage-bot patients import`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def find_by_phone(self, phone: str) -> PatientRecord | None:
        return self._first(PatientRow.phone == phone)

    def find_by_email(self, email: str) -> PatientRecord | None:
        return self._first(PatientRow.email == email)

    def find_by_key(self, key: str) -> PatientRecord | None:
        return self._first(PatientRow.external_id == key)

    def search(self, query: str, limit: int = 10) -> list[PatientRecord]:
        criteria = search_criteria(query)
        if not criteria:
            return []
        rows = self._session.scalars(select(PatientRow).where(or_(*criteria))
                                     .order_by(PatientRow.name, PatientRow.id).limit(limit))
        return [to_record(row) for row in rows]

    def _first(self, *criteria: Any) -> PatientRecord | None:
        row = self._session.scalars(select(PatientRow).where(or_(*criteria)).order_by(PatientRow.id)).first()
        return to_record(row) if row else None


MIN_QUERY = 2  # fewer characters match half the directory


def search_criteria(query: str) -> list[Any]:
    """What a typed query matches: every word in the name (any order, any case), the phone's last ten digits, or
    the email (exact, case-folded; or its start). LIKE's wildcards in the query are taken literally."""
    text = " ".join(query.split())
    if len(text) < MIN_QUERY:
        return []
    criteria: list[Any] = []
    words = [_like(word) for word in text.casefold().split()]
    criteria.append(and_(*(func.lower(PatientRow.name).like(f"%{word}%", escape="\\") for word in words)))
    if "@" in text:
        criteria.append(func.lower(PatientRow.email).like(f"{_like(text.casefold())}%", escape="\\"))
    digits = "".join(c for c in text if c.isdigit())
    if len(digits) >= 7:  # phones are stored in E.164: "(415) 555-0111" and "4155550111" end the same
        criteria.append(PatientRow.phone.like(f"%{digits[-10:]}"))
    return criteria


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def to_record(row: PatientRow) -> PatientRecord:
    return PatientRecord(
        key=row.external_id,
        name=row.name,
        phone=row.phone,
        email=row.email,
        tier=row.tier,
        lifetime_value_cents=row.lifetime_value_cents,
        balance_cents=row.balance_cents,
        last_visit=row.last_visit,
        next_appointment=row.next_appointment,
        provider=row.provider,
        language=row.language,
    )


def lookup(directory: PatientDirectory, address: str) -> PatientRecord | None:
    if "@" in address:
        return directory.find_by_email(address)
    return directory.find_by_phone(address)
