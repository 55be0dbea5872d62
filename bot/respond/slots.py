"""Next open slots from the clinic's weekly schedule (the embedded booking system)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config.models import WEEKDAYS, ClinicConfig

_DAY_NAMES = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}


def next_slots(config: ClinicConfig, now: datetime) -> list[datetime]:
    """The next `offer_count` bookable starts, at least `lead_minutes` from now, skipping holidays."""
    tz = config.clinic.tz
    booking = config.booking
    earliest = now.astimezone(tz) + timedelta(minutes=booking.lead_minutes)
    found: list[datetime] = []
    for offset in range(booking.horizon_days + 1):
        day = (earliest + timedelta(days=offset)).date()
        if day in config.business_hours.holidays:
            continue
        for start in sorted(booking.weekly_slots.get(WEEKDAYS[day.weekday()], ())):
            slot = datetime.combine(day, start, tzinfo=tz)
            if slot >= earliest:
                found.append(slot)
                if len(found) == booking.offer_count:
                    return found
    return found


def format_slot(slot: datetime, language: str) -> str:
    names = _DAY_NAMES.get(language, _DAY_NAMES["en"])
    day = names[slot.weekday()]
    if language == "es":
        return f"{day} {slot.day}/{slot.month} {slot:%H:%M}"
    hour = slot.strftime("%I:%M %p").lstrip("0")
    return f"{day} {slot.month}/{slot.day} {hour}"
