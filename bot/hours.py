"""Business hours and holidays in the clinic's own time zone."""

from __future__ import annotations

from datetime import datetime

from bot.config.models import WEEKDAYS, ClinicConfig


def is_open(config: ClinicConfig, when: datetime) -> bool:
    local = when.astimezone(config.clinic.tz)
    if local.date() in config.business_hours.holidays:
        return False
    hours = config.business_hours.for_day(WEEKDAYS[local.weekday()])
    if hours is None:
        return False
    return hours.open <= local.time().replace(tzinfo=None) < hours.close
