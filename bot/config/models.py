"""The clinic config schema. Every field a clinic may leave out has a default a real clinic can live with."""

from __future__ import annotations

from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain import Category, Role
from bot.match.addresses import InvalidAddress, normalize_phone

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Language = Literal["en", "es"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clinic(Strict):
    name: str = Field(min_length=1)
    timezone: str = "America/Los_Angeles"
    phone: str = ""
    default_language: Language = "en"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like America/New_York)") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class OpenHours(Strict):
    open: time
    close: time

    @model_validator(mode="after")
    def _ordered(self) -> OpenHours:
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self


class BusinessHours(Strict):
    """Opening hours per weekday in the clinic's time zone; a missing day is closed."""

    mon: OpenHours | None = OpenHours(open=time(9), close=time(18))
    tue: OpenHours | None = OpenHours(open=time(9), close=time(18))
    wed: OpenHours | None = OpenHours(open=time(9), close=time(18))
    thu: OpenHours | None = OpenHours(open=time(9), close=time(18))
    fri: OpenHours | None = OpenHours(open=time(9), close=time(18))
    sat: OpenHours | None = OpenHours(open=time(10), close=time(16))
    sun: OpenHours | None = None
    holidays: tuple[date, ...] = ()

    def for_day(self, day: Weekday) -> OpenHours | None:
        hours: OpenHours | None = getattr(self, day)
        return hours


class RoleChannels(Strict):
    """Where each role's cards are posted (channel ids or names in the messenger)."""

    front_desk: str = "front-desk"
    billing: str = "billing"
    clinical: str = "clinical"
    managers: str = "managers"

    def for_role(self, role: Role) -> str:
        channel: str = getattr(self, role.value)
        return channel

    def for_role_name(self, role: str | None) -> str:
        return self.for_role(Role(role) if role else Role.FRONT_DESK)


class RoleMembers(Strict):
    """Who belongs to a role: staff ids or messenger user ids, and/or a group in each messenger.

    `usergroup` is a Slack user group (S…); `entra_group` a Microsoft Entra group whose members are looked
    up with Microsoft Graph for Teams.
    """

    members: tuple[str, ...] = ()
    usergroup: str = ""
    entra_group: str = Field("", description="Microsoft Entra group object id (Teams): its members have the role")
    lead: str = Field("", description="staff id of the role's lead (next step of the nudge ladder)")


class Roles(Strict):
    front_desk: RoleMembers = RoleMembers()
    billing: RoleMembers = RoleMembers()
    clinical: RoleMembers = RoleMembers()
    managers: RoleMembers = RoleMembers()

    def for_role(self, role: Role) -> RoleMembers:
        members: RoleMembers = getattr(self, role.value)
        return members


class Privacy(Strict):
    """How much of the patient a card shows. Push text, threads and digests never show any, whatever this says."""

    card_detail: Literal["full", "initials", "none"] = "full"


PLATFORMS = ("slack", "teams")  # the messengers a staff member can have an id on
PLATFORM_NAMES = {"slack": "Slack", "teams": "Teams"}  # as staff read them


class StaffMember(Strict):
    id: str = Field(min_length=1, pattern=r"^[^:\s]+$", description="stable id used in the config, e.g. 'dr-lee'")
    name: str = Field(min_length=1)
    slack_user: str = Field("", description="the person's Slack user id (U…), for mentions and DMs")
    teams_user: str = Field("", description="the person's Microsoft Entra object id, for Teams mentions and chats")
    clinical: bool = False
    phone: str = Field("", description="mobile number for pages by SMS and voice call (stored in E.164)")

    @model_validator(mode="before")
    @classmethod
    def _chat_user(cls, data: object) -> object:
        """`chat_user`, from configs written when the bot knew only Slack, is the Slack user id."""
        if isinstance(data, dict) and "chat_user" in data:
            data = dict(data)
            chat_user = data.pop("chat_user")
            if data.get("slack_user") and chat_user and data["slack_user"] != chat_user:
                raise ValueError("chat_user and slack_user differ: keep slack_user only")
            data.setdefault("slack_user", chat_user or "")
        return data

    def user_on(self, platform: str) -> str:
        """The person's id on `platform` ("slack", "teams"), or ""."""
        return {"slack": self.slack_user, "teams": self.teams_user}.get(platform, "")

    @property
    def users(self) -> tuple[tuple[str, str], ...]:
        return tuple((platform, self.user_on(platform)) for platform in PLATFORMS if self.user_on(platform))

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return normalize_phone(value)
        except InvalidAddress as exc:
            raise ValueError(f"{value!r} is {exc} (write it as +1 415 555 0100)") from None


class VipTier(Strict):
    tier: int = Field(ge=1)
    label: str = ""
    named_human: str = Field(min_length=1, description="staff id who handles this tier personally")


DEFAULT_TIER_NAMES = {1: "Platinum", 2: "Gold", 3: "Silver"}


