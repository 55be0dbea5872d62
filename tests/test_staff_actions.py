"""Staff actions through the real Slack path (issue 7, points 11 and 12): signed clicks and modal submissions
into the Bolt app, a real SQLite database, the Slack stand-in. Each refusal is checked to change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.cards.model import ActionId
from bot.domain import TicketStatus
from bot.storage.models import OutboxRow, TicketEventRow
from handlers.slack.ids import ModalCallback
from handlers.slack.modals import CATEGORY_BLOCK, CATEGORY_INPUT, REASON_BLOCK, REASON_INPUT, TARGET_BLOCK, TARGET_INPUT
from tests.slack_clinic import CLINICAL_USER, DOCTOR, FRONT_DESK_USER, SlackClinic, blocks, stored

MARCO, BOSS = "UMARCO", "UBOSS"  # front desk only; the manager
OLIVIA, HARPER, SOFIA, DANIEL = "+12125550101", "+12125550102", "+12125550103", "+12125550104"
ADVERSE_EN = "my lip has been swelling more since the filler yesterday and now it's turning purple"
ADVERSE_ES = "me salió un sarpullido en la barbilla desde el peeling y se está extendiendo, me arde mucho"
CLINICAL_EN = "Is it safe to get botox if I'm on blood thinners?"
CLINICAL_ES = "tengo diabetes tipo 2, ¿puedo hacerme microneedling?"
BILLING_EN = "why was i charged $480 twice?? i paid at checkout"
BILLING_ES = "¿por qué me cobraron dos veces la consulta? ya pagué en la recepción"
NOBODY_ON_CALL = 'routing:\n  oncall_provider: ""\n'
NOT_AE = "only the clinical team or a manager can escalate an adverse event ticket"


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]


def events(sc: SlackClinic, ticket_id: int = 1) -> list[TicketEventRow]:
    with sc.service.db.transaction() as session:
        return list(session.scalars(select(TicketEventRow).where(TicketEventRow.ticket_id == ticket_id)
                                    .order_by(TicketEventRow.id)))


def state(sc: SlackClinic, ticket_id: int = 1) -> dict[str, Any]:
    """Everything a refused action must leave as it was: the ticket, its audit trail (but the refusal), the outbox."""
    t = sc.ticket(ticket_id)
    with sc.service.db.transaction() as session:
        outbox = len(session.scalars(select(OutboxRow.id)).all())
    return {"version": t.version, "status": t.status, "role": t.role, "category": t.category, "urgency": t.urgency,
            "claimed_by": t.claimed_by, "paged": t.paged, "due_at": t.due_at, "escalation": t.escalation,
            "events": [e.kind for e in events(sc, ticket_id) if e.kind != "refused"], "outbox": outbox}


def refusals(sc: SlackClinic, ticket_id: int = 1) -> list[tuple[str, str]]:
    return [(e.actor, e.data["act"]) for e in events(sc, ticket_id) if e.kind == "refused"]


def escalate(sc: SlackClinic, user: str, target: str, ticket_id: int = 1, reason: str = "please look") -> None:
    sc.submit(user, ModalCallback.ESCALATE, ticket_id, {
        TARGET_BLOCK: {TARGET_INPUT: {"type": "static_select", "selected_option": {"value": target}}},
        REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": reason}}})


def reclassify(sc: SlackClinic, user: str, category: str, ticket_id: int = 1) -> None:
    sc.submit(user, ModalCallback.RECLASSIFY, ticket_id, {
        CATEGORY_BLOCK: {CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": category}}}})


def notices(sc: SlackClinic, user: str) -> list[str]:
    return [e["text"] for e in sc.slack.ephemerals(user=user)]


# --- escalate checks permission before it acts ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "sender", "user", "target", "reason"), [
    # The example: the front desk sends an adverse event out of the clinical channel into billing.
    (ADVERSE_EN, OLIVIA, FRONT_DESK_USER, "billing", NOT_AE),
    (ADVERSE_ES, SOFIA, FRONT_DESK_USER, "manager", NOT_AE),
    (CLINICAL_ES, SOFIA, MARCO, "billing", "only the clinical team or a manager can escalate a clinical ticket"),
    # Not even the clinical team sends a medical ticket to billing: it is reclassified first if it is not medical.
    (ADVERSE_EN, OLIVIA, CLINICAL_USER, "billing",
     "an adverse event ticket cannot be escalated to billing; the clinical team can reclassify it first"),
    (CLINICAL_EN, OLIVIA, CLINICAL_USER, "billing",
     "a clinical ticket cannot be escalated to billing; the clinical team can reclassify it first"),
])
def test_a_medical_ticket_cannot_be_escalated_out_of_the_clinical_team(
        slack_clinic: SlackClinic, text: str, sender: str, user: str, target: str, reason: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    assert slack_clinic.ticket().role == "clinical"
    before = state(slack_clinic)
    escalate(slack_clinic, user, target)  # a modal opened earlier, or a forged submission
    slack_clinic.deliver()
    assert state(slack_clinic) == before
    assert refusals(slack_clinic) == [(stored(user), "escalate")]
    assert notices(slack_clinic, user) == [f"Sorry: {reason}."]
    assert slack_clinic.slack.messages("billing") == [] and slack_clinic.slack.messages("managers") == []


@pytest.mark.parametrize(("text", "sender"), [(ADVERSE_EN, OLIVIA), (ADVERSE_ES, SOFIA), (CLINICAL_EN, OLIVIA)])
def test_the_escalate_dialog_does_not_open_for_someone_who_may_not_escalate(slack_clinic: SlackClinic, text: str,
                                                                            sender: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    before = state(slack_clinic)
    slack_clinic.click(FRONT_DESK_USER, ActionId.ESCALATE, "1")
    assert slack_clinic.slack.calls("views.open") == []
    [notice] = notices(slack_clinic, FRONT_DESK_USER)
    assert notice.startswith("Sorry: only the clinical team or a manager can escalate")
    assert state(slack_clinic) == before and refusals(slack_clinic) == [(stored(FRONT_DESK_USER), "escalate")]
    slack_clinic.click(CLINICAL_USER, ActionId.ESCALATE, "1")
    assert slack_clinic.slack.calls("views.open")[0].args["view"]["callback_id"] == ModalCallback.ESCALATE


@pytest.mark.parametrize(("text", "sender"), [(BILLING_EN, DANIEL), (BILLING_ES, SOFIA)])
def test_only_the_tickets_team_a_provider_or_a_manager_escalates_it(slack_clinic: SlackClinic, text: str,
                                                                    sender: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    before = state(slack_clinic)
    escalate(slack_clinic, MARCO, "manager")  # front desk, not billing
    assert state(slack_clinic) == before
    assert notices(slack_clinic, MARCO) == [
        "Sorry: only the billing team, the clinical team or a manager can escalate this ticket."]
    escalate(slack_clinic, FRONT_DESK_USER, "manager")  # Jess is on the billing team
    slack_clinic.deliver()
    assert slack_clinic.ticket().role == "managers" and len(slack_clinic.slack.messages("managers")) == 1


# --- escalating to on-call when nobody is on call --------------------------------------------------------------

@pytest.mark.clinic_yaml(NOBODY_ON_CALL)
@pytest.mark.parametrize(("text", "sender", "before_escalating"), [
    (CLINICAL_EN, OLIVIA, "resolve"),  # the example: it used to reopen the ticket, unaudited, cardless
    (CLINICAL_ES, SOFIA, "claim"),
    (ADVERSE_ES, SOFIA, "nothing"),
])
def test_escalating_to_on_call_with_nobody_on_call_changes_nothing(
        slack_clinic: SlackClinic, text: str, sender: str, before_escalating: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    if before_escalating == "resolve":
        slack_clinic.click(CLINICAL_USER, ActionId.MORE, "", option="triage_resolve:1")
    elif before_escalating == "claim":
        slack_clinic.click(CLINICAL_USER, ActionId.CLAIM, "1")
    slack_clinic.deliver()
    cards = slack_clinic.slack.messages("clinical")
    before = state(slack_clinic)
    escalate(slack_clinic, CLINICAL_USER, "oncall", reason="needs a provider now")
    slack_clinic.deliver()
    assert state(slack_clinic) == before  # not reopened, not unclaimed, nothing queued
    assert refusals(slack_clinic) == [(stored(CLINICAL_USER), "escalate")]
    [refused] = [e for e in events(slack_clinic) if e.kind == "refused"]
    assert refused.data["reason"] == "nobody is on call right now (see the on-call rota)"
    assert notices(slack_clinic, CLINICAL_USER) == ["Sorry: nobody is on call right now (see the on-call rota)."]
    assert slack_clinic.slack.messages("clinical") == cards


# --- a raise by any route re-routes and pages ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "sender", "old_channel"), [
    (BILLING_EN, DANIEL, "billing"),  # the example
    (BILLING_ES, SOFIA, "billing"),
    ("do you guys do brow lamination?", "+12125550177", "front-desk"),
])
def test_reclassifying_to_adverse_event_moves_the_ticket_restarts_its_sla_and_pages(
        slack_clinic: SlackClinic, text: str, sender: str, old_channel: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    [old] = slack_clinic.slack.messages(old_channel)
    first_due = slack_clinic.ticket().due_at
    assert first_due is not None
    slack_clinic.clock.advance(timedelta(minutes=3))
    reclassified_at = slack_clinic.clock.now()
    reclassify(slack_clinic, CLINICAL_USER, "adverse_event")
    slack_clinic.deliver()
    ticket = slack_clinic.ticket()
    assert (ticket.category, ticket.urgency, ticket.role, ticket.paged) == (
        "adverse_event", "critical", "clinical", "dr-lee")
    # The adverse-event SLA (5 wall-clock minutes), unless the old due time was sooner still.
    assert ticket.due_at == min(first_due, reclassified_at + timedelta(minutes=5))
    assert any(step["key"].startswith("adverse_event:page:") for step in ticket.escalation["steps"])
    [card] = slack_clinic.slack.messages("clinical")
    assert card["text"].startswith(f"<@{DOCTOR}>") and ActionId.ACKNOWLEDGE in buttons(card)
    assert "Reclassified from" in blocks(card)
    assert len(slack_clinic.slack.messages(DOCTOR)) == 1  # the on-call provider is paged by DM
    assert "Moved to #clinical" in blocks(slack_clinic.slack.message(old_channel, old["ts"]))
    kinds = [e.kind for e in events(slack_clinic)]
    assert kinds.index("reclassified") < len(kinds) - 1 - kinds[::-1].index("routed")
    assert notices(slack_clinic, CLINICAL_USER) == [
        "Reclassified as adverse_event; the correction is kept for training. Moved to #clinical. "
        "The on-call provider is paged."]


@pytest.mark.parametrize(("text", "sender", "target", "category", "paged"), [
    ("do you guys do brow lamination?", "+12125550177", "oncall", "clinical", "dr-lee"),
    (BILLING_ES, SOFIA, "clinical", "clinical", None),
    (BILLING_EN, DANIEL, "oncall", "clinical", "dr-lee"),
])
def test_escalating_to_the_providers_is_a_raise(slack_clinic: SlackClinic, text: str, sender: str, target: str,
                                                category: str, paged: str | None) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    slack_clinic.click(FRONT_DESK_USER, ActionId.CLAIM, "1", "front-desk")
    escalate(slack_clinic, FRONT_DESK_USER, target, reason="sounds medical")
    slack_clinic.deliver()
    ticket = slack_clinic.ticket()
    assert (ticket.category, ticket.role, ticket.paged, ticket.status, ticket.claimed_by) == (
        category, "clinical", paged, "open", None)  # handed over unclaimed
    [card] = slack_clinic.slack.messages("clinical")
    assert "Escalated from #" in blocks(card)
    assert len(slack_clinic.slack.messages(DOCTOR)) == (1 if paged else 0)


@pytest.mark.parametrize(("text", "sender", "category", "channel"), [
    (CLINICAL_EN, OLIVIA, "booking", "front-desk"),
    (CLINICAL_ES, SOFIA, "billing", "billing"),
])
def test_reclassifying_down_hands_the_ticket_over_unclaimed(slack_clinic: SlackClinic, text: str, sender: str,
                                                            category: str, channel: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    slack_clinic.click(CLINICAL_USER, ActionId.CLAIM, "1")
    reclassify(slack_clinic, CLINICAL_USER, category)
    slack_clinic.deliver()
    ticket = slack_clinic.ticket()
    assert (ticket.category, ticket.status, ticket.claimed_by) == (category, "open", None)
    assert len(slack_clinic.slack.messages(channel)) == 1


# --- every status change is a transition with its audit event --------------------------------------------------

def test_every_status_change_is_audited_by_the_code_that_makes_it(slack_clinic: SlackClinic) -> None:
    slack_clinic.sms(BILLING_EN, sender=DANIEL)
    slack_clinic.deliver()
    for user, action, option in ((FRONT_DESK_USER, ActionId.CLAIM, None), (FRONT_DESK_USER, ActionId.UNCLAIM, None),
                                 (FRONT_DESK_USER, ActionId.MORE, "triage_resolve:1")):
        slack_clinic.click(user, action, "1" if option is None else "", "billing", option=option)
    escalate(slack_clinic, FRONT_DESK_USER, "manager", reason="patient called back angry")  # reopens it
    changes = [(e.kind, e.actor, e.data["from_status"], e.data["to_status"]) for e in events(slack_clinic)
               if "to_status" in e.data]
    jess = stored(FRONT_DESK_USER)
    assert changes == [("claimed", jess, "open", "claimed"), ("unclaimed", jess, "claimed", "open"),
                       ("resolved", jess, "open", "resolved"), ("escalated", jess, "resolved", "open")]
    assert slack_clinic.ticket().status == "open"


def test_move_writes_its_event_and_an_illegal_move_writes_nothing(slack_clinic: SlackClinic) -> None:
    from bot.storage.models import TicketRow
    from bot.tickets.events import EventKind
    from bot.tickets.store import move
    from bot.tickets.transitions import TransitionError

    slack_clinic.sms(BILLING_ES, sender=SOFIA)
    now = slack_clinic.clock.now()
    with slack_clinic.service.db.transaction() as session:
        ticket = session.get(TicketRow, 1)
        assert ticket is not None
        move(session, ticket, TicketStatus.RESOLVED, event=EventKind.RESOLVED, actor="UTEST", at=now,
             data={"by_name": "Test"}, resolved_at=now)
    last = events(slack_clinic)[-1]
    assert (last.kind, last.actor, last.data["from_status"], last.data["to_status"]) == (
        "resolved", "UTEST", "open", "resolved")
    before = state(slack_clinic)
    with pytest.raises(TransitionError), slack_clinic.service.db.transaction() as session:
        ticket = session.get(TicketRow, 1)
        assert ticket is not None
        move(session, ticket, TicketStatus.CLAIMED, event=EventKind.CLAIMED, actor="UTEST", at=now)
    assert state(slack_clinic) == before


# --- refuse before the dialog opens (point 11) -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "sender", "clicks", "reason"), [
    (CLINICAL_EN, OLIVIA, (ActionId.REPLY, "1", None), "only the clinical team can reply to a clinical ticket"),
    (ADVERSE_ES, SOFIA, (ActionId.REPLY, "1", None), "only the clinical team can reply to an adverse event ticket"),
    (CLINICAL_ES, SOFIA, (ActionId.MORE, "", "triage_reclassify:1"),
     "only the clinical team can move a ticket into or out of clinical categories"),
])
def test_a_refused_dialog_does_not_open(slack_clinic: SlackClinic, text: str, sender: str,
                                        clicks: tuple[str, str, str | None], reason: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    before = state(slack_clinic)
    action, value, option = clicks
    slack_clinic.click(FRONT_DESK_USER, action, value, option=option)
    assert slack_clinic.slack.calls("views.open") == []  # nothing to type into and lose
    assert notices(slack_clinic, FRONT_DESK_USER) == [f"Sorry: {reason}."]
    assert state(slack_clinic) == before and len(refusals(slack_clinic)) == 1
    slack_clinic.click(CLINICAL_USER, action, value, option=option)
    assert len(slack_clinic.slack.calls("views.open")) == 1


@pytest.mark.parametrize(("text", "sender"), [(BILLING_EN, DANIEL), (BILLING_ES, SOFIA)])
def test_unclaiming_someone_elses_ticket_is_refused_and_audited(slack_clinic: SlackClinic, text: str,
                                                                sender: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    slack_clinic.click(FRONT_DESK_USER, ActionId.CLAIM, "1", "billing")
    before = state(slack_clinic)
    slack_clinic.click(MARCO, ActionId.UNCLAIM, "1", "billing")
    assert state(slack_clinic) == before and refusals(slack_clinic) == [(stored(MARCO), "unclaim")]
    assert notices(slack_clinic, MARCO) == ["Sorry: only the person who claimed it or a manager can unclaim it."]
    slack_clinic.click(BOSS, ActionId.UNCLAIM, "1", "billing")
    assert slack_clinic.ticket().status == "open"


@pytest.mark.parametrize(("text", "sender", "sent"), [
    (BILLING_EN, DANIEL, "Hi, this is Test Clinic. Can we call you about your message?"),
    (BILLING_ES, SOFIA, "Hola, le escribimos de Test Clinic. ¿Podemos llamarle?"),
])
def test_a_saved_reply_goes_out_in_the_patients_language(slack_clinic: SlackClinic, text: str, sender: str,
                                                         sent: str) -> None:
    from handlers.slack.modals import MESSAGE_BLOCK, MESSAGE_INPUT, TEMPLATE_BLOCK, TEMPLATE_INPUT

    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    slack_clinic.submit(FRONT_DESK_USER, ModalCallback.REPLY, 1, {
        MESSAGE_BLOCK: {MESSAGE_INPUT: {"type": "plain_text_input", "value": ""}},
        TEMPLATE_BLOCK: {TEMPLATE_INPUT: {"type": "static_select", "selected_option": {"value": "call-me"}}}})
    slack_clinic.deliver()
    assert [r.form["Body"] for r in slack_clinic.twilio.requests] == [sent]
    assert slack_clinic.ticket().claimed_by == stored(FRONT_DESK_USER)


@pytest.mark.parametrize(("text", "sender"), [(ADVERSE_EN, OLIVIA), (CLINICAL_ES, SOFIA)])
def test_a_manager_can_send_a_medical_ticket_back_to_the_providers(slack_clinic: SlackClinic, text: str,
                                                                   sender: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    escalate(slack_clinic, CLINICAL_USER, "manager", reason="patient wants to complain")
    assert slack_clinic.ticket().role == "managers"
    escalate(slack_clinic, BOSS, "clinical", reason="handled the complaint; the symptom is yours")
    slack_clinic.deliver()
    ticket = slack_clinic.ticket()
    assert ticket.role == "clinical" and ticket.category in ("adverse_event", "clinical")  # never lowered
    assert refusals(slack_clinic) == []


@pytest.mark.parametrize(("text", "sender"), [
    ("what are your hours?", "+13055550123"),
    ("hola, ¿cuál es su horario?", SOFIA),
])
def test_reclassifying_a_ticket_the_bot_closed_to_adverse_event_reopens_it_and_pages(
        slack_clinic: SlackClinic, text: str, sender: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    assert slack_clinic.ticket().status == "auto_resolved"
    reclassify(slack_clinic, CLINICAL_USER, "adverse_event")
    slack_clinic.deliver()
    ticket = slack_clinic.ticket()
    assert (ticket.status, ticket.role, ticket.paged) == ("open", "clinical", "dr-lee")
    assert len(slack_clinic.slack.messages("clinical")) == 1 and len(slack_clinic.slack.messages(DOCTOR)) == 1


@pytest.mark.parametrize(("text", "sender"), [(BILLING_EN, DANIEL), (BILLING_ES, SOFIA)])
def test_reclassifying_a_ticket_a_person_resolved_is_for_the_record_only(slack_clinic: SlackClinic, text: str,
                                                                         sender: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    slack_clinic.click(FRONT_DESK_USER, ActionId.MORE, "", "billing", option="triage_resolve:1")
    reclassify(slack_clinic, CLINICAL_USER, "clinical")
    slack_clinic.deliver()
    ticket = slack_clinic.ticket()
    assert (ticket.category, ticket.status, ticket.role) == ("clinical", "resolved", "billing")
    assert slack_clinic.slack.messages("clinical") == [] and slack_clinic.slack.messages(DOCTOR) == []


@pytest.mark.parametrize(("text", "sender"), [(ADVERSE_EN, OLIVIA), (ADVERSE_ES, SOFIA)])
def test_escalating_to_the_provider_already_paged_changes_nothing(slack_clinic: SlackClinic, text: str,
                                                                   sender: str) -> None:
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    slack_clinic.click(DOCTOR, ActionId.ACKNOWLEDGE, "1", DOCTOR)
    before = state(slack_clinic)
    escalate(slack_clinic, CLINICAL_USER, "oncall")
    assert state(slack_clinic) == before and refusals(slack_clinic) == []
    assert notices(slack_clinic, CLINICAL_USER) == ["Dr. Lee has already been paged for this ticket."]
    assert slack_clinic.ticket().acknowledged_by == stored(DOCTOR)


@pytest.mark.parametrize(("text", "sender"), [(BILLING_EN, DANIEL), (BILLING_ES, SOFIA)])
def test_a_slack_user_group_member_has_the_groups_role(slack_clinic: SlackClinic, text: str, sender: str) -> None:
    slack_clinic.slack.usergroups["S0BILL"] = ["UCARLA"]  # billing: members [UJESS] plus the S0BILL user group
    slack_clinic.sms(text, sender=sender)
    slack_clinic.deliver()
    escalate(slack_clinic, "UOTHER", "manager")
    assert slack_clinic.ticket().role == "billing" and refusals(slack_clinic) == [(stored("UOTHER"), "escalate")]
    escalate(slack_clinic, "UCARLA", "manager")
    assert slack_clinic.ticket().role == "managers"
