"""Issue 7, point 3 (and point 11's acknowledged page): every ping worth the interruption.

Everything goes through the real path: signed SMS webhooks in, the Slack app for clicks, the SLA sweep run as
`handlers/jobs.py` runs it with the clock moved by hand, the outbox delivered to the local Slack stand-in, and
the assertions read what Slack received.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.cards.model import ActionId
from bot.mentions import Mention, MentionKind
from bot.storage.models import TicketEventRow, TicketRow
from bot.tickets.events import EventKind
from handlers.jobs import Jobs
from integrations.slack.mentions import with_mentions
from tests.conftest import local
from tests.slack_clinic import CLINICAL_USER, DOCTOR, FRONT_DESK_USER, SlackClinic

MENTION = re.compile(r"<@(U[A-Z0-9]+)>|<!subteam\^(S[A-Z0-9]+)>|<!here>")
STAFF_DM = {DOCTOR, CLINICAL_USER, FRONT_DESK_USER, "UBOSS", "UMARCO"}

ADVERSE_EN = "my lip has been swelling more since the filler yesterday and now it's turning purple"
ADVERSE_ES = "me pusieron relleno en los labios el jueves y hoy amanecí con el labio muy hinchado y morado"
BILLING_EN = "why was i charged $480 twice?? i paid at checkout"
BILLING_ES = "me cobraron dos veces la consulta, ¿me pueden ayudar?"
CLINICAL_ES = "¿puedo tomar ibuprofeno antes de mi cita de botox?"
FRONT_DESK = ["where do i park?", "¿dónde me estaciono?", "do u do brow lamination"]  # no answer in the book


# --- helpers: read what Slack got ------------------------------------------------------------------------------

def posts(clinic: SlackClinic, since: int = 0) -> list[dict[str, Any]]:
    """Every chat.postMessage that landed, in order (cards, thread lines, channel posts, DMs)."""
    return [call.args for call in clinic.slack.calls("chat.postMessage")[since:] if not call.failed]


def mentioned(args: dict[str, Any]) -> set[str]:
    """Who one post pings: user ids, user-group ids, or "here" (text and blocks both, each once)."""
    found = set()
    for match in MENTION.finditer(f"{args.get('text', '')} {args.get('blocks', '')}"):
        found.add(match.group(1) or match.group(2) or "here")
    return found


def pings(clinic: SlackClinic, since: int = 0) -> Counter[str]:
    """Pings per person: each mention in a post, and each DM (a page) to a staff member."""
    counted: Counter[str] = Counter()
    for args in posts(clinic, since):
        if args["channel"] in STAFF_DM:
            counted[f"DM {args['channel']}"] += 1  # Slack notifies nobody else named in a DM they are not in
        else:
            counted.update(mentioned(args))
    return counted


def thread_of(clinic: SlackClinic, channel: str, index: int = 0) -> list[str]:
    card = clinic.slack.messages(channel)[index]
    return [reply["text"] for reply in clinic.slack.thread(channel, card["ts"])]


def top_level(clinic: SlackClinic, channel: str) -> list[str]:
    """Channel posts that are not cards (cards carry blocks)."""
    return [m["text"] for m in clinic.slack.messages(channel) if not m["blocks"]]


def sweep_at(clinic: SlackClinic, jobs: Jobs, when: datetime) -> int:
    clinic.clock.set(when)
    fired = jobs.sweep_sla()
    clinic.deliver()
    return fired


def sweep_minutes(clinic: SlackClinic, jobs: Jobs, until: datetime) -> int:
    """The scheduler's sweep every minute from now to `until` (as the demo and `serve` run it)."""
    fired = 0
    while clinic.clock.now() < until:
        fired += sweep_at(clinic, jobs, min(clinic.clock.now() + timedelta(minutes=1), until))
    return fired


def nudges(clinic: SlackClinic) -> list[TicketEventRow]:
    with clinic.service.db.transaction() as session:
        return list(session.scalars(select(TicketEventRow).where(TicketEventRow.kind == EventKind.NUDGED.value)
                                    .order_by(TicketEventRow.id)))


