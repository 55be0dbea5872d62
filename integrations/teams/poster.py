"""Posting cards and lines to Microsoft Teams through the Teams SDK's Bot Connector client. Every failure becomes
the outbox's DeliveryError.

**Calls.** Everything goes through `microsoft_teams.api.ApiClient` (one per serviceUrl, sharing one HTTP client):
``conversations.create`` opens a personal chat, ``conversations.create_activity`` posts, and
``conversations.update_activity`` edits a card in place. A line in a channel thread is posted to the threaded
conversation id ``{channel};messageid={root}`` (what the SDK's ``App.reply`` does, built as its
``to_threaded_conversation_id`` does: that helper lives in ``microsoft_teams.apps``, whose import loads a ``.env``
file, so it is not imported here); a personal or group chat has no threads, so a line there goes through
``conversations.reply_to_activity`` (``replyToId``). No retries: the SDK's HTTP client has none for these calls and
its httpx transport is built with ``retries=0``, so the outbox alone decides when to try again.

**Threads.** The SDK is async; the outbox's workers are threads. One private event loop runs in a daemon thread
and every call is handed to it (integrations/teams/loop.py) and waited for with a timeout. `close()` stops
it.

**Where.** A `channel` is a role channel as the clinic config names it (`Places.channel`), or a person's Entra
object id (a page): their personal chat (`Places.personal`), opened proactively the first time. The bot posts only
to a serviceUrl it was given through `places` (learnt from authenticated activities), never one that is
configured, guessed or read from an answer.

**Differences from Slack.** The Bot Connector cannot list a conversation's messages, so `find_tagged` always says
None and a post's outbox tag is not carried. A message is refused above about 28 KB: a chart that would not fit is
a permanent failure, never dropped silently.

Logs carry status codes, error codes and kinds only: never message text or card content.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from microsoft_teams.api import Account, ApiClient, SentActivity
from microsoft_teams.api.activities.message import MessageActivityInput
from microsoft_teams.api.auth.cloud_environment import PUBLIC
from microsoft_teams.api.clients.conversation import CreateConversationParams
from microsoft_teams.api.models.attachment.attachment import Attachment
from microsoft_teams.api.models.conversation.conversation_resource import ConversationResource
from microsoft_teams.api.models.entity import MentionEntity
from microsoft_teams.common import Client, ClientOptions

from bot.cards.model import Card
from bot.document import Document, Style
from bot.mentions import Line
from bot.outbox.errors import DeliveryError, permanent, rate_limited, transient, unanswered
from bot.places import Place, PlaceKind, Places
from bot.ports import PostRef
from integrations.teams.cards import AdaptiveCard, TextBlock, escape_markdown, notification_text, render_card
from integrations.teams.images import data_uri, fit_png
from integrations.teams.loop import CallTimedOut, LoopStopped, PrivateLoop
from integrations.teams.settings import TeamsSettings, require_https_unless_loopback
from integrations.teams.text import teams_document, teams_line
from integrations.teams.token import ClientCredentialsToken, TokenSource, retry_after_seconds

log = logging.getLogger(__name__)

PLATFORM = "teams"
CARD = "application/vnd.microsoft.card.adaptive"
MAX_ACTIVITY_BYTES = 27_000  # Teams refuses a bot message above about 28 KB
CHART_SIZE = "stretch"  # Image.size: the chart as wide as the card
_PLACEHOLDER_ID = "DO_NOT_USE_PLACEHOLDER_ID"  # what the SDK returns when an answer carried no id
_PERSON = re.compile(r"^(?:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|29:\S+|8:orgid:\S+)$")
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
T = TypeVar("T")


class _AppToken:
    """The SDK's TokenProviderProtocol over our (scope, tenant) token callable; the SDK asks with no tenant."""

    def __init__(self, token: TokenSource, tenant: str | None) -> None:
        self._token = token
        self._tenant = tenant

    def get_app_token(self, scope: str, tenant_id: str | None) -> Awaitable[str]:
        return self._token(scope, tenant_id or self._tenant)


