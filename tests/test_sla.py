"""The clock: nudges at the due time, the ladders, business hours, backup pages, and two schedulers at once."""

from __future__ import annotations

import threading
from datetime import UTC, timedelta

from bot.cards.model import ActionId
from handlers.jobs import Jobs
from handlers.wiring import build_service
from tests.conftest import local
from tests.slack_clinic import CLINICAL_USER, DOCTOR, FRONT_DESK_USER, SlackClinic

BILLING_SMS = "why was i charged $480 twice?? i paid at checkout"
ADVERSE_SMS = "my lip has been swelling more since the filler yesterday and now it's turning purple"


def thread_of(clinic: SlackClinic, channel: str) -> list[str]:
    [card] = clinic.slack.messages(channel)
    return [reply["text"] for reply in clinic.slack.thread(channel, card["ts"])]


def card_now(clinic: SlackClinic, channel: str) -> str:
    [card] = clinic.slack.messages(channel)
    return str(clinic.slack.message(channel, card["ts"]))


def at(clinic: SlackClinic, when: object, jobs: Jobs) -> int:
    clinic.clock.set(when)  # type: ignore[arg-type]
    fired = jobs.sweep_sla()
    clinic.deliver()
    return fired


def test_unclaimed_ticket_climbs_the_ladder_once_per_step(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")  # Tuesday 10:30, billing: due in 30 min
    slack_clinic.deliver()
    assert at(slack_clinic, local(2026, 11, 24, 10, 59), jobs) == 0
    assert thread_of(slack_clinic, "billing") == []
    assert at(slack_clinic, local(2026, 11, 24, 11, 0), jobs) == 1
    assert thread_of(slack_clinic, "billing") == ["⏰ Unclaimed, due now — <!subteam^S0BILL>"]
    assert at(slack_clinic, local(2026, 11, 24, 11, 5), jobs) == 0  # each step fires once
    assert at(slack_clinic, local(2026, 11, 24, 11, 15), jobs) == 1
    assert at(slack_clinic, local(2026, 11, 24, 11, 40), jobs) == 1
    assert thread_of(slack_clinic, "billing") == [
        "⏰ Unclaimed, due now — <!subteam^S0BILL>",
        f"⏰ Unclaimed, overdue by 15 min — <@{FRONT_DESK_USER}>",
        "⏰ Unclaimed, overdue by 40 min — <@UBOSS>",
    ]
    assert "SLA: overdue by 40 min" in card_now(slack_clinic, "billing")  # the card shows the SLA state
    assert at(slack_clinic, local(2026, 11, 24, 16, 0), jobs) == 0


def test_a_claimed_ticket_is_not_nudged_and_shows_breach_or_met(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.deliver()
    slack_clinic.clock.set(local(2026, 11, 24, 10, 50))
    slack_clinic.click(FRONT_DESK_USER, ActionId.CLAIM, "1", "billing")
    assert at(slack_clinic, local(2026, 11, 24, 12, 0), jobs) == 0
    assert thread_of(slack_clinic, "billing") == ["Claimed by Jess"]
    assert "SLA: met" in card_now(slack_clinic, "billing")


def test_business_hours_pause_the_clock_and_it_resumes_next_morning(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.clock.set(local(2026, 11, 24, 16, 45))  # 15 open minutes left on Tuesday
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.deliver()
    assert slack_clinic.ticket().due_at == local(2026, 11, 25, 9, 15)
    assert "due Wed 09:15 (clinic closes 17:00, reopens Wed 09:00)" in card_now(slack_clinic, "billing")
    assert at(slack_clinic, local(2026, 11, 24, 17, 30), jobs) == 0
    assert at(slack_clinic, local(2026, 11, 25, 9, 14), jobs) == 0
    assert at(slack_clinic, local(2026, 11, 25, 9, 15), jobs) == 1
    assert at(slack_clinic, local(2026, 11, 25, 9, 30), jobs) == 1  # the lead, 15 open minutes later


def test_adverse_events_ignore_business_hours_and_page_the_backup(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.clock.set(local(2026, 11, 24, 21, 0))  # after hours
    slack_clinic.sms(ADVERSE_SMS, sender="+12125550101")
    slack_clinic.deliver()
    assert len(slack_clinic.slack.messages(DOCTOR)) == 1  # paged at once
    assert slack_clinic.ticket().due_at == local(2026, 11, 24, 21, 5)
    assert at(slack_clinic, local(2026, 11, 24, 21, 4), jobs) == 0
    assert at(slack_clinic, local(2026, 11, 24, 21, 5), jobs) == 2  # the role nudge and the backup page
    assert len(slack_clinic.slack.messages(CLINICAL_USER)) == 1  # the backup gets the card in a DM
    assert at(slack_clinic, local(2026, 11, 24, 21, 10), jobs) == 1  # the manager
    lines = thread_of(slack_clinic, "clinical")
    # Issue 7: the two coincident steps are one line; after hours only the page ladder pings (the backup by
    # the DM alone, not a mention as well), so the role nudge no longer wakes the whole clinical team.
    assert lines[0] == "🚨 Page not acknowledged after 5 min: backup (card sent by DM) · ⏰ Unclaimed, due now"
    assert lines[1] == "🚨 Page not acknowledged after 10 min: manager — <@UBOSS>"


def test_an_acknowledged_page_stops_the_page_ladder(slack_clinic: SlackClinic) -> None:
    jobs = Jobs(slack_clinic.service)
    slack_clinic.clock.set(local(2026, 11, 24, 21, 0))
    slack_clinic.sms(ADVERSE_SMS, sender="+12125550101")
    slack_clinic.deliver()
    slack_clinic.clock.set(local(2026, 11, 24, 21, 3))
    slack_clinic.click(DOCTOR, ActionId.ACKNOWLEDGE, "1", DOCTOR)
    slack_clinic.click(DOCTOR, ActionId.CLAIM, "1", DOCTOR)
    assert at(slack_clinic, local(2026, 11, 24, 21, 30), jobs) == 0
    assert slack_clinic.slack.messages(CLINICAL_USER) == []


def test_two_schedulers_on_one_database_send_each_nudge_once(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    slack_clinic.sms("Is it safe to get botox if I'm on blood thinners?", sender="+12125550101")
    slack_clinic.deliver()
    first = slack_clinic.service
    second = build_service(first.settings, first.twilio, first.config, clock=first.clock, poster=None,
                           messengers={})
    schedulers = [Jobs(first), Jobs(second)]
    fired: list[int] = []
    start = threading.Barrier(2)

    def sweep(jobs: Jobs) -> None:
        start.wait()
        fired.append(jobs.sweep_sla())

    slack_clinic.clock.set(local(2026, 11, 24, 12, 0))  # both tickets are past all three nudge steps
    threads = [threading.Thread(target=sweep, args=(jobs,)) for jobs in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(fired) == 6
    slack_clinic.deliver()
    # Issue 7: a catch-up is one message per ticket naming each person once (it was one per step).
    assert thread_of(slack_clinic, "billing") == [
        f"⏰ Unclaimed, overdue by 1 h — <!subteam^S0BILL> <@{FRONT_DESK_USER}> <@UBOSS>"]
    assert thread_of(slack_clinic, "clinical") == [
        f"⏰ Unclaimed, overdue by 1 h 20 min — <@{DOCTOR}> <@{CLINICAL_USER}> <@UBOSS>"]
    assert Jobs(second).sweep_sla() == 0 and Jobs(first).sweep_sla() == 0
    second.db.dispose()


def test_ladder_is_frozen_when_routed(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_SMS, sender="+12125550104")
    steps = slack_clinic.ticket().escalation["steps"]
    # Keys carry the moment the plan was made (issue 7: a re-routed ticket gets a fresh ladder, not claimed keys).
    assert [(s["key"], s["notify"]) for s in steps] == [
        ("billing:nudge:0:20261124T153000", "role"), ("billing:nudge:1:20261124T153000", "lead"),
        ("billing:nudge:2:20261124T153000", "manager")]
    assert [s["at"] for s in steps] == [local(2026, 11, 24, 11, m).astimezone(UTC).isoformat() for m in (0, 15, 30)]
    assert timedelta(minutes=30) == slack_clinic.ticket().due_at - slack_clinic.ticket().created_at
