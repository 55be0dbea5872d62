"""A clinic wired to Microsoft Teams: the SDK behind POST /teams/messages with its real JWT validation (tokens
signed by tests/teams_auth.py's key, published by a local OpenID stand-in), the Bot Connector stand-in the bot
posts through, and Twilio's. Everything over real HTTP on 127.0.0.1."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.clock import ManualClock
from bot.config.loader import load_config
from bot.match.importer import import_patients
from bot.outbox.queue import OutboxKind
from bot.settings import TriageSettings, TwilioSettings
from bot.storage.models import OutboxRow, TicketRow
from handlers.http_app import create_app
from handlers.local_server import LocalServer
from handlers.service import Service
from handlers.slack.app import build_slack_app
from handlers.teams.wiring import teams_service
from integrations.slack.poster import SlackPoster, web_client
from integrations.slack.settings import SlackSettings
from integrations.teams.settings import TeamsSettings
from integrations.twilio_sms import TwilioSms
from integrations.twilio_voice import TwilioVoice
from tests.conftest import CLINIC_NUMBER, HERE, PATIENTS_CSV, TWILIO_TOKEN, TZ, local
from tests.dburl import db_url
from tests.graph_standin import GraphStandIn
from tests.slack_clinic import SIGNING_SECRET
from tests.slack_standin import SlackStandIn
from tests.standins import StandIn, TwilioApi
from tests.teams_auth import APP_ID, APP_PASSWORD, TEAM_ID, TEAM_NAME, TENANT_ID, bearer, shared_openid
from tests.teams_standin import TeamsStandIn

# Staff as Teams knows them: their Teams user id ("29:…") and Entra object id (the config's teams_user).
PEOPLE = {
    "dr-lee": ("29:1DrLee", "d0000000-0000-4000-8000-0000000000ee", "Dr. Lee"),
    "nurse": ("29:1Nurse", "d0000000-0000-4000-8000-00000000000b", "Nurse Kim"),
    "jess": ("29:1Jess", "d0000000-0000-4000-8000-00000000000e", "Jess"),
    "boss": ("29:1Boss", "d0000000-0000-4000-8000-0000000000b0", "Morgan"),
    "marco": ("29:1Marco", "d0000000-0000-4000-8000-0000000000c0", "Marco"),
}
CHANNELS = {"General": TEAM_ID, "Front Desk": "19:frontdesk@thread.tacv2", "Billing": "19:billing@thread.tacv2",
            "Clinical": "19:clinical@thread.tacv2", "Managers": "19:managers@thread.tacv2"}

TEAMS_CONFIG_EXTRA = """
roles:
  clinical: {members: [nurse], lead: nurse}
  front_desk: {members: [jess, marco], lead: jess}
  billing: {members: [jess], lead: jess}
  managers: {members: [boss]}
escalation:
  manager: boss
oncall:
  backup: {mon: nurse, tue: nurse, wed: nurse, thu: nurse, fri: nurse, sat: nurse, sun: nurse}
templates:
  staff_replies:
    en: {call-me: "Hi, this is {clinic}. Can we call you about your message?"}
    es: {call-me: "Hola, le escribimos de {clinic}. ¿Podemos llamarle?"}
"""


def clinic_yaml() -> str:
    """tests/data_clinic.yml with each staff member's Entra object id, plus Marco (front desk, Teams only)."""
    text = (HERE / "data_clinic.yml").read_text(encoding="utf-8")
    for staff, (_, aad, _) in PEOPLE.items():
        slack = {"dr-lee": "UDRLEE", "nurse": "UNURSE", "jess": "UJESS", "boss": "UBOSS"}.get(staff)
        if slack:
            text = text.replace(f"chat_user: {slack}", f"chat_user: {slack}, teams_user: \"{aad}\"")
    marco = f'  - {{id: marco, name: Marco, teams_user: "{PEOPLE["marco"][1]}"}}\n'
    return text.replace("  - {id: boss,", marco + "  - {id: boss,", 1)