class TeamsPoster:
    """The ChatPoster for Teams. Synchronous and thread-safe; `close()` when done.

    `token`: the bot's token provider, an async ``(scope, tenant) -> str`` (default: `ClientCredentialsToken`
    against the settings' token URL). `timeout`: seconds for one HTTP request; `call_timeout`: for a whole call
    (the token included), after which the post counts as unanswered (maybe sent).
    """

    platform = PLATFORM

    def __init__(self, settings: TeamsSettings, places: Places, *, token: TokenSource | None = None,
                 timeout: float = 15.0, call_timeout: float | None = None) -> None:
        self._settings = settings
        self._places = places
        self._token = token if token is not None else ClientCredentialsToken.from_settings(settings)
        self._call_timeout = call_timeout if call_timeout is not None else 2 * timeout + 5
        self._httpx = httpx.AsyncClient(timeout=timeout, transport=httpx.AsyncHTTPTransport(retries=0),
                                        follow_redirects=False)
        self._http = Client(ClientOptions(timeout=timeout), _http=self._httpx)
        self._clients: dict[str, ApiClient] = {}  # by serviceUrl; used on the loop's thread only
        self._known: dict[str, Place] = {}  # conversation id -> where it is, for updates and threads
        self._lock = threading.Lock()
        self._opening: dict[str, threading.Lock] = {}  # one personal-chat create per person at a time
        self._closed = False
        self._loop = PrivateLoop("teams-poster")

    # --- ChatPoster ---------------------------------------------------------------------------------------
    def post_card(self, channel: str, card: Card, *, tag: str = "") -> PostRef:
        place = self._place(channel)
        activity = _card_activity(render_card(card), notification_text(card))
        activity_id = self._create(place, place.conversation, activity, what="card")
        return PostRef(PLATFORM, place.conversation, activity_id)

    def post_text(self, channel: str, text: str | Line, *, thread: PostRef | None = None, tag: str = "") -> PostRef:
        markdown, entities = teams_line(text)
        activity = MessageActivityInput(text=markdown, text_format="markdown",
                                        entities=[MentionEntity.model_validate(e) for e in entities] or None)
        if thread is None:
            place = self._place(channel)
            return PostRef(PLATFORM, place.conversation, self._create(place, place.conversation, activity,
                                                                      what="line"))
        place = self._conversation(thread.conversation) or self._place(channel)
        base = _base(thread.conversation)
        threaded = _threaded(base, thread.message_id) if place.kind == "channel" else None
        if threaded is not None:
            activity_id = self._create(place, threaded, activity, what="thread line")
            return PostRef(PLATFORM, threaded, activity_id, thread.message_id)
        _check_size(activity, "line")
        sent = self._call(place, lambda api: api.conversations.reply_to_activity(base, thread.message_id, activity),
                          what="thread line")
        return PostRef(PLATFORM, base, _activity_id(sent, "thread line"), thread.message_id)

    def post_document(self, channel: str, document: Document, *, tag: str = "") -> PostRef:
        place = self._place(channel)
        activity = _card_activity(teams_document(document), _document_summary(document))
        return PostRef(PLATFORM, place.conversation, self._create(place, place.conversation, activity,
                                                                  what="digest"))

    def find_tagged(self, channel: str, tag: str, *, thread: PostRef | None = None) -> PostRef | None:
        """Always None: the Bot Connector API has no way to list a conversation's messages (Slack's
        conversations.history has no Teams counterpart for bots), so a post whose outcome is unknown cannot be
        found again, and Teams posts carry no outbox tag. A maybe-sent post is therefore sent again."""
        return None

    def update_card(self, ref: PostRef, card: Card) -> None:
        place = self._conversation(ref.conversation)
        if place is None:
            raise permanent("the Teams conversation of that card is not known (the bot learns conversations from "
                            "Teams): add the app to the team again")
        activity = _card_activity(render_card(card), notification_text(card))
        _check_size(activity, "card")
        self._call(place, lambda api: api.conversations.update_activity(ref.conversation, ref.message_id, activity),
                   what="card update")

    def post_file(self, channel: str, filename: str, data: bytes, title: str, *,
                  thread: PostRef | None = None) -> None:
        """The chart as an image in the channel: an Adaptive Card with the title and a data: URI image (a bot cannot
        upload a file into a channel through the Bot Connector). A chart too big for a Teams message is refused."""
        content = AdaptiveCard((TextBlock(escape_markdown(title), weight="bolder", size="medium"),),
                               fallback_text=escape_markdown(title)).to_dict()
        envelope = _size(_card_activity(content, title)) + 200  # the card and activity around the image
        fitted = fit_png(data, MAX_ACTIVITY_BYTES - envelope)
        uri = data_uri(fitted if fitted is not None else data)
        content["body"].append({"type": "Image", "url": uri, "altText": title, "size": CHART_SIZE})
        activity = _card_activity(content, title)
        size = _size(activity)
        if size > MAX_ACTIVITY_BYTES:
            log.warning("Teams chart refused before sending: %d bytes", size)
            raise permanent(f"the chart {filename} was too large for a Teams message ({size} bytes; Teams takes "
                            f"about {MAX_ACTIVITY_BYTES} with its envelope): make the chart smaller")
        place = self._place(channel)
        if thread is not None:
            base = _base(thread.conversation)
            threaded = _threaded(base, thread.message_id) if place.kind == "channel" else None
            if threaded is not None:
                self._create(place, threaded, activity, what="chart")
                return
            self._call(place, lambda api: api.conversations.reply_to_activity(base, thread.message_id, activity),
                       what="chart")
            return
        self._create(place, place.conversation, activity, what="chart")

    # --- lifecycle ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stops the event loop and closes the HTTP client. Calls after this fail (transient)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True

        self._loop.stop(self._httpx.aclose, "Teams poster")

    def __enter__(self) -> TeamsPoster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- where -------------------------------------------------------------------------------------------
    def _place(self, channel: str) -> Place:
        """A role channel by its config name, else a person's personal chat (opened now if there is none yet)."""
        place = (self._lookup(lambda: self._places.channel(PLATFORM, channel))
                 or self._lookup(lambda: self._places.personal(PLATFORM, channel)))
        if place is None:
            if not _PERSON.match(channel):
                raise permanent(f"no Teams channel named {channel} is known: add the app to the team (the bot "
                                "learns the team's channels when it is installed)")
            place = self._open_personal_chat(channel)
        return self._learn(place)

    def _learn(self, place: Place) -> Place:
        with self._lock:
            self._known[_base(place.conversation)] = place
        return place

    def _conversation(self, conversation: str) -> Place | None:
        """Where a conversation the bot posted in is: known from this process, else from `places` (a channel by
        its id), else the tenant's latest serviceUrl (as learnt from Teams)."""
        base = _base(conversation)
        with self._lock:
            known = self._known.get(base)
        if known is not None:
            return known
        place = self._lookup(lambda: self._places.channel(PLATFORM, base))
        if place is not None and _base(place.conversation) == base:
            return self._learn(place)
        service_url = self._lookup(lambda: self._places.service_url(PLATFORM, self._settings.tenant_id))
        if service_url is None:
            return None
        return Place(PLATFORM, base, service_url, _kind_of(base), tenant=self._settings.tenant_id)

    def _open_personal_chat(self, user: str) -> Place:
        with self._lock:
            opening = self._opening.setdefault(user, threading.Lock())
        with opening:
            place = self._lookup(lambda: self._places.personal(PLATFORM, user))
            if place is not None:
                return place
            tenant = self._settings.tenant_id
            if tenant is None:
                raise permanent(f"no personal Teams chat with {user} is known, and a multi-tenant bot cannot open one "
                                "without their tenant: ask them to open the Triage app in Teams once")
            service_url = self._lookup(lambda: self._places.service_url(PLATFORM, tenant))
            if service_url is None:
                raise permanent("no Teams serviceUrl is known for the clinic's tenant yet: add the Triage app to the "
                                "team first (the bot learns where Teams answers when it is installed)")
            where = Place(PLATFORM, "", service_url, "personal", tenant=tenant, user=user)
            params = CreateConversationParams(
                members=[Account(id=user)], tenant_id=tenant, channel_data={"tenant": {"id": tenant}},
                # Not fields of the SDK's model (it allows extra ones): the Bot Connector's ConversationParameters.
                isGroup=False, bot=Account(id=f"28:{self._settings.app_id}"))
            not_installed = (f"the Triage app is not installed in Teams for {user}: install it for them (Teams admin "
                             "center > Manage apps, or the person adds it) so that pages can reach them")
            resource: ConversationResource = self._call(where, lambda api: api.conversations.create(params),
                                                        what="personal chat", refused={403: not_installed,
                                                                                       404: not_installed})
            if not resource.id:
                raise unanswered("Teams opened a personal chat without saying its id")
            # The serviceUrl stays the one places gave: never one read from an answer.
            place = Place(PLATFORM, resource.id, service_url, "personal", tenant=tenant, user=user)
            self._lookup(lambda: self._places.remember(place))
            log.info("Teams personal chat opened")
            return place

    @staticmethod
    def _lookup(find: Callable[[], T]) -> T:
        """A `places` call (the database): its failure is a transient DeliveryError, as the outbox expects."""
        try:
            return find()
        except DeliveryError:
            raise
        except Exception as exc:
            log.warning("Teams places lookup failed: %s", type(exc).__name__)
            raise transient(f"the bot's record of Teams conversations could not be read ({type(exc).__name__})"
                            ) from None

    # --- calls -------------------------------------------------------------------------------------------
    def _create(self, place: Place, conversation: str, activity: MessageActivityInput, *, what: str) -> str:
        _check_size(activity, what)
        sent = self._call(place, lambda api: api.conversations.create_activity(conversation, activity), what=what)
        return _activity_id(sent, what)

    def _api(self, service_url: str) -> ApiClient:
        api = self._clients.get(service_url)
        if api is None:
            api = ApiClient(service_url, self._http, cloud=PUBLIC,
                            token_provider=_AppToken(self._token, self._settings.tenant_id))
            self._clients[service_url] = api
        return api

    def _call(self, place: Place, request: Callable[[ApiClient], Awaitable[T]], *, what: str,
              refused: Mapping[int, str] | None = None) -> T:
        service_url = place.service_url
        try:
            require_https_unless_loopback("the Teams serviceUrl", service_url)
        except ValueError:
            raise permanent("the serviceUrl recorded for that Teams conversation is not an https URL: refusing to "
                            "send there") from None
        with self._lock:
            if self._closed:
                raise transient("the Teams poster is closed (the bot is stopping)")

        async def run() -> T:
            return await request(self._api(service_url))

        try:
            return self._loop.run(run(), self._call_timeout)
        except CallTimedOut:
            log.warning("Teams %s: no answer within %.0fs", what, self._call_timeout)
            raise unanswered(f"Teams did not answer within {self._call_timeout:.0f}s ({what})") from None
        except LoopStopped:
            raise transient("the Teams poster stopped before the call finished") from None
        except DeliveryError:  # the token provider's
            raise
        except Exception as exc:
            raise _delivery_error(exc, what, refused or {}) from None


