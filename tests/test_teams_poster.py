"""TeamsPoster (integrations/teams/poster.py) through real HTTP: the Teams SDK's API client against the local
stand-in of the token endpoint and the Bot Connector (tests/teams_standin.py). Nothing of ours is mocked; the only
fake is `MemoryPlaces`, a dict standing in for the database's places (bot/tickets/places.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.cards.build import build_card
from bot.cards.model import Card
from bot.config.loader import load_config
from bot.config.models import ClinicConfig
from bot.document import Style, line, strong
from bot.domain import Category
from bot.mentions import Line, Mention, MentionKind
from bot.outbox.errors import DeliveryError
from bot.places import Place
from bot.ports import ChatPoster, PostRef
from bot.storage.models import InboundMessageRow, TicketRow
from integrations.teams.cards import notification_text, render_card
from integrations.teams.poster import MAX_ACTIVITY_BYTES, TeamsPoster
from integrations.teams.settings import TeamsSettings
from integrations.teams.token import retry_after_seconds
from tests.teams_standin import APP_ID, APP_PASSWORD, TENANT_ID, TeamsStandIn

ROOT = Path(__file__).parents[1]
TZ = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
DEMO = load_config(ROOT / "bot" / "demo" / "clinic.yml")

DR_LEE = "8c6f1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"  # Dr. Lee's Entra object id: on Teams, has the app
JESS = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"  # on Teams, the app is not installed for her
TEAMS_IDS = {"dr-lee": DR_LEE, "jess": JESS}
TEAM = "19:Zx8nUVfSx3nXr4mTnR3Ep2OqLKHhyGe9XXmBv5Lb1Jo1@thread.tacv2"
CHANNEL = "19:6b3d0c52b8f94f1ba6a1d7e3c0e9f2aa@thread.tacv2"
OLIVIA = {"key": "P-1", "name": "Olivia Bennett", "tier": 2, "last_visit": "2026-10-02", "provider": "Dr. Lee",
          "balance_cents": 0, "lifetime_value_cents": 324000}
ADVERSE_TEXT = "My upper lip is really swollen and hurts since the filler yesterday"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class MemoryPlaces:
    """`bot.places.Places` in a dict: by conversation id, in the order last remembered."""

    def __init__(self) -> None:
        self.places: dict[str, Place] = {}
        self.remembered: list[Place] = []

    def remember(self, place: Place) -> None:
        self.places.pop(place.conversation, None)
        self.places[place.conversation] = place
        self.remembered.append(place)

    def channel(self, platform: str, name: str) -> Place | None:
        found = [p for p in self.places.values() if p.platform == platform and p.kind != "personal"
                 and name in (p.conversation, p.channel_name, f"{p.team_name}/{p.channel_name}")]
        return found[0] if len(found) == 1 else None

    def personal(self, platform: str, user: str) -> Place | None:
        return next((p for p in self.places.values()
                     if p.platform == platform and p.kind == "personal" and p.user == user), None)

    def service_url(self, platform: str, tenant: str | None) -> str | None:
        found = [p.service_url for p in self.places.values() if p.platform == platform and p.tenant == tenant]
        return found[-1] if found else None


# --- fixtures ------------------------------------------------------------------------------------------------

def settings_for(teams: TeamsStandIn, **changes: Any) -> TeamsSettings:
    values: dict[str, Any] = {"app_id": APP_ID, "app_password": APP_PASSWORD, "tenant_id": TENANT_ID,
                              "token_url": teams.token_url, **changes}
    return TeamsSettings(**values)


def triage_channel(service_url: str) -> Place:
    return Place("teams", CHANNEL, service_url, "channel", tenant=TENANT_ID, team=TEAM, team_name="Glow Med Spa",
                 channel_name="triage")


@pytest.fixture
def teams() -> Iterator[TeamsStandIn]:
    with TeamsStandIn() as standin:
        yield standin


@pytest.fixture
def places(teams: TeamsStandIn) -> MemoryPlaces:
    known = MemoryPlaces()
    known.remember(triage_channel(teams.service_url))
    return known


@pytest.fixture
def poster(teams: TeamsStandIn, places: MemoryPlaces) -> Iterator[TeamsPoster]:
    with TeamsPoster(settings_for(teams), places, timeout=5) as made:
        yield made


def clinic() -> ClinicConfig:
    staff = tuple(member.model_copy(update={"teams_user": TEAMS_IDS.get(member.id, "")}) for member in DEMO.staff)
    return DEMO.model_copy(update={"staff": staff})


def adverse_card(status: str = "open", claimed_by: str | None = None) -> Card:
    """A paged adverse-event card, built as the bot builds it: it @-mentions Dr. Lee (on Teams)."""
    row = TicketRow(
        id=7, status=status, category="adverse_event", urgency=Category("adverse_event").urgency.value,
        confidence=0.9, reasons=["cues: “swollen”, “filler”"], language="en", channel="sms", sender="+14155550101",
        patient=dict(OLIVIA), patient_key="P-1", role="clinical", paged="dr-lee", claimed_by=claimed_by,
        claimed_at=NOW if claimed_by else None, acknowledged_by=None, acknowledged_at=None, resolved_at=None,
        created_at=NOW - timedelta(minutes=5), updated_at=NOW, due_at=NOW + timedelta(minutes=10), booking=None)
    row.messages = [InboundMessageRow(channel="sms", provider_message_id="m-7", sender="+14155550101",
                                      sender_name="", sender_email="", body=ADVERSE_TEXT, media=[], received_at=NOW)]
    row.events = []
    return build_card(row, None, clinic(), NOW)


def lee() -> Mention:
    return Mention(MentionKind.USER, staff="dr-lee", name="Dr. Maya Lee", users=(("teams", DR_LEE),))


def personal_chat_known(places: MemoryPlaces, teams: TeamsStandIn) -> None:
    """What an authenticated activity of the team taught: the tenant's serviceUrl (the channel carries it)."""
    assert places.service_url("teams", TENANT_ID) == teams.service_url