class Routing(Strict):
    min_confidence: float = Field(0.6, ge=0, le=1)
    auto_answer: tuple[Category, ...] = (Category.BOOKING, Category.FAQ)
    oncall_provider: str = Field("", description="staff id paged for adverse events")

    @field_validator("auto_answer")
    @classmethod
    def _only_routine(cls, value: tuple[Category, ...]) -> tuple[Category, ...]:
        for category in value:
            if category not in (Category.BOOKING, Category.FAQ):
                raise ValueError(f"{category.value} can never be auto-answered; only booking and faq can")
        return value


class LadderStep(Strict):
    after_minutes: int = Field(ge=0)
    notify: Literal["role", "lead", "manager", "backup"]
    call: bool = Field(False, description="page ladder only: also ring the phones of the providers paged so far")


class Escalation(Strict):
    """The nudge ladders. Frozen onto each ticket when it is routed: later edits never move tickets in flight."""

    ladder: tuple[LadderStep, ...] = (
        LadderStep(after_minutes=0, notify="role"),
        LadderStep(after_minutes=15, notify="lead"),
        LadderStep(after_minutes=30, notify="manager"),
    )  # for unclaimed tickets, minutes after the due time (business minutes, except adverse events)
    page_ladder: tuple[LadderStep, ...] = (
        LadderStep(after_minutes=5, notify="backup"),
        LadderStep(after_minutes=10, notify="manager"),
    )  # for unacknowledged pages, minutes after the page
    manager: str = Field("", description="staff id of the manager at the top of both ladders")


class OnCallRota(Strict):
    """Who is paged: a weekly rotation in the clinic's time zone, changing at `shift_change` each day."""

    shift_change: time = time(8)
    weekly: dict[Weekday, str] = Field(default_factory=dict, description="staff id on call from that day's change")
    backup: dict[Weekday, str] = Field(default_factory=dict, description="staff id paged when the first is silent")
    handoff_post: bool = True


class Paging(Strict):
    """A page also texts every paged provider with a `phone` in staff (and calls them on ladder steps with `call`)."""

    messenger: str = Field("Slack", min_length=1, description="the messenger's name in the page text ('open Slack')")


class OptOuts(Strict):
    """STOP / START. With Twilio, Advanced Opt-Out answers the keyword itself, so by default the bot sends nothing."""

    confirm: bool = Field(False, description="send the one confirmation text below (only without Twilio's own reply)")
    confirmation: dict[Language, str] = {
        "en": "You will no longer receive texts from {clinic}. Reply START to resume.",
        "es": "Ya no recibirá mensajes de texto de {clinic}. Responda ALTA para reanudar.",
    }


class Digest(Strict):
    post_at: time = Field(time(18, 30), description="local time the managers' digest is posted")
    enabled: bool = True


class SlaMinutes(Strict):
    """Minutes to first response per category (adverse events: minutes to acknowledge the page)."""

    adverse_event: int = Field(5, ge=1)
    clinical: int = Field(10, ge=1)
    billing: int = Field(30, ge=1)
    booking: int = Field(5, ge=1)
    faq: int = Field(5, ge=1)
    other: int = Field(240, ge=1)

    def for_category(self, category: Category) -> int:
        minutes: int = getattr(self, category.value)
        return minutes


class FaqEntry(Strict):
    id: str = Field(min_length=1)
    questions: dict[Language, tuple[str, ...]]
    answer: dict[Language, str]

    @model_validator(mode="after")
    def _has_english(self) -> FaqEntry:
        if "en" not in self.answer:
            raise ValueError("every answer needs at least an 'en' text")
        if not any(self.questions.values()):
            raise ValueError("list at least one sample question")
        return self


class Booking(Strict):
    link: str = Field(min_length=1)
    weekly_slots: dict[Weekday, tuple[time, ...]] = Field(default_factory=dict)
    offer_count: int = Field(3, ge=1, le=10)
    lead_minutes: int = Field(60, ge=0, description="no slot sooner than this from now is offered")
    horizon_days: int = Field(14, ge=1, le=90)


class Templates(Strict):
    """Patient-facing texts. {placeholders} are filled by the bot."""

    booking_reply: dict[Language, str] = {
        "en": "Hi{name}! Thanks for reaching out to {clinic}. Our next openings: {slots}. "
        "Book or confirm here: {link} (or reply with the time you'd like).",
        "es": "¡Hola{name}! Gracias por escribir a {clinic}. Estos son nuestros próximos horarios disponibles: "
        "{slots}. Puede reservar aquí: {link} (o respóndanos con el horario que prefiera).",
    }
    faq_reply: dict[Language, str] = {
        "en": "{answer} — {clinic}",
        "es": "{answer} — {clinic}",
    }
    after_hours_ack: dict[Language, str] = {
        "en": "Thanks for your message to {clinic}. We are closed right now; a provider will review it "
        "as soon as possible. If this is an emergency, call 911.",
        "es": "Gracias por escribir a {clinic}. En este momento estamos cerrados; un profesional de la salud de "
        "nuestro equipo leerá su mensaje lo antes posible. Si es una emergencia, llame al 911.",
    }
    booking_passed_on: dict[Language, str] = {
        "en": "Thanks{name}, we got your message and passed it on to our front desk at {clinic}; "
        "they will get back to you as soon as they can.",
        "es": "Gracias{name}, recibimos su mensaje y lo pasamos a nuestra recepción de {clinic}; "
        "le responderán lo antes posible.",
    }  # a cancellation, a late arrival, a question about an existing appointment: a person handles it
    booking_confirming: dict[Language, str] = {
        "en": "Thanks{name}! We're confirming {slot} for you with our front desk at {clinic} "
        "and will text you once it's booked.",
        "es": "¡Gracias{name}! Estamos confirmando su cita del {slot} con nuestra recepción de {clinic} "
        "y le avisaremos en cuanto quede reservada.",
    }  # the patient picked one of the slots we offered; a person books it (no booking system connected yet)
    named_human_after_hours_ack: dict[Language, str] = {
        "en": "Thanks for your message to {clinic}. We are closed right now; {human} will personally get back "
        "to you when we open.",
        "es": "Gracias por su mensaje a {clinic}. En este momento estamos cerrados; {human} le responderá "
        "personalmente en cuanto abramos.",
    }  # a VIP's non-medical message after hours: their named human answers, the bot does not
    staff_replies: dict[Language, dict[str, str]] = Field(
        default_factory=dict, description="named canned replies staff can pick from, per language"
    )