@dataclass
class TeamsClinic:
    service: Service
    clock: ManualClock
    teams: TeamsStandIn
    twilio: StandIn
    http: httpx.Client
    url: str
    _sids: int = 0

    # --- patients write in ---------------------------------------------------------------------------
    def sms(self, body: str, sender: str = "+12125550199") -> None:
        self._sids += 1
        form = {"MessageSid": f"SMt{self._sids:04d}", "From": sender, "To": CLINIC_NUMBER, "Body": body,
                "NumMedia": "0"}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{self.url}/inbound/sms", form)
        response = self.http.post("/inbound/sms", data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200, response.text
        self.service.run_triage()

    # --- Teams calls us ------------------------------------------------------------------------------
    def send(self, activity: dict[str, Any], **sign: Any) -> httpx.Response:
        return self.http.post("/teams/messages", json=activity, headers=bearer(activity, **sign))

    def activity(self, kind: str, conversation: dict[str, Any], staff: str = "nurse",
                 channel: str | None = None) -> dict[str, Any]:
        user_id, aad, name = PEOPLE[staff]
        data: dict[str, Any] = {"tenant": {"id": TENANT_ID}}
        if channel is not None:
            data["team"] = {"id": TEAM_ID, "name": TEAM_NAME}
            data["channel"] = {"id": CHANNELS[channel], **({"name": channel} if channel != "General" else {})}
        return {
            "type": kind, "id": f"f:{self._next()}", "channelId": "msteams", "serviceUrl": self.teams.service_url,
            "timestamp": "2026-11-24T15:30:00.000Z",
            "from": {"id": user_id, "name": name, "aadObjectId": aad},
            "recipient": {"id": f"28:{APP_ID}", "name": "Triage"},
            "conversation": {"tenantId": TENANT_ID, **conversation}, "channelData": data, "locale": "en-US",
        }

    def install(self) -> None:
        """The bot added to the clinic's team (Teams then lists the team's channels), and each person's
        personal chat with it."""
        self.teams.team_channels[TEAM_ID] = [{"id": cid, **({"name": n} if n != "General" else {})}
                                             for n, cid in CHANNELS.items()]
        added = self.activity("conversationUpdate", {"id": TEAM_ID, "conversationType": "channel", "isGroup": True},
                              "boss", "General")
        added["membersAdded"] = [{"id": f"28:{APP_ID}"}]
        added["channelData"]["eventType"] = "teamMemberAdded"
        assert self.send(added).status_code in (200, 201, 202), "install"
        for user_id, aad, name in PEOPLE.values():
            self.teams.members[user_id] = {"id": user_id, "name": name, "aadObjectId": aad}

    def installed_personally(self, staff: str) -> str:
        """`staff` installed the app for themselves: the personal chat Teams made (its id)."""
        conversation = self.teams.personal_conversation(PEOPLE[staff][1])
        activity = self.activity("installationUpdate", {"id": conversation, "conversationType": "personal"}, staff)
        activity["action"] = "add"
        assert self.send(activity).status_code in (200, 201, 202)
        return conversation

    def card(self, channel: str, ticket: int = 1) -> dict[str, Any]:
        """The card of `ticket` as posted (and since edited) in the role channel `channel`."""
        found = [a for a in self.teams.activities(CHANNELS[channel]) if a.get("attachments")
                 and ";messageid=" not in a["conversation"]
                 and _ticket_of(a["attachments"][0]["content"]) == str(ticket)]
        assert found, f"no card for #{ticket} in {channel}"
        return found[-1]

    def thread(self, channel: str, card_id: str) -> list[dict[str, Any]]:
        return [a for a in self.teams.activities(CHANNELS[channel])
                if a["conversation"] == f"{CHANNELS[channel]};messageid={card_id}"]

    def click(self, staff: str, verb: str, ticket: int = 1, *, channel: str | None = "Clinical",
              conversation: str | None = None, card_id: str | None = None,
              inputs: dict[str, Any] | None = None) -> httpx.Response:
        """Action.Execute on the ticket's card: in a role channel, or (`conversation`) a personal chat."""
        if conversation is None:
            assert channel is not None
            card_id = card_id or self.card(channel, ticket)["id"]
            where = {"id": f"{CHANNELS[channel]};messageid={card_id}", "conversationType": "channel", "isGroup": True}
            activity = self.activity("invoke", where, staff, channel)
        else:
            activity = self.activity("invoke", {"id": conversation, "conversationType": "personal"}, staff)
        activity["name"] = "adaptiveCard/action"
        activity["replyToId"] = card_id or "1"
        activity["value"] = {"action": {"type": "Action.Execute", "verb": verb,
                                        "data": {"ticket": str(ticket), **(inputs or {})}}, "trigger": "manual"}
        return self.send(activity)

    def say(self, staff: str, text: str, *, conversation: str | None = None) -> httpx.Response:
        """A message to the bot in `staff`'s personal chat with it (a command)."""
        conversation = conversation or self.teams.personal_conversation(PEOPLE[staff][1])
        activity = self.activity("message", {"id": conversation, "conversationType": "personal"}, staff)
        activity["text"] = text
        for user_id, _, name in PEOPLE.values():
            if f"<at>{name}</at>" in text:
                activity.setdefault("entities", []).append(
                    {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": user_id, "name": name}})
        return self.send(activity)

    _count: int = 0

    def _next(self) -> int:
        self._count += 1
        return self._count

    # --- time passes, the outbox delivers ------------------------------------------------------------
    def deliver(self, seconds: int = 30) -> None:
        for _ in range(seconds):
            self.service.run_outbox()
            if not self._pending_soon():
                return
            self.clock.advance(timedelta(seconds=1))

    def _pending_soon(self) -> bool:
        with self.service.db.transaction() as session:
            horizon = self.clock.now() + timedelta(seconds=5)
            return session.scalars(select(OutboxRow.id).where(
                OutboxRow.status == "pending", OutboxRow.next_attempt_at <= horizon)).first() is not None

    def ticket(self, ticket_id: int = 1) -> TicketRow:
        with self.service.db.transaction() as session:
            row = session.get(TicketRow, ticket_id)
            assert row is not None
            return row

    def outbox(self, kind: str) -> list[OutboxRow]:
        with self.service.db.transaction() as session:
            return list(session.scalars(select(OutboxRow).where(OutboxRow.kind == kind).order_by(OutboxRow.id)))


def _ticket_of(card: dict[str, Any]) -> str | None:
    for action in card.get("actions", []):
        data = action.get("data") or {}
        if "ticket" in data:
            return str(data["ticket"])
    return None


def card_text(card: dict[str, Any]) -> str:
    """Every TextBlock's text and every fact of an Adaptive Card, for `in` checks."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(str(node.get("text", "")))
            if node.get("type") == "FactSet":
                found.extend(f"{f.get('title')}: {f.get('value')}" for f in node.get("facts", []))
            for value in node.values():
                if isinstance(value, list | dict):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(copy.deepcopy(card))
    return "\n".join(found)


def invoke_card(response: httpx.Response) -> dict[str, Any]:
    """The Adaptive Card an Action.Execute was answered with."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    return dict(body["value"])


@contextmanager
def running_teams_clinic(tmp_path: Path, extra: str = "", *, graph: GraphStandIn | None = None,
                         clinical_group: str | None = None, slack: SlackStandIn | None = None) -> Iterator[TeamsClinic]:
    """`clinical_group`: the clinical role is also an Entra group, looked up in `graph`. `slack`: the clinic runs
    Slack too (through this stand-in, the real Bolt app behind /slack/events, signed with SIGNING_SECRET)."""
    roles = TEAMS_CONFIG_EXTRA
    if clinical_group is not None:
        roles = roles.replace("clinical: {members: [nurse], lead: nurse}",
                              f'clinical: {{members: [nurse], lead: nurse, entra_group: "{clinical_group}"}}')
    config_path = tmp_path / "clinic.yml"
    config_path.write_text(clinic_yaml() + roles + extra, encoding="utf-8")
    config = load_config(config_path)
    clock = ManualClock(local(2026, 11, 24, 10, 30))
    openid = shared_openid()
    teams, twilio = TeamsStandIn(), StandIn(TwilioApi())
    settings = TriageSettings(database_url=db_url(tmp_path))
    twilio_settings = TwilioSettings(account_sid="ACtest", auth_token=TWILIO_TOKEN, from_number=CLINIC_NUMBER,
                                     api_url=twilio.url)
    graph_urls = {"graph_url": graph.graph_url, "graph_token_url": graph.token_url} if graph is not None else {}
    teams_settings = TeamsSettings(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID,
                                   openid_metadata_url=openid.metadata_url, token_url=teams.token_url, **graph_urls)
    slack_client = web_client("xoxb-test", f"{slack.url}/api/") if slack is not None else None
    wiring = teams_service(settings, config, teams_settings, twilio=twilio_settings, clock=clock,
                           slack=SlackPoster(slack_client) if slack_client is not None else None,
                           messengers={OutboxKind.REPLY_SMS: TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER,
                                                                       twilio.url)},
                           caller=TwilioVoice("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, twilio.url))
    service = wiring.service
    csv_path = tmp_path / "patients.csv"
    csv_path.write_text(PATIENTS_CSV, encoding="utf-8")
    with service.db.transaction() as session:
        import_patients(session, csv_path, TZ)
    bolt = None
    if slack is not None and slack_client is not None:
        bolt = build_slack_app(service, SlackSettings(bot_token="xoxb-test", signing_secret=SIGNING_SECRET,
                                                      api_url=f"{slack.url}/api/"), slack_client)
    try:
        with (LocalServer(create_app(service, bolt, teams=wiring.inbound)) as server,
              httpx.Client(base_url=server.url, timeout=30) as http):
            clinic = TeamsClinic(service, clock, teams, twilio, http, server.url)
            clinic.install()
            yield clinic
    finally:
        wiring.close()
        teams.close()
        twilio.close()
        service.db.dispose()


@pytest.fixture
def teams_clinic(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TeamsClinic]:
    marker = request.node.get_closest_marker("clinic_yaml")
    with running_teams_clinic(tmp_path, marker.args[0] if marker else "") as running:
        yield running