def failure(call: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        call()
    return caught.value


# --- posting -------------------------------------------------------------------------------------------------

def test_it_is_a_chat_poster(poster: TeamsPoster) -> None:
    port: ChatPoster = poster
    assert port.platform == "teams"


def test_a_card_reaches_the_role_channel_with_its_adaptive_card(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    card = adverse_card()
    ref = poster.post_card("triage", card, tag="41")
    posted = teams.activities(CHANNEL)
    assert len(posted) == 1 and ref == PostRef("teams", CHANNEL, posted[0]["id"])
    activity = posted[0]
    assert activity["type"] == "message"
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == ADAPTIVE
    assert attachment["content"] == render_card(card)
    # the notification / chat list text: the card's, with no patient detail
    assert activity["summary"] == notification_text(card) == card.notification
    for detail in ("Olivia", "Bennett", "swollen", "filler", "+1 415", "4155550101"):
        assert detail not in activity["summary"]
    # the page's @-mention rings: a real mention entity in the card's msteams part, its <at> in the text
    entities = attachment["content"]["msteams"]["entities"]
    assert {"type": "mention", "text": "<at>Dr. Maya Lee</at>",
            "mentioned": {"id": DR_LEE, "name": "Dr. Maya Lee"}} in entities
    [call] = teams.api_calls()
    assert (call.method, call.path) == ("POST", f"/amer/v3/conversations/{CHANNEL}/activities")


def test_a_channel_is_found_by_team_and_name_and_by_id(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    poster.post_text("Glow Med Spa/triage", "one")
    poster.post_text(CHANNEL, "two")
    assert [a["text"] for a in teams.activities(CHANNEL)] == ["one", "two"]


def test_a_mention_line_in_a_thread_replies_to_the_root(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    root = poster.post_card("triage", adverse_card())
    text: Line = ("Paged ", lee(), " (Dr. Maya Lee) · 10:42 by *phone*")
    reply = poster.post_text("triage", text, thread=root)
    threaded = f"{CHANNEL};messageid={root.message_id}"
    assert reply == PostRef("teams", threaded, reply.message_id, thread_root=root.message_id)
    call = teams.api_calls()[-1]
    assert (call.method, call.path) == ("POST", f"/amer/v3/conversations/{threaded}/activities")
    posted = teams.activity(reply.message_id)
    assert posted is not None and posted["conversation"] == threaded
    assert posted["text"] == "Paged <at>Dr. Maya Lee</at> · 10:42 by \\*phone\\*"  # patient-proof: escaped
    assert posted["textFormat"] == "markdown"
    assert posted["entities"] == [{"type": "mention", "text": "<at>Dr. Maya Lee</at>",
                                   "mentioned": {"id": DR_LEE, "name": "Dr. Maya Lee"}}]


def test_update_card_edits_the_card_in_place(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    ref = poster.post_card("triage", adverse_card())
    claimed = adverse_card(status="claimed", claimed_by="dr-lee")
    poster.update_card(ref, claimed)
    [activity] = teams.activities(CHANNEL)
    assert activity["id"] == ref.message_id and activity.get("updated") is True
    assert activity["attachments"][0]["content"] == render_card(claimed)
    assert activity["summary"] == claimed.notification
    put = teams.api_calls()[-1]
    assert (put.method, put.path) == ("PUT", f"/amer/v3/conversations/{CHANNEL}/activities/{ref.message_id}")


def test_update_card_of_a_card_posted_by_an_earlier_process(teams: TeamsStandIn, places: MemoryPlaces) -> None:
    with TeamsPoster(settings_for(teams), places, timeout=5) as first:
        ref = first.post_card("triage", adverse_card())
    with TeamsPoster(settings_for(teams), places, timeout=5) as second:  # knows the conversation from places only
        second.update_card(ref, adverse_card(status="claimed", claimed_by="dr-lee"))
    assert teams.activities(CHANNEL)[0].get("updated") is True


def test_a_digest_is_an_adaptive_card(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    document = (line("Yesterday at Glow", style=Style.HEADING), line(strong("Tickets:"), " 12"),
                line("Olivia's refund", style=Style.BULLET))
    ref = poster.post_document("triage", document)
    [activity] = teams.activities(CHANNEL)
    assert ref.message_id == activity["id"]
    content = activity["attachments"][0]["content"]
    assert activity["attachments"][0]["contentType"] == ADAPTIVE and content["type"] == "AdaptiveCard"
    assert content["body"][1]["text"] == "**Tickets:** 12"
    assert activity["summary"] == "Yesterday at Glow"


def test_find_tagged_says_none(poster: TeamsPoster, teams: TeamsStandIn) -> None:
    poster.post_text("triage", "x", tag="9")
    assert poster.find_tagged("triage", "9") is None
    assert len(teams.api_calls()) == 1  # nothing asked: the Bot Connector cannot list messages


# --- pages to a person -----------------------------------------------------------------------------------------

def test_a_page_opens_a_personal_chat_once(teams: TeamsStandIn, places: MemoryPlaces, poster: TeamsPoster) -> None:
    personal_chat_known(places, teams)
    first = poster.post_text(DR_LEE, ("Page: ", lee(), " adverse event on ticket 7"))
    chat = teams.personal_conversation(DR_LEE)
    assert first.conversation == chat
    create = teams.api_calls()[0]
    assert (create.method, create.path) == ("POST", "/amer/v3/conversations")
    assert create.json["members"] == [{"id": DR_LEE}]
    assert create.json["tenantId"] == TENANT_ID and create.json["isGroup"] is False
    assert create.json["bot"] == {"id": f"28:{APP_ID}"}
    assert places.personal("teams", DR_LEE) == Place("teams", chat, teams.service_url, "personal", tenant=TENANT_ID,
                                                     user=DR_LEE)
    second = poster.post_card(DR_LEE, adverse_card())
    assert second.conversation == chat
    assert len(teams.created) == 1  # the second page reused the chat
    assert [c.path for c in teams.api_calls()] == ["/amer/v3/conversations",
                                                   f"/amer/v3/conversations/{chat}/activities",
                                                   f"/amer/v3/conversations/{chat}/activities"]
    assert [a["id"] for a in teams.activities(chat)] == [first.message_id, second.message_id]


def test_a_line_in_a_personal_chat_thread_is_a_reply(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    card = poster.post_card(DR_LEE, adverse_card())
    reply = poster.post_text(DR_LEE, "Acknowledged", thread=card)
    assert reply.conversation == card.conversation and reply.thread_root == card.message_id
    posted = teams.activity(reply.message_id)
    assert posted is not None and posted["replyToId"] == card.message_id
    assert posted["conversation"] == card.conversation  # no ";messageid=": a chat has no threads


def test_a_person_without_the_app_is_a_permanent_failure(teams: TeamsStandIn, places: MemoryPlaces,
                                                         poster: TeamsPoster) -> None:
    teams.not_installed.add(JESS)
    error = failure(lambda: poster.post_text(JESS, "Page: adverse event"))
    assert not error.transient
    assert "not installed in Teams" in error.reason and JESS in error.reason
    assert places.personal("teams", JESS) is None
    assert teams.activities() == []


def test_an_unknown_channel_is_a_permanent_failure(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    error = failure(lambda: poster.post_card("billing", adverse_card()))
    assert not error.transient
    assert error.reason.startswith("no Teams channel named billing is known: add the app to the team")
    assert teams.all_calls == []  # not even a token


def test_no_page_before_the_bot_knows_where_teams_answers(teams: TeamsStandIn) -> None:
    with TeamsPoster(settings_for(teams), MemoryPlaces(), timeout=5) as poster:
        error = failure(lambda: poster.post_text(DR_LEE, "Page"))
    assert not error.transient and "serviceUrl" in error.reason
    assert teams.all_calls == []


# --- the serviceUrl ----------------------------------------------------------------------------------------------

def test_only_the_service_url_places_gave_is_called(teams: TeamsStandIn, places: MemoryPlaces,
                                                    poster: TeamsPoster) -> None:
    with TeamsStandIn() as decoy:
        teams.answer_service_url = decoy.service_url  # the create answer names another serviceUrl: ignored
        poster.post_text(DR_LEE, "Page")
        poster.post_text(DR_LEE, "Page again")
        poster.post_card("triage", adverse_card())
        assert decoy.all_calls == []
    assert all(call.path.startswith("/amer/v3/conversations") for call in teams.api_calls())
    assert places.personal("teams", DR_LEE) is not None
    assert places.personal("teams", DR_LEE).service_url == teams.service_url  # type: ignore[union-attr]


def test_a_service_url_that_is_not_https_is_refused(teams: TeamsStandIn) -> None:
    known = MemoryPlaces()
    known.remember(triage_channel("ftp://127.0.0.1:9/amer/"))
    with TeamsPoster(settings_for(teams), known, timeout=5) as poster:
        error = failure(lambda: poster.post_text("triage", "hello"))
    assert not error.transient and "https" in error.reason
    assert teams.all_calls == []


# --- the token ----------------------------------------------------------------------------------------------------

def test_the_token_is_fetched_once_and_sent_with_every_call(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    ref = poster.post_card("triage", adverse_card())
    poster.post_text("triage", "line", thread=ref)
    poster.update_card(ref, adverse_card(status="claimed", claimed_by="dr-lee"))
    poster.post_text(DR_LEE, "Page")
    assert teams.token_requests == [{"grant_type": "client_credentials", "client_id": APP_ID,
                                     "scope": "https://api.botframework.com/.default"}]  # the secret not recorded
    [token] = teams.issued
    assert len(teams.api_calls()) == 5
    assert {call.token for call in teams.api_calls()} == {token}


def test_a_token_about_to_expire_is_renewed(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    teams.expires_in = 299  # under the 5 minutes kept in hand: never cached
    poster.post_text("triage", "one")
    poster.post_text("triage", "two")
    assert len(teams.token_requests) == 2 and len(teams.issued) == 2


def test_the_tenant_is_asked_for_the_token(teams: TeamsStandIn, places: MemoryPlaces) -> None:
    settings = settings_for(teams, token_url=teams.url + "/{tenant}/oauth2/v2.0/token")
    with TeamsPoster(settings, places, timeout=5) as poster:
        poster.post_text("triage", "hello")
    assert teams.token_requests[0]["tenant"] == TENANT_ID


def test_refused_credentials_are_permanent_and_say_what_to_check(teams: TeamsStandIn, places: MemoryPlaces) -> None:
    with TeamsPoster(settings_for(teams, app_password="wrong"), places, timeout=5) as poster:
        error = failure(lambda: poster.post_text("triage", "hello"))
    assert not error.transient and "TEAMS_APP_PASSWORD" in error.reason
    assert teams.api_calls() == []


def test_a_token_endpoint_outage_is_transient_and_not_maybe_sent(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    teams.fail_token(503)
    error = failure(lambda: poster.post_text("triage", "hello"))
    assert error.transient and not error.maybe_sent
    assert teams.api_calls() == []
    poster.post_text("triage", "hello")  # the next try gets a token
    assert len(teams.activities(CHANNEL)) == 1


# --- errors -------------------------------------------------------------------------------------------------------

def test_429_is_a_rate_limit_with_retry_after(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    teams.fail_next(429, retry_after="7")
    error = failure(lambda: poster.post_card("triage", adverse_card()))
    assert error.rate_limited and error.transient and not error.counts and error.retry_after == 7.0
    assert teams.activities() == []


def test_429_retry_after_as_an_http_date(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    teams.fail_next(429, retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True))
    error = failure(lambda: poster.post_text("triage", "hello"))
    assert error.rate_limited and error.retry_after is not None and 20 <= error.retry_after <= 30


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("Tue, 24 Nov 2026 18:00:12 GMT", now=lambda: now) == 12.0
    assert retry_after_seconds("Tue, 24 Nov 2026 17:00:00 GMT", now=lambda: now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


@pytest.mark.parametrize("status", [412, 502, 503, 504])
def test_busy_answers_are_transient(teams: TeamsStandIn, poster: TeamsPoster, status: int) -> None:
    teams.fail_next(status, retry_after="2" if status == 503 else None)
    error = failure(lambda: poster.post_text("triage", "hello"))
    assert error.transient and not error.maybe_sent and not error.rate_limited
    assert error.retry_after == (2.0 if status == 503 else None)


def test_a_500_may_have_been_sent(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    teams.fail_next(500)
    error = failure(lambda: poster.post_text("triage", "hello"))
    assert error.transient and error.maybe_sent


def test_a_lost_answer_may_have_been_sent(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    teams.drop_next()
    error = failure(lambda: poster.post_text("triage", "hello"))
    assert error.transient and error.maybe_sent
    assert len(teams.activities(CHANNEL)) == 1  # it did land


def test_a_refused_connection_was_not_sent(teams: TeamsStandIn) -> None:
    gone = MemoryPlaces()
    with TeamsStandIn() as closed:
        dead_url = closed.service_url
    gone.remember(triage_channel(dead_url))
    with TeamsPoster(settings_for(teams), gone, timeout=5) as poster:
        error = failure(lambda: poster.post_text("triage", "hello"))
    assert error.transient and not error.maybe_sent


def test_no_answer_in_time_may_have_been_sent(teams: TeamsStandIn, places: MemoryPlaces) -> None:
    async def stuck(scope: str, tenant: str | None) -> str:
        await asyncio.Event().wait()  # never set: the call outlives its timeout
        return ""

    with TeamsPoster(settings_for(teams), places, token=stuck, timeout=5, call_timeout=0.2) as poster:
        error = failure(lambda: poster.post_text("triage", "hello"))
    assert error.transient and error.maybe_sent and "did not answer" in error.reason


def test_a_broken_places_store_is_transient(teams: TeamsStandIn) -> None:
    class Broken(MemoryPlaces):
        def channel(self, platform: str, name: str) -> Place | None:
            raise ConnectionError("database down")

    with TeamsPoster(settings_for(teams), Broken(), timeout=5) as poster:
        error = failure(lambda: poster.post_text("triage", "hello"))
    assert error.transient and not error.maybe_sent


@pytest.mark.parametrize(("status", "words"), [
    (400, "malformed"), (401, "TEAMS_APP_ID/TEAMS_APP_PASSWORD"), (403, "add the Triage app back"),
    (404, "deleted, or the bot was removed"),
])
def test_refusals_are_permanent_with_a_fix(teams: TeamsStandIn, poster: TeamsPoster, status: int,
                                           words: str) -> None:
    teams.fail_next(status)
    error = failure(lambda: poster.post_text("triage", "hello"))
    assert not error.transient and words in error.reason


def test_editing_a_card_that_is_gone_is_permanent(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    error = failure(lambda: poster.update_card(PostRef("teams", CHANNEL, "1732460400999"), adverse_card()))
    assert not error.transient and "404 ActivityNotFoundInConversation" in error.reason


def test_a_storm_fails_a_steady_share_and_the_rest_lands(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    teams.storm(0.5, statuses=(503, 429), retry_after="1")
    outcomes = []
    for n in range(6):
        try:
            poster.post_text("triage", f"line {n}")
            outcomes.append("ok")
        except DeliveryError as exc:
            outcomes.append("429" if exc.rate_limited else "503")
    assert outcomes == ["ok", "503", "ok", "429", "ok", "503"]
    teams.storm(None)
    poster.post_text("triage", "calm")
    assert [a["text"] for a in teams.activities(CHANNEL)] == ["line 0", "line 2", "line 4", "calm"]


def test_message_text_is_never_logged(teams: TeamsStandIn, poster: TeamsPoster,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    teams.fail_next(400, 500)
    for _ in range(2):
        failure(lambda: poster.post_card("triage", adverse_card()))
    poster.post_card("triage", adverse_card())
    assert "Teams card answered 400 BadArgument" in caplog.text
    for secret in ("swollen", "Olivia", APP_PASSWORD):
        assert secret not in caplog.text


# --- charts -------------------------------------------------------------------------------------------------------

def test_a_chart_lands_as_an_image_card(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    poster.post_file("triage", "digest.png", PNG, "Tickets by hour")
    [activity] = teams.activities(CHANNEL)
    content = activity["attachments"][0]["content"]
    assert activity["attachments"][0]["contentType"] == ADAPTIVE
    title, image = content["body"]
    assert title["type"] == "TextBlock" and title["text"] == "Tickets by hour"
    assert image["type"] == "Image"
    assert image["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_a_chart_in_a_thread(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    root = poster.post_text("triage", "Digest")
    poster.post_file("triage", "digest.png", PNG, "Tickets by hour", thread=root)
    assert teams.activities(CHANNEL)[-1]["conversation"] == f"{CHANNEL};messageid={root.message_id}"


def test_a_chart_too_large_for_teams_is_refused(teams: TeamsStandIn, poster: TeamsPoster) -> None:
    big = PNG + bytes(range(256)) * 80  # ~20 KB of PNG is ~27 KB of base64
    error = failure(lambda: poster.post_file("triage", "digest.png", big, "Tickets by hour"))
    assert not error.transient and "too large for a Teams message" in error.reason
    assert teams.all_calls == []
    assert MAX_ACTIVITY_BYTES < 28 * 1024


# --- lifecycle and settings ---------------------------------------------------------------------------------------

def test_after_close_calls_fail_transient(teams: TeamsStandIn, places: MemoryPlaces) -> None:
    poster = TeamsPoster(settings_for(teams), places, timeout=5)
    poster.post_text("triage", "before")
    poster.close()
    poster.close()  # twice is fine
    error = failure(lambda: poster.post_text("triage", "after"))
    assert error.transient
    assert len(teams.activities(CHANNEL)) == 1


ENV: Mapping[str, str] = {"TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": APP_PASSWORD, "TEAMS_TENANT_ID": TENANT_ID}


def test_settings_from_the_environment() -> None:
    assert TeamsSettings.from_env({}) is None
    settings = TeamsSettings.from_env(ENV)
    assert settings is not None
    assert (settings.app_id, settings.tenant_id, settings.multi_tenant) == (APP_ID, TENANT_ID, False)
    assert settings.openid_metadata_url == "https://login.botframework.com/v1/.well-known/openidconfiguration"
    assert settings.token_url is None and settings.graph_token_url is None
    assert settings.bot_token_url == "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    assert settings.graph_url == "https://graph.microsoft.com/v1.0"
    assert APP_PASSWORD not in repr(settings) and APP_PASSWORD not in str(settings)
    multi = TeamsSettings.from_env({"TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": "x", "TEAMS_MULTI_TENANT": "1"})
    assert multi is not None and multi.tenant_id is None and multi.bot_token_tenant == "botframework.com"
    local = TeamsSettings.from_env({**ENV, "TEAMS_TOKEN_URL": "http://127.0.0.1:9/{tenant}/token"})
    assert local is not None and local.token_url == "http://127.0.0.1:9/{tenant}/token"


@pytest.mark.parametrize(("env", "named"), [
    ({"TEAMS_APP_ID": APP_ID, "TEAMS_TENANT_ID": TENANT_ID}, "TEAMS_APP_PASSWORD"),
    ({"TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": "x"}, "TEAMS_TENANT_ID"),
    ({**ENV, "TEAMS_TOKEN_URL": "http://login.example.com/token"}, "TEAMS_TOKEN_URL"),
    ({**ENV, "TEAMS_GRAPH_URL": "http://graph.example.com/v1.0"}, "TEAMS_GRAPH_URL"),
    ({**ENV, "TEAMS_OPENID_METADATA_URL": "https://login.example.com/keys"}, "TEAMS_OPENID_METADATA_URL"),
])
def test_settings_name_what_is_wrong(env: Mapping[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        TeamsSettings.from_env(env)