# --- activities ------------------------------------------------------------------------------------------
def _card_activity(content: dict[str, Any], summary: str | None) -> MessageActivityInput:
    # `summary` (the notification and chat-list text) is not a field of the SDK's input model; it allows extras.
    return MessageActivityInput(attachments=[Attachment(content_type=CARD, content=content)], summary=summary)


def _document_summary(document: Document) -> str | None:
    for row in document:
        if row.style is Style.HEADING:
            return "".join(span.text for span in row.spans)[:150] or None
    return None


def _size(activity: MessageActivityInput) -> int:
    return len(json.dumps(activity.model_dump(by_alias=True, exclude_none=True, mode="json")).encode("utf-8"))


def _check_size(activity: MessageActivityInput, what: str) -> None:
    size = _size(activity)
    if size > MAX_ACTIVITY_BYTES:
        log.warning("Teams %s refused before sending: %d bytes", what, size)
        raise permanent(f"the {what} was too large for a Teams message ({size} bytes; Teams takes about "
                        f"{MAX_ACTIVITY_BYTES})")


def _activity_id(sent: SentActivity, what: str) -> str:
    if not sent.id or sent.id == _PLACEHOLDER_ID:
        raise unanswered(f"Teams accepted the {what} without saying its id")
    return sent.id


def _base(conversation: str) -> str:
    return conversation.split(";", 1)[0]