class ClinicConfig(Strict):
    clinic: Clinic
    business_hours: BusinessHours = BusinessHours()
    channels: RoleChannels = RoleChannels()
    staff: tuple[StaffMember, ...] = ()
    roles: Roles = Roles()
    privacy: Privacy = Privacy()
    routing: Routing = Routing()
    sla_minutes: SlaMinutes = SlaMinutes()
    vip_tiers: tuple[VipTier, ...] = ()
    tiers: dict[int, str] = Field(
        default_factory=lambda: dict(DEFAULT_TIER_NAMES),
        description="what staff call each patient tier (a VIP tier's own label wins)")
    escalation: Escalation = Escalation()
    oncall: OnCallRota = OnCallRota()
    digest: Digest = Digest()
    paging: Paging = Paging()
    opt_outs: OptOuts = OptOuts()
    faq: tuple[FaqEntry, ...] = ()
    booking: Booking
    templates: Templates = Templates()

    @model_validator(mode="after")
    def _staff_references_exist(self) -> ClinicConfig:
        known = {member.id for member in self.staff}
        if len(known) != len(self.staff):
            raise ValueError("staff ids must be unique")
        if self.routing.oncall_provider and self.routing.oncall_provider not in known:
            raise ValueError(f"routing.oncall_provider {self.routing.oncall_provider!r} is not in staff")
        for vip in self.vip_tiers:
            if vip.named_human not in known:
                raise ValueError(f"vip tier {vip.tier}: named_human {vip.named_human!r} is not in staff")
        if self.escalation.manager and self.escalation.manager not in known:
            raise ValueError(f"escalation.manager {self.escalation.manager!r} is not in staff")
        for table in (self.oncall.weekly, self.oncall.backup):
            for day, staff_id in table.items():
                member = self.staff_member(staff_id)
                if member is None:
                    raise ValueError(f"oncall {day}: {staff_id!r} is not in staff")
                if not member.clinical:
                    raise ValueError(f"oncall {day}: {staff_id!r} is not clinical staff")
        phones = [member.phone for member in self.staff if member.phone]
        if len(set(phones)) != len(phones):
            raise ValueError("two staff members have the same phone number (it decides who acknowledges a page)")
        for role in Role:
            lead = self.roles.for_role(role).lead
            if lead and lead not in known:
                raise ValueError(f"roles.{role.value}.lead {lead!r} is not in staff")
        return self

    def staff_by_user(self, platform: str, user_id: str) -> StaffMember | None:
        """The staff member with this messenger user id on `platform`."""
        if not user_id:
            return None
        return next((m for m in self.staff if m.user_on(platform) == user_id), None)

    def role_members(self, role: Role) -> frozenset[str]:
        """Configured members of a role as written (staff ids or messenger user ids), clinical staff included."""
        members = set(self.roles.for_role(role).members)
        if role is Role.CLINICAL:
            members |= {m.id for m in self.staff if m.clinical}
        return frozenset(members)

    def role_staff(self, role: Role) -> tuple[StaffMember, ...]:
        """The staff members a role lists, by staff id or by any of their messenger ids."""
        members = self.role_members(role)
        return tuple(m for m in self.staff if m.id in members or any(uid in members for _, uid in m.users))

    def staff_by_phone(self, phone: str) -> StaffMember | None:
        return next((m for m in self.staff if m.phone and m.phone == phone), None)

    def staff_member(self, staff_id: str) -> StaffMember | None:
        return next((m for m in self.staff if m.id == staff_id), None)

    def tier_name(self, tier: int | None) -> str:
        """"Platinum", not "1": the VIP tier's label, else the clinic's name for the tier."""
        if tier is None:
            return ""
        vip = self.vip_tier(tier)
        if vip is not None and vip.label:
            return vip.label
        return self.tiers.get(tier) or f"Tier {tier}"

    def vip_tier(self, tier: int | None) -> VipTier | None:
        if tier is None:
            return None
        return next((v for v in self.vip_tiers if v.tier == tier), None)