def tickets(clinic: SlackClinic) -> list[TicketRow]:
    with clinic.service.db.transaction() as session:
        return list(session.scalars(select(TicketRow).order_by(TicketRow.id)))


def sms_at(clinic: SlackClinic, when: datetime, body: str, sender: str) -> None:
    clinic.clock.set(when)
    clinic.sms(body, sender=sender)
    clinic.deliver()


# --- other tickets: quiet ------------------------------------------------------------------------------------

QUIET = ["👍", "gracias!!", "número equivocado", "STOP",
         "Hi this is Kyle from GlowLeads, we help med spas get 40+ new patients a month, got 10 min this week?",
         "thank you so much, Jess was amazing today!!", "perdón, número equivocado", "muchas gracias por todo 🙏",
         "wrong number sorry", "BAJA"]


def test_other_tickets_never_climb_the_ladder_nor_mention_anyone(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    for index, body in enumerate(QUIET):
        sms_at(slack_clinic, local(2026, 11, 24, 10, 30 + index), body, sender=f"+1646555{index:04d}")
    quiet = [t for t in tickets(slack_clinic) if t.category == "other"]
    assert len(quiet) >= len(QUIET) - 2  # STOP / BAJA may become opt-outs rather than tickets: still no pings
    assert all(t.escalation["steps"] == [] for t in quiet)
    first = len(posts(slack_clinic))
    for when in (local(2026, 11, 24, 11, 0), local(2026, 11, 24, 14, 45), local(2026, 11, 24, 16, 59),
                 local(2026, 11, 25, 12, 0)):  # past the 240-minute SLA and every rung after it
        assert sweep_at(slack_clinic, jobs, when) == 0
    assert posts(slack_clinic, first) == [] and nudges(slack_clinic) == []
    assert all(not mentioned(args) for args in posts(slack_clinic))
    # They collect quietly and show in the managers' digest, which pings nobody either.
    slack_clinic.clock.set(local(2026, 11, 24, 18, 30))
    jobs.digest(local(2026, 11, 24, 0, 0).date())
    slack_clinic.deliver()
    [digest] = top_level(slack_clinic, "managers")
    assert f"Other {len(quiet)}" in digest and "*Pings today:* none" in digest


def test_an_other_ticket_raised_by_a_real_request_gets_a_ladder(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), "gracias!!", sender="+16465550001")
    sms_at(slack_clinic, local(2026, 11, 24, 10, 40), BILLING_ES, sender="+16465550001")
    [ticket] = tickets(slack_clinic)
    assert ticket.category == "billing" and len(ticket.escalation["steps"]) == 3
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 11, 10)) == 1
    assert thread_of(slack_clinic, "billing")[-1] == "⏰ Unclaimed, due now — <!subteam^S0BILL>"


# --- one ping per person per ticket per step ------------------------------------------------------------------

def test_the_role_nudge_and_the_backup_page_are_one_ping_each(slack_clinic: SlackClinic) -> None:
    """The issue's example: the backup provider was pinged twice in the same minute."""
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), ADVERSE_EN, sender="+12125550101")
    before = len(posts(slack_clinic))
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 10, 35)) == 2  # both steps fire, and are audited
    assert pings(slack_clinic, before) == Counter({f"DM {CLINICAL_USER}": 1, DOCTOR: 1})
    assert thread_of(slack_clinic, "clinical") == [
        "🚨 Page not acknowledged after 5 min: backup (card sent by DM) · ⏰ Unclaimed, due now"
        f" — <@{DOCTOR}>"]
    role, backup = nudges(slack_clinic)
    assert (role.data["notify"], backup.data["notify"]) == ("role", "backup")
    assert role.data["message"] == backup.data["message"]  # one message carried both steps
    assert role.data["mentioned"] == [{"kind": "user", "id": DOCTOR, "staff": "dr-lee"}]
    assert backup.data["mentioned"] == [] and backup.data["carded"] == ["nurse"]


