"""The routing policy. Every rule here is a clinic promise, so each decision records the rule that made it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.classify.result import Classification
from bot.config.models import ClinicConfig
from bot.domain import Category, Role
from bot.match.directory import PatientRecord

ROLE_FOR_CATEGORY = {
    Category.ADVERSE_EVENT: Role.CLINICAL,
    Category.CLINICAL: Role.CLINICAL,
    Category.BILLING: Role.BILLING,
    Category.BOOKING: Role.FRONT_DESK,
    Category.FAQ: Role.FRONT_DESK,
    Category.OTHER: Role.FRONT_DESK,
}


@dataclass(frozen=True)
class RouteDecision:
    role: Role
    page: str | None = None  # staff id of the provider paged at once
    assignee: str | None = None  # staff id of a VIP's named human
    auto_answer: bool = False
    after_hours_ack: bool = False
    reasons: tuple[str, ...] = field(default_factory=tuple)


def route(
    config: ClinicConfig,
    result: Classification,
    patient: PatientRecord | None,
    *,
    open_now: bool,
    oncall: str | None,
) -> RouteDecision:
    """`oncall` is the staff id on call right now (from the rota), paged for adverse events."""
    category = result.category
    reasons: list[str] = []
    role = ROLE_FOR_CATEGORY[category]
    confident = result.confidence >= config.routing.min_confidence
    if not confident and not category.is_medical:
        # A medical category is never sent away from the providers, however unsure the model is.
        role = Role.FRONT_DESK
        reasons.append(f"confidence {result.confidence:.2f} below {config.routing.min_confidence:.2f}: front desk")
    else:
        reasons.append(f"{category.value} → {role.value}")

    page = None
    if category is Category.ADVERSE_EVENT:
        page = oncall
        reasons.append(f"adverse event: page {page}" if page else "adverse event: nobody is on call to page")

    vip = config.vip_tier(patient.tier if patient else None)
    assignee = vip.named_human if vip else None
    if vip:
        reasons.append(f"{config.tier_name(vip.tier)} patient: handled by {vip.named_human}")

    auto = category in config.routing.auto_answer and confident and vip is None
    if category in config.routing.auto_answer and not auto and confident:
        reasons.append("not auto-answered: VIP patient")
    elif category in config.routing.auto_answer and not confident:
        reasons.append("not auto-answered: low confidence")

    ack = category.is_medical and not open_now
    if ack:
        reasons.append("after hours: acknowledgement with emergency advice")
    elif vip and not open_now and category is not Category.OTHER:
        # The bot does not answer a VIP, so after hours they would hear nothing while a stranger gets slots:
        # they are told their named human will answer. (Not for `other`: a thanks or a STOP needs no reply.)
        ack = True
        reasons.append(f"after hours: acknowledgement that {vip.named_human} will answer")
    return RouteDecision(
        role=role, page=page, assignee=assignee, auto_answer=auto, after_hours_ack=ack, reasons=tuple(reasons)
    )
