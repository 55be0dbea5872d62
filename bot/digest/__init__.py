"""The managers' daily digest: figures for one local day, as text and as a chart. No patient details, ever."""

from bot.digest.chart import build_figure, chart_title, digest_chart
from bot.digest.compute import (
    AdverseEventLine,
    Breach,
    CategoryCount,
    ChannelCount,
    DailyDigest,
    FirstResponse,
    OpenNow,
    RoleOpen,
    StaffClaims,
    compute_digest,
    day_window,
    nearest_rank,
)
from bot.digest.render import digest_document, digest_text, format_duration

__all__ = [
    "AdverseEventLine",
    "Breach",
    "CategoryCount",
    "ChannelCount",
    "DailyDigest",
    "FirstResponse",
    "OpenNow",
    "RoleOpen",
    "StaffClaims",
    "build_figure",
    "chart_title",
    "compute_digest",
    "day_window",
    "digest_chart",
    "digest_document",
    "digest_text",
    "format_duration",
    "nearest_rank",
]