def _threaded(base: str, root: str) -> str | None:
    """``{channel};messageid={root}``, as the SDK's `to_threaded_conversation_id` builds it (a numeric root)."""
    if not root.isdigit() or root == "0":
        return None
    return f"{base};messageid={root}"


def _kind_of(conversation: str) -> PlaceKind:
    if conversation.startswith("a:"):
        return "personal"
    if "@thread.tacv2" in conversation or "@thread.skype" in conversation:
        return "channel"
    return "groupChat"


# --- errors ----------------------------------------------------------------------------------------------
def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else ""


def _delivery_error(exc: BaseException, what: str, refused: Mapping[int, str]) -> DeliveryError:
    if isinstance(exc, httpx.HTTPStatusError):
        return _status_error(exc.response, what, refused)
    kind = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        log.warning("Teams %s: not sent (%s)", what, kind)
        return transient(f"Teams unreachable ({kind}): the {what} was not sent")
    if isinstance(exc, httpx.TransportError | TimeoutError | OSError):  # read timeout, reset, cut-off answer
        log.warning("Teams %s: no clear answer (%s)", what, kind)
        return unanswered(f"Teams gave no clear answer ({kind}): the {what} may have been sent")
    if isinstance(exc, ValueError | KeyError | TypeError):  # an answer the SDK could not read
        log.warning("Teams %s: unreadable answer (%s)", what, kind)
        return unanswered(f"Teams answered something unreadable ({kind}): the {what} may have been sent")
    log.error("Teams %s failed: %s", what, kind)
    return unanswered(f"the Teams {what} failed ({kind})")