def test_a_catch_up_after_downtime_names_each_person_once(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), CLINICAL_ES, sender="+12125550103")
    before = len(posts(slack_clinic))
    # The scheduler was down from 10:30 to 12:00: role (Dr. Lee, Nurse Kim), lead (Nurse Kim), manager, all due.
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 12, 0)) == 3
    assert pings(slack_clinic, before) == Counter({DOCTOR: 1, CLINICAL_USER: 1, "UBOSS": 1})
    assert thread_of(slack_clinic, "clinical") == [
        f"⏰ Unclaimed, overdue by 1 h 20 min — <@{DOCTOR}> <@{CLINICAL_USER}> <@UBOSS>"]
    assert [e.data["notify"] for e in nudges(slack_clinic)] == ["role", "lead", "manager"]
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 13, 0)) == 0


def test_a_catch_up_of_a_page_ladder_is_one_message_too(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), ADVERSE_ES, sender="+12125550103")
    before = len(posts(slack_clinic))
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 10, 41)) == 3  # role, backup page, manager page
    assert pings(slack_clinic, before) == Counter({f"DM {CLINICAL_USER}": 1, DOCTOR: 1, "UBOSS": 1})
    [line] = thread_of(slack_clinic, "clinical")
    assert line.startswith("🚨 Page not acknowledged after 11 min: backup (card sent by DM), manager · ⏰ Unclaimed")


# --- a raised ticket starts its ladder afresh -----------------------------------------------------------------

def test_a_raised_ticket_does_not_fire_every_past_step_at_once(slack_clinic: SlackClinic) -> None:
    """The issue's example: raised to a higher category, it pinged role, lead and manager in the same second."""
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), "where do i park?", sender="+12125550101")
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 11, 10)) == 3  # front desk: role, lead, manager
    sms_at(slack_clinic, local(2026, 11, 24, 11, 10), ADVERSE_EN, sender="+12125550101")
    [ticket] = tickets(slack_clinic)
    assert ticket.category == "adverse_event"
    assert min(datetime.fromisoformat(s["at"]) for s in ticket.escalation["steps"]) == local(2026, 11, 24, 11, 15)
    before = len(posts(slack_clinic))
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 11, 14)) == 0  # nothing from the past
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 11, 15)) == 2  # the new ladder's first rung
    assert pings(slack_clinic, before) == Counter({f"DM {CLINICAL_USER}": 1, DOCTOR: 1})
    assert thread_of(slack_clinic, "clinical")[-1].startswith("🚨 Page not acknowledged after 5 min: backup")


def test_a_billing_ticket_raised_to_clinical_gets_the_clinical_ladder_from_the_raise(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), BILLING_ES, sender="+12125550103")
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 11, 45)) == 3
    sms_at(slack_clinic, local(2026, 11, 24, 11, 45), CLINICAL_ES, sender="+12125550103")
    [ticket] = tickets(slack_clinic)
    assert ticket.category == "clinical" and ticket.due_at == local(2026, 11, 24, 11, 0)  # the SLA is not reset
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 11, 54)) == 0
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 11, 55)) == 1  # 10 min after the raise: the role
    assert thread_of(slack_clinic, "clinical")[-1] == (
        f"⏰ Unclaimed, overdue by 55 min — <@{DOCTOR}> <@{CLINICAL_USER}>")
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 12, 10)) == 1  # then the lead, 15 min on


def test_a_faq_raised_to_billing_before_its_due_keeps_one_ladder(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), "do u do brow lamination", sender="+12125550104")
    sms_at(slack_clinic, local(2026, 11, 24, 10, 32), BILLING_EN, sender="+12125550104")
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 11, 1)) == 0  # no front-desk step survives
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 11, 2)) == 1
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 12, 0)) == 2
    assert [e.data["notify"] for e in nudges(slack_clinic)] == ["role", "lead", "manager"]


# --- several overdue tickets in one channel: one message ------------------------------------------------------

