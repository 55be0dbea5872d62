"""Teams activities in: POST /teams/messages on the real app (handlers/http_app.create_app on a loopback port),
through the Teams SDK and its JWT validation against a local OpenID configuration (tests/teams_auth.py); replies
go through the SDK to a connector stand-in (token endpoint + conversations API) named by the activity's serviceUrl."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import pytest
from microsoft_teams.apps.http.adapter import HttpServerAdapter

from bot.config.loader import load_config
from bot.outbox.queue import OutboxKind
from bot.settings import TriageSettings, TwilioSettings
from handlers.http_app import create_app
from handlers.local_server import LocalServer
from handlers.teams.adapter import StarletteAdapter
from handlers.teams.inbound import (
    ACTION_FAILED,
    CARD,
    MESSAGE,
    MESSAGE_FAILED,
    ConversationSeen,
    TeamsInbound,
    TeamsUser,
)
from handlers.wiring import build_service
from integrations.console import ConsolePoster
from integrations.twilio_sms import TwilioSms
from integrations.twilio_voice import TwilioVoice
from tests.conftest import CLINIC_NUMBER, HERE, TWILIO_TOKEN, local
from tests.dburl import db_url
from tests.standins import StandIn, TwilioApi
from tests.teams_auth import (
    APP_ID,
    APP_PASSWORD,
    BOT_TOKEN,
    CHANNEL_ID,
    CHANNEL_NAME,
    FORGER_KEY,
    OTHER_TENANT_ID,
    PERSONAL_CONVERSATION_ID,
    TEAM_ID,
    TEAM_NAME,
    TENANT_ID,
    USER_AAD_ID,
    USER_ID,
    USER_NAME,
    bearer,
    bot_added_to_team,
    bot_removed_from_team,
    card_action,
    channel_message,
    connector_answer,
    personal_install,
    shared_openid,
    sign,
)

ROOT = Path(__file__).resolve().parents[1]
PATIENT_TEXT = "Olivia Bennett's swelling after filler"  # what must never reach the log
QUEUE_CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Queue: 0 open"}]}


@dataclass
class Listener:
    """Records every call; answers as told."""

    installed: list[ConversationSeen] = field(default_factory=list)
    actions: list[tuple[str, dict[str, Any], TeamsUser, ConversationSeen, str]] = field(default_factory=list)
    messages: list[tuple[str, TeamsUser, ConversationSeen]] = field(default_factory=list)
    reply: str | dict[str, Any] | None = "Queue: 0 open"
    card: dict[str, Any] = field(default_factory=lambda: {"type": "AdaptiveCard", "version": "1.5",
                                                          "body": [{"type": "TextBlock", "text": "Claimed by Nora"}]})
    fail: type[Exception] | None = None
    threads: set[str] = field(default_factory=set)

    def on_installed(self, ref: ConversationSeen) -> None:
        self.threads.add(threading.current_thread().name)
        self.installed.append(ref)

    def on_action(self, verb: str, data: dict[str, Any], who: TeamsUser, where: ConversationSeen,
                  activity_id: str) -> dict[str, Any]:
        self.actions.append((verb, data, who, where, activity_id))
        if self.fail is not None:
            raise self.fail(f"could not act on {data}")  # the exception text quotes the card's data
        return self.card

    def on_message(self, text: str, who: TeamsUser, where: ConversationSeen) -> str | dict[str, Any] | None:
        self.messages.append((text, who, where))
        if self.fail is not None:
            raise self.fail(f"could not answer {text}")
        return self.reply

    def calls(self) -> int:
        return len(self.installed) + len(self.actions) + len(self.messages)


@dataclass
class TeamsClinic:
    inbound: TeamsInbound
    listener: Listener
    connector: StandIn
    http: httpx.Client
    service_url: str

    def post(self, activity: dict[str, Any], **sign_kwargs: Any) -> httpx.Response:
        return self.http.post("/teams/messages", content=json.dumps(activity), headers=bearer(activity, **sign_kwargs))

    def sent(self) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """The activities the bot posted to the connector: (unquoted path, body, headers)."""
        return [(unquote(r.path), r.json, r.headers) for r in self.connector.requests if r.path.endswith("/activities")]

    def token_requests(self) -> list[dict[str, list[str]]]:
        return [parse_qs(r.body.decode()) for r in self.connector.requests if r.path.endswith("/oauth2/v2.0/token")]


@pytest.fixture
def teams(tmp_path: Path) -> Iterator[TeamsClinic]:
    openid = shared_openid()
    connector = StandIn(connector_answer)
    twilio = StandIn(TwilioApi())
    settings = TriageSettings(database_url=db_url(tmp_path))
    twilio_settings = TwilioSettings(account_sid="ACtest", auth_token=TWILIO_TOKEN, from_number=CLINIC_NUMBER,
                                     api_url=twilio.url)
    from bot.clock import ManualClock

    service = build_service(settings, twilio_settings, load_config(HERE / "data_clinic.yml"),
                            clock=ManualClock(local(2026, 11, 24, 10, 30)), poster=ConsolePoster(),
                            messengers={OutboxKind.REPLY_SMS: TwilioSms("ACtest", TWILIO_TOKEN, CLINIC_NUMBER,
                                                                        twilio.url)},
                            caller=TwilioVoice("ACtest", TWILIO_TOKEN, CLINIC_NUMBER, twilio.url))
    listener = Listener()
    inbound = TeamsInbound(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID, listener=listener,
                           openid_metadata_url=openid.metadata_url,
                           token_url=f"{connector.url}/{{tenant}}/oauth2/v2.0/token")
    try:
        with LocalServer(create_app(service, teams=inbound)) as server, \
                httpx.Client(base_url=server.url, timeout=30) as http:
            yield TeamsClinic(inbound, listener, connector, http, f"{connector.url}/amer/")
    finally:
        connector.close()
        twilio.close()
        service.db.dispose()


# --- installs: where the bot can post ---------------------------------------------------------------------
def test_bot_added_to_a_team_reports_the_team_channel_and_service_url(teams: TeamsClinic) -> None:
    response = teams.post(bot_added_to_team(teams.service_url))

    assert response.status_code == 200, response.text
    assert teams.listener.installed == [ConversationSeen(
        service_url=teams.service_url, conversation_id=TEAM_ID, conversation_type="channel", tenant_id=TENANT_ID,
        team_id=TEAM_ID, team_name=TEAM_NAME, channel_id=TEAM_ID, channel_name="General", user_id=USER_ID,
        user_aad_id=USER_AAD_ID, user_name=USER_NAME)]
    assert teams.listener.actions == teams.listener.messages == []
    assert teams.sent() == []  # nothing said in the channel
    assert all(name != "MainThread" and "asyncio" not in name for name in teams.listener.threads)  # thread pool


def test_personal_install_reports_the_personal_chat(teams: TeamsClinic) -> None:
    response = teams.post(personal_install(teams.service_url))

    assert response.status_code == 200, response.text
    [seen] = teams.listener.installed
    assert (seen.conversation_type, seen.conversation_id, seen.team_id, seen.channel_id) == (
        "personal", PERSONAL_CONVERSATION_ID, None, None)
    assert (seen.service_url, seen.tenant_id, seen.user_id, seen.user_aad_id) == (
        teams.service_url, TENANT_ID, USER_ID, USER_AAD_ID)


def test_bot_removed_from_a_team_is_not_an_install(teams: TeamsClinic) -> None:
    assert teams.post(bot_removed_from_team(teams.service_url)).status_code == 200
    assert teams.listener.installed == []


def test_every_authenticated_activity_reports_the_latest_service_url(teams: TeamsClinic) -> None:
    moved = teams.service_url.replace("/amer/", "/emea/")
    teams.post(bot_added_to_team(teams.service_url))
    teams.post(card_action("claim", {"ticket": 7}, moved))

    assert [seen.service_url for seen in teams.listener.installed] == [teams.service_url, moved]
    assert teams.listener.installed[1].conversation_id == f"{CHANNEL_ID};messageid=1700000000456"


# --- Adaptive Card actions: the invoke answer -------------------------------------------------------------
def test_card_action_is_answered_with_the_listeners_card(teams: TeamsClinic) -> None:
    activity = card_action("claim", {"ticket": 7, "note": "on it"}, teams.service_url)

    response = teams.post(activity)

    assert response.status_code == 200, response.text
    assert response.json() == {"statusCode": 200, "type": CARD, "value": teams.listener.card}
    [(verb, data, who, where, activity_id)] = teams.listener.actions
    assert (verb, data, activity_id) == ("claim", {"ticket": 7, "note": "on it"}, activity["id"])
    assert who == TeamsUser(id=USER_ID, aad_object_id=USER_AAD_ID, name=USER_NAME)
    assert (where.team_id, where.channel_id, where.channel_name, where.service_url) == (
        TEAM_ID, CHANNEL_ID, CHANNEL_NAME, teams.service_url)
    assert len(teams.listener.installed) == 1  # the conversation was recorded first
    assert teams.sent() == []  # the card is the HTTP answer, not a post


def test_a_failing_action_is_answered_with_a_message_not_a_500(teams: TeamsClinic,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    teams.listener.fail = KeyError
    caplog.set_level(logging.DEBUG)

    response = teams.post(card_action("claim", {"note": PATIENT_TEXT}, teams.service_url))

    assert response.status_code == 200, response.text
    assert response.json() == {"statusCode": 200, "type": MESSAGE, "value": ACTION_FAILED}
    assert "KeyError" in caplog.text
    assert PATIENT_TEXT not in caplog.text and "Traceback" not in caplog.text


def test_a_card_action_without_a_verb_is_answered_with_an_error(teams: TeamsClinic) -> None:
    activity = card_action("x", {"ticket": 7}, teams.service_url)
    del activity["value"]["action"]["verb"]
    activity["value"]["action"]["type"] = "Action.Submit"

    response = teams.post(activity)

    assert response.status_code == 200
    assert response.json()["statusCode"] == 400 and response.json()["type"] == "application/vnd.microsoft.error"
    assert teams.listener.actions == []


# --- messages to the bot: the reply goes back through the SDK ----------------------------------------------
def test_message_to_the_bot_is_answered_in_the_conversation(teams: TeamsClinic) -> None:
    activity = channel_message("queue", teams.service_url)

    response = teams.post(activity)

    assert response.status_code == 200, response.text
    [(text, who, where)] = teams.listener.messages
    assert text == "queue"  # the @mention of the bot is gone
    assert who.id == USER_ID and where.conversation_type == "channel" and where.team_name == TEAM_NAME
    [token_form] = teams.token_requests()  # the bot's own token: client credentials for the Bot Framework scope
    assert token_form == {"grant_type": ["client_credentials"], "client_id": [APP_ID],
                          "client_secret": [APP_PASSWORD], "scope": ["https://api.botframework.com/.default"]}
    token_path = next(r.path for r in teams.connector.requests if r.path.endswith("/token"))
    assert token_path == f"/{TENANT_ID}/oauth2/v2.0/token"
    [(path, body, headers)] = teams.sent()
    assert path == f"/amer/v3/conversations/{activity['conversation']['id']}/activities"
    assert headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert body["type"] == "message" and body["text"] == "Queue: 0 open"
    assert body["conversation"]["id"] == activity["conversation"]["id"]


def test_a_card_reply_is_sent_as_an_adaptive_card_attachment(teams: TeamsClinic) -> None:
    teams.listener.reply = QUEUE_CARD

    assert teams.post(channel_message("queue", teams.service_url)).status_code == 200

    [(_, body, _)] = teams.sent()
    assert body["attachments"] == [{"contentType": CARD, "content": QUEUE_CARD}]


def test_no_reply_sends_nothing_and_the_token_is_reused(teams: TeamsClinic) -> None:
    teams.listener.reply = None
    teams.post(channel_message("thanks", teams.service_url))
    assert teams.sent() == []

    teams.listener.reply = "ok"
    teams.post(channel_message("oncall", teams.service_url))
    teams.post(channel_message("queue", teams.service_url))
    assert len(teams.sent()) == 2 and len(teams.token_requests()) == 1


def test_a_failing_command_gets_an_apology_not_a_500(teams: TeamsClinic, caplog: pytest.LogCaptureFixture) -> None:
    teams.listener.fail = RuntimeError
    caplog.set_level(logging.DEBUG, logger="handlers")

    response = teams.post(channel_message(PATIENT_TEXT, teams.service_url))

    assert response.status_code == 200
    [(_, body, _)] = teams.sent()
    assert body["text"] == MESSAGE_FAILED
    assert PATIENT_TEXT not in caplog.text


def test_a_reply_the_connector_refuses_is_logged_not_a_500(teams: TeamsClinic) -> None:
    teams.connector.by_path["/activities"] = __import__("collections").deque(
        [__import__("tests.standins", fromlist=["Answer"]).Answer(503, {"error": "busy"})])

    response = teams.post(channel_message("queue", teams.service_url))

    assert response.status_code == 200
    assert len(teams.listener.messages) == 1


# --- authentication: 401, and the listener never hears of it ----------------------------------------------
@pytest.mark.parametrize("how", ["forged signature", "expired", "not yet valid", "wrong audience", "wrong issuer",
                                 "other service url", "unknown key id", "no key id", "unsigned"])
def test_unauthenticated_activities_are_refused(teams: TeamsClinic, how: str) -> None:
    activity = card_action("claim", {"ticket": 7}, teams.service_url)
    token = {
        "forged signature": lambda: sign(activity, key=FORGER_KEY),
        "expired": lambda: sign(activity, expires_in=-3600),  # beyond the SDK's 5 minutes of clock skew
        "not yet valid": lambda: sign(activity, not_before=2**31 - 1, expires_in=2**31),
        "wrong audience": lambda: sign(activity, audience="another-bots-app-id"),
        "wrong issuer": lambda: sign(activity, issuer="https://evil.example"),
        "other service url": lambda: sign(activity, service_url="https://attacker.example/teams/"),
        "unknown key id": lambda: sign(activity, kid="some-other-key"),
        "no key id": lambda: sign(activity, kid=None),
        "unsigned": lambda: _unsigned(activity),
    }[how]()

    response = teams.http.post("/teams/messages", content=json.dumps(activity),
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    assert response.status_code == 401, response.text
    assert teams.listener.calls() == 0 and teams.connector.requests == []


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"])
def test_missing_or_malformed_authorization_is_refused(teams: TeamsClinic, authorization: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization

    response = teams.http.post("/teams/messages", content=json.dumps(channel_message("queue", teams.service_url)),
                               headers=headers)

    assert response.status_code == 401
    assert teams.listener.calls() == 0


def test_activities_from_another_tenant_are_refused(teams: TeamsClinic) -> None:
    other = channel_message("queue", teams.service_url, tenant=OTHER_TENANT_ID)
    assert teams.post(other).status_code == 401  # a validly signed activity, from someone else's Teams

    ours = channel_message("queue", teams.service_url)
    assert teams.post(ours, tenant=OTHER_TENANT_ID).status_code == 401  # a token carrying another tenant's tid

    untenanted = channel_message("queue", teams.service_url)
    del untenanted["channelData"]["tenant"], untenanted["conversation"]["tenantId"]
    assert teams.post(untenanted).status_code == 401

    assert teams.listener.calls() == 0 and teams.connector.requests == []
    assert teams.post(ours, tenant=TENANT_ID).status_code == 200  # our tenant's tid is fine


def test_the_signing_keys_come_from_the_openid_stand_in(teams: TeamsClinic) -> None:
    openid = shared_openid()
    assert teams.inbound.keys_url == openid.metadata()["jwks_uri"]  # what the SDK derives = the metadata's jwks_uri
    before = openid.key_fetches()
    assert teams.post(bot_added_to_team(teams.service_url)).status_code == 200
    assert openid.key_fetches() == before + 1  # this inbound's validator fetched the keys, once


# --- bad input: 4xx with a reason, never a 500 ------------------------------------------------------------
@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"{not json", "application/json", 400),
    (b"[1, 2, 3]", "application/json", 400),
    (b"", "application/json", 400),
    (b"\xff\xfe{}", "application/json", 400),
    (b"[" * 200_000 + b"]" * 200_000, "application/json", 413),
    (b"{}", "text/plain", 415),
    (b"type=message", "application/x-www-form-urlencoded", 415),
    (b'{"type": 5, "id": "x"}', "application/json", 400),
])
def test_unreadable_bodies_are_refused_with_a_reason(teams: TeamsClinic, body: bytes, content_type: str,
                                                     status: int) -> None:
    response = teams.http.post("/teams/messages", content=body, headers={"Content-Type": content_type})

    assert response.status_code == status
    assert response.json()["error"]
    assert teams.listener.calls() == 0


def test_deeply_nested_json_within_the_size_limit_is_a_400(teams: TeamsClinic) -> None:
    response = teams.http.post("/teams/messages", content=b"[" * 60_000 + b"]" * 60_000,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("broken", ["no conversation", "no from", "no recipient", "conversation without id",
                                    "no service url", "unknown type", "action without data"])
def test_signed_activities_missing_fields_are_a_400(teams: TeamsClinic, broken: str) -> None:
    activity = card_action("claim", {"ticket": 7}, teams.service_url)
    if broken == "no conversation":
        del activity["conversation"]
    elif broken == "no from":
        del activity["from"]
    elif broken == "no recipient":
        del activity["recipient"]
    elif broken == "conversation without id":
        del activity["conversation"]["id"]
    elif broken == "no service url":
        token_for = dict(activity)
        del activity["serviceUrl"]
        response = teams.http.post("/teams/messages", content=json.dumps(activity), headers=bearer(token_for))
        assert response.status_code == 400 and "serviceUrl" in response.json()["error"]
        assert teams.listener.calls() == 0
        return
    elif broken == "unknown type":
        activity["type"] = "somethingNew"
    elif broken == "action without data":
        del activity["value"]["action"]["data"]

    response = teams.post(activity)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "not a valid Bot Framework activity" and response.json()["fields"]
    assert teams.listener.calls() == 0


def test_only_post_is_routed(teams: TeamsClinic) -> None:
    assert teams.http.get("/teams/messages").status_code == 405


# --- the adapter and the configuration ---------------------------------------------------------------------
def test_the_adapter_is_the_sdks_http_server_adapter_and_never_serves() -> None:
    adapter = StarletteAdapter()
    assert isinstance(adapter, HttpServerAdapter)
    with pytest.raises(RuntimeError):
        __import__("asyncio").run(adapter.start(3978))
    with pytest.raises(ValueError):
        adapter.register_route("GET", "/x", lambda request: None)  # type: ignore[arg-type]


def test_the_sdk_registered_its_route_on_our_adapter(teams: TeamsClinic) -> None:
    teams.post(bot_added_to_team(teams.service_url))
    assert teams.inbound.adapter.paths == ["/teams/messages"]
    assert teams.inbound.app.server.adapter is teams.inbound.adapter


@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"tenant_id": None}, "tenant_id is required"),
    ({"openid_metadata_url": "https://login.botframework.com/v1/.well-known/keys"}, "/openidconfiguration"),
    ({"openid_metadata_url": "http://login.example/v1/.well-known/openidconfiguration"}, "https"),
    ({"token_url": "http://login.example/{tenant}/oauth2/v2.0/token"}, "https"),
    ({"app_password": ""}, "required"),
])
def test_unsafe_configurations_are_refused(kwargs: dict[str, Any], problem: str) -> None:
    options: dict[str, Any] = {"app_id": APP_ID, "app_password": APP_PASSWORD, "tenant_id": TENANT_ID,
                               "listener": Listener(), **kwargs}
    with pytest.raises(ValueError, match=problem):
        TeamsInbound(**options)


def test_a_multi_tenant_bot_must_say_so() -> None:
    inbound = TeamsInbound(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=None, listener=Listener(),
                           allow_any_tenant=True)
    assert inbound.tenant_id is None


def test_importing_the_teams_handlers_loads_no_dotenv(tmp_path: Path) -> None:
    """The SDK loads a .env from the working directory at import; handlers.teams switches that off."""
    (tmp_path / ".env").write_text("TEAMS_DOTENV_PROBE=leaked\nCLIENT_SECRET=from-dotenv\n", encoding="utf-8")
    probe = ("import os, handlers.teams.inbound, microsoft_teams.apps.app; "
             "print(os.environ.get('TEAMS_DOTENV_PROBE'), os.environ.get('CLIENT_SECRET'), "
             "os.environ.get('PYTHON_DOTENV_DISABLED'))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["None", "None", "None"]


def _unsigned(activity: dict[str, Any]) -> str:
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = json.loads(base64.urlsafe_b64decode(sign(activity).split(".")[1] + "=="))
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