def _status_error(response: httpx.Response, what: str, refused: Mapping[int, str]) -> DeliveryError:
    status = response.status_code
    code = _error_code(response)
    label = f"{status} {code}".strip()
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    log.warning("Teams %s answered %s", what, label)
    if status == 429:
        return rate_limited(f"Teams rate limited the bot (429, {what})", retry_after)
    if status in (412, 502, 503, 504):
        return transient(f"Teams is busy or unavailable ({label}, {what})", retry_after)
    if status >= 500:
        return unanswered(f"Teams server error ({label}): the {what} may have been sent")
    if status in refused:
        return permanent(refused[status])
    if status == 401:
        return permanent(f"Teams refused the bot's token ({label}): check TEAMS_APP_ID/TEAMS_APP_PASSWORD (and "
                         "TEAMS_TENANT_ID)")
    if status == 403:
        return permanent(f"Teams refused the {what} ({label}): the bot is not in that conversation any more (removed "
                         "from the team or chat?): add the Triage app back")
    if status == 404:
        return permanent(f"Teams does not know that conversation or message ({label}): it was deleted, or the bot "
                         "was removed from it")
    if status == 413:
        return permanent(f"the {what} was too large for a Teams message ({label})")
    if status == 408:
        return unanswered(f"Teams timed out ({label}): the {what} may have been sent")
    return permanent(f"Teams refused the {what} ({label}): the message was malformed (a bug: the log has the status)")
