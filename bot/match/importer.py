"""`triage-bot patients import FILE.csv`: load or update the embedded directory; bad rows name their line."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.match.addresses import InvalidAddress, normalize_email, normalize_phone
from bot.storage.models import PatientRow

REQUIRED = ("id", "name")
KNOWN = (
    "id", "name", "phone", "email", "tier", "lifetime_value", "balance", "last_visit",
    "next_appointment", "provider", "language",
)


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


class RowError(ValueError):
    pass


def import_patients(session: Session, path: Path, clinic_tz: ZoneInfo) -> ImportReport:
    """Upserts by `id`. Good rows are kept even when other rows are bad; each bad row is reported."""
    report = ImportReport()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [name for name in REQUIRED if name not in header]
        if missing:
            report.errors.append(f"{path}:1: missing column(s): {', '.join(missing)}")
            return report
        unknown = [name for name in header if name not in KNOWN]
        if unknown:
            report.errors.append(f"{path}:1: unknown column(s) ignored: {', '.join(unknown)}")
        for row in reader:
            line = reader.line_num
            try:
                values = _parse(row, clinic_tz)
            except RowError as exc:
                report.errors.append(f"{path}:{line}: {exc}")
                continue
            existing = session.scalars(
                select(PatientRow).where(PatientRow.external_id == values["external_id"])
            ).first()
            if existing is None:
                session.add(PatientRow(**values))
                report.added += 1
            else:
                for key, value in values.items():
                    setattr(existing, key, value)
                report.updated += 1
            session.flush()
    return report


def _parse(row: dict[str, str | None], clinic_tz: ZoneInfo) -> dict[str, object]:
    def text(name: str) -> str:
        return (row.get(name) or "").strip()

    if not text("id"):
        raise RowError("id is empty")
    if not text("name"):
        raise RowError("name is empty")
    try:
        phone = normalize_phone(text("phone")) if text("phone") else None
    except InvalidAddress as exc:
        raise RowError(f"phone {text('phone')!r}: {exc}") from None
    try:
        email = normalize_email(text("email")) if text("email") else None
    except InvalidAddress as exc:
        raise RowError(f"email {text('email')!r}: {exc}") from None
    tier = None
    if text("tier"):
        if not text("tier").isdigit():
            raise RowError(f"tier {text('tier')!r} is not a whole number")
        tier = int(text("tier"))
    language = text("language").lower()
    if language and language not in ("en", "es"):
        raise RowError(f"language {language!r} is not en or es")
    return {
        "external_id": text("id"),
        "name": text("name"),
        "phone": phone,
        "email": email,
        "tier": tier,
        "lifetime_value_cents": _cents(text("lifetime_value"), "lifetime_value"),
        "balance_cents": _cents(text("balance"), "balance"),
        "last_visit": _date(text("last_visit"), "last_visit"),
        "next_appointment": _local_datetime(text("next_appointment"), clinic_tz),
        "provider": text("provider"),
        "language": language,
    }


def _cents(value: str, name: str) -> int:
    if not value:
        return 0
    try:
        return int((Decimal(value.replace("$", "").replace(",", "")) * 100).to_integral_value())
    except InvalidOperation:
        raise RowError(f"{name} {value!r} is not an amount") from None


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def _local_datetime(value: str, clinic_tz: ZoneInfo) -> datetime | None:
    """Appointment times in the CSV are clinic-local unless they carry an offset."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"next_appointment {value!r} is not a date-time (YYYY-MM-DD HH:MM)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=clinic_tz)
    return parsed
