"""Sender addresses in one canonical form: phones in E.164, emails case-folded."""

from __future__ import annotations

import phonenumbers


class InvalidAddress(ValueError):
    pass


def normalize_phone(raw: str, default_region: str = "US") -> str:
    try:
        number = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(f"not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidAddress("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    value = raw.strip().casefold()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain:
        raise InvalidAddress("not an email address")
    return value


def normalize_address(raw: str) -> str:
    """An email if it has an @, else a phone number."""
    return normalize_email(raw) if "@" in raw else normalize_phone(raw)