def test_overdue_tickets_in_one_channel_are_one_channel_message(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    for minute, body, sender in zip((30, 32, 33), FRONT_DESK, ("+16465550001", "+16465550002", "+16465550003"),
                                    strict=True):
        sms_at(slack_clinic, local(2026, 11, 24, 10, minute), body, sender)
    assert len(slack_clinic.slack.messages("front-desk")) == 3  # three cards, none answered by the bot
    before = len(posts(slack_clinic))
    # Due 10:35, 10:37, 10:38: the first waits for the others (at most BATCH_MINUTES), then one post.
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 10, 37)) == 0
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 10, 38)) == 3
    assert top_level(slack_clinic, "front-desk") == [
        f"⏰ 3 tickets unclaimed and overdue: #1 faq (overdue 3 min), #2 faq (1 min), #3 faq (0 min)"
        f" — <@{FRONT_DESK_USER}> <@UMARCO>"]
    assert all(thread_of(slack_clinic, "front-desk", i) == [] for i in range(3))
    assert pings(slack_clinic, before) == Counter({FRONT_DESK_USER: 1, "UMARCO": 1})
    events = nudges(slack_clinic)
    assert sorted(e.ticket_id for e in events) == [1, 2, 3] and len({e.data["message"] for e in events}) == 1
    assert Jobs(slack_clinic.service).sweep_sla() == 0  # each step claimed once
    # The leads' rung comes the same way: one message, Jess once.
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 10, 53)) == 3
    assert top_level(slack_clinic, "front-desk")[-1] == (
        f"⏰ 3 tickets unclaimed and overdue: #1 faq (overdue 18 min), #2 faq (16 min), #3 faq (15 min)"
        f" — <@{FRONT_DESK_USER}>")


def test_a_claimed_ticket_leaves_the_batch_and_a_lone_one_stays_in_its_thread(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    for minute, body, sender in zip((30, 32), FRONT_DESK[:2], ("+16465550001", "+16465550002"), strict=True):
        sms_at(slack_clinic, local(2026, 11, 24, 10, minute), body, sender)
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 10, 35, 30)) == 0  # #1 waits: #2 is due 10:37
    slack_clinic.clock.set(local(2026, 11, 24, 10, 36))
    slack_clinic.click(FRONT_DESK_USER, ActionId.CLAIM, "2", "front-desk")
    slack_clinic.deliver()
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 10, 36, 30)) == 1
    assert top_level(slack_clinic, "front-desk") == []
    assert thread_of(slack_clinic, "front-desk", 0) == [
        f"⏰ Unclaimed, overdue by 1 min — <@{FRONT_DESK_USER}> <@UMARCO>"]  # waited for #2, then went alone


def test_billing_tickets_a_few_minutes_apart_are_batched_with_the_group_mention(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), BILLING_EN, sender="+12125550104")
    sms_at(slack_clinic, local(2026, 11, 24, 10, 33), BILLING_ES, sender="+16465550009")
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 11, 2)) == 0
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 11, 3)) == 2
    assert top_level(slack_clinic, "billing") == [
        "⏰ 2 tickets unclaimed and overdue: #1 billing (overdue 3 min), #2 billing (0 min) — <!subteam^S0BILL>"]


# --- after hours: only adverse-event pages mention anyone ----------------------------------------------------

def test_a_catch_up_after_closing_waits_for_the_opening(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 16, 0), BILLING_ES, sender="+12125550103")  # due 16:30, closes 17:00
    before = len(posts(slack_clinic))
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 24, 17, 30)) == 0  # scheduler was down; now closed
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 25, 8, 59)) == 0
    assert posts(slack_clinic, before) == []
    assert sweep_at(slack_clinic, jobs, local(2026, 11, 25, 9, 0)) == 3  # the opening: one message for all three
    assert thread_of(slack_clinic, "billing") == [
        f"⏰ Unclaimed, overdue by 16 h 30 min — <!subteam^S0BILL> <@{FRONT_DESK_USER}> <@UBOSS>"]


def test_after_hours_the_role_ladder_of_a_paged_adverse_event_mentions_nobody(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 21, 0), ADVERSE_ES, sender="+12125550103")
    sms_at(slack_clinic, local(2026, 11, 24, 21, 1), BILLING_EN, sender="+12125550104")  # waits for the morning
    before = len(posts(slack_clinic))
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 23, 0)) == 5  # role, backup, manager, lead, manager
    assert pings(slack_clinic, before) == Counter({f"DM {CLINICAL_USER}": 1, "UBOSS": 1})  # the page ladder only
    assert thread_of(slack_clinic, "clinical")[2:] == [
        "⏰ Unclaimed, overdue by 15 min (after hours: nobody mentioned)",
        "⏰ Unclaimed, overdue by 30 min (after hours: nobody mentioned)"]
    assert thread_of(slack_clinic, "billing") == []


# --- an acknowledged page is a response -----------------------------------------------------------------------

def test_an_acknowledged_page_stops_every_nudge(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), ADVERSE_EN, sender="+12125550101")
    slack_clinic.clock.set(local(2026, 11, 24, 10, 33))
    slack_clinic.click(DOCTOR, ActionId.ACKNOWLEDGE, "1", DOCTOR)  # acknowledged, not claimed
    slack_clinic.deliver()
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 12, 0)) == 0
    assert [t for t in thread_of(slack_clinic, "clinical") if "overdue" in t or "🚨" in t] == []
    assert slack_clinic.slack.messages(CLINICAL_USER) == []


def test_a_page_acknowledged_after_the_first_rung_stops_the_rest(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), ADVERSE_ES, sender="+12125550103")
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 10, 36)) == 2
    slack_clinic.click(CLINICAL_USER, ActionId.ACKNOWLEDGE, "1", CLINICAL_USER)
    slack_clinic.deliver()
    before = len(posts(slack_clinic))
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 12, 0)) == 0  # no manager page, lead, manager
    assert pings(slack_clinic, before) == Counter()


def test_an_acknowledged_page_after_hours_stops_the_quiet_lines_too(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 21, 0), ADVERSE_EN, sender="+12125550101")
    slack_clinic.clock.set(local(2026, 11, 24, 21, 2))
    slack_clinic.click(DOCTOR, ActionId.ACKNOWLEDGE, "1", DOCTOR)
    slack_clinic.deliver()
    assert sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 22, 0)) == 0


# --- pings counted in the digest ------------------------------------------------------------------------------

def test_the_digest_counts_pings_per_person(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), ADVERSE_EN, sender="+12125550101")
    sms_at(slack_clinic, local(2026, 11, 24, 10, 30), BILLING_EN, sender="+12125550104")
    sms_at(slack_clinic, local(2026, 11, 24, 10, 31), FRONT_DESK[0], sender="+16465550001")
    sms_at(slack_clinic, local(2026, 11, 24, 10, 32), FRONT_DESK[1], sender="+16465550002")
    sweep_minutes(slack_clinic, jobs, local(2026, 11, 24, 12, 0))
    jobs.digest(local(2026, 11, 24, 0, 0).date())
    slack_clinic.deliver()
    [digest] = top_level(slack_clinic, "managers")
    # What Slack received, counted independently: a page is its DM (the card's mention of the on-call provider
    # goes with the page, so it is not a second count), and each post names each person once.
    seen = pings(slack_clinic)
    on_call_card_mentions = 1
    # UMARCO is a front-desk member the config has no staff entry for: counted under the messenger id.
    assert seen == Counter({"UBOSS": 4, DOCTOR: 1 + on_call_card_mentions, f"DM {DOCTOR}": 1, CLINICAL_USER: 1,
                            f"DM {CLINICAL_USER}": 1, FRONT_DESK_USER: 3, "UMARCO": 1, "S0BILL": 1})
    assert "*Pings today:* Morgan 4, Jess 3, Dr. Lee 2, Nurse Kim 2, UMARCO 1, billing group 1" in digest
    # Nudges record who they pinged as staff ids and role names, never messenger syntax.
    recorded = [m for e in nudges(slack_clinic) for m in e.data["mentioned"]]
    assert {"kind": "group", "id": "S0BILL", "role": "billing"} in recorded
    assert all("<" not in str(m) for m in recorded)


def test_slack_renders_each_kind_of_mention_in_one_place() -> None:
    mentions = [Mention(MentionKind.USER, "U1", staff="jess"), Mention(MentionKind.GROUP, "S1", role="billing"),
                Mention(MentionKind.HERE, role="managers")]
    assert with_mentions("⏰ Unclaimed", mentions) == "⏰ Unclaimed — <@U1> <!subteam^S1> <!here>"
    assert with_mentions("⏰ Unclaimed", []) == "⏰ Unclaimed"
    assert Mention.all_from_json([m.as_json() for m in mentions]) == tuple(mentions)
