"""Teams activities in: the SDK's `App` behind POST /teams/messages, its JWT validation, its activity routing,
and the bot's `TeamsListener` called for what matters (installs, messages to the bot, Adaptive Card actions).

Authentication is the SDK's own (`HttpServer.handle_request` -> `InboundActivityTokenValidator`): RS256 signature
against the signing keys of the Bot Framework OpenID configuration, issuer `https://api.botframework.com`, audience
= our app id, expiry/not-before (with the SDK's 5 minute leeway), and the token's `serviceurl` claim = the
activity's serviceUrl. The SDK does not read the OpenID metadata document: it derives the keys URL from the
metadata URL by replacing its final `/openidconfiguration` with `/keys` (token_validator.py `for_service`), which is
where Microsoft's metadata points its `jwks_uri`. So the metadata URL given here must end in `/openidconfiguration`.

After the SDK has authenticated a request, and before any handler runs, `TeamsInbound` checks what the SDK does
not: the tenant (single-tenant by default: the activity's tenant, and the token's `tid` when it carries one, must be
ours), that the activity has a serviceUrl (without one the SDK skips the serviceurl claim check), and that the body is
an activity the SDK's models accept (else the SDK would answer 500 with a traceback in the log).

The listener is synchronous (it uses the database); it runs in Starlette's thread pool, never on the event loop.
Its exceptions never become a 500: an Adaptive Card action is answered with a message saying it failed, a message
with a short apology, and the log has the exception type and the activity type, never the text.
"""

from __future__ import annotations

# isort: off
import handlers.teams.sdk  # noqa: F401  (before the SDK: it loads no .env then)
# isort: on

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, cast

from microsoft_teams.api import (
    ActivityBase,
    ActivityTypeAdapter,
    ClientCredentials,
    ConversationUpdateActivity,
    InvokeResponse,
    TokenCredentials,
    TokenProtocol,
)
from microsoft_teams.api.activities import Activity
from microsoft_teams.api.activities.invoke import AdaptiveCardInvokeActivity
from microsoft_teams.api.activities.message import MessageActivity, MessageActivityInput
from microsoft_teams.api.activities.utils import StripMentionsTextOptions, strip_mentions_text
from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
from microsoft_teams.api.models.attachment import Attachment
from microsoft_teams.api.models.entity import MentionEntity
from microsoft_teams.apps import ActivityContext, App, AppOptions
from microsoft_teams.apps.events import ActivityEvent, CoreActivity
from microsoft_teams.apps.http.adapter import HttpResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.teams.adapter import DEFAULT_MAX_BODY_BYTES, StarletteAdapter
from integrations.teams.settings import require_https_unless_loopback
from integrations.teams.token import ClientCredentialsToken

log = logging.getLogger(__name__)

TEAMS_PATH = "/teams/messages"
BOT_OPENID_METADATA_URL = PUBLIC.openid_metadata_url  # https://login.botframework.com/v1/.well-known/openidconfiguration
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # what MSAL ends up calling

CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"
ERROR = "application/vnd.microsoft.error"

ConversationType = Literal["channel", "personal", "groupChat"]
_CONVERSATION_TYPES: tuple[ConversationType, ...] = ("channel", "personal", "groupChat")

ACTION_FAILED = "Sorry, that action could not be completed (the error was logged). Please try again."
MESSAGE_FAILED = "Sorry, that command did not work (the error was logged). Please try again."


@dataclass(frozen=True)
class TeamsUser:
    id: str  # the Teams user id (from.id, "29:…")
    aad_object_id: str | None  # the Entra ID object id (from.aadObjectId)
    name: str | None


@dataclass(frozen=True)
class ConversationSeen:
    """Where an authenticated activity came from: enough to post there later (service_url + conversation_id)."""

    service_url: str
    conversation_id: str
    conversation_type: ConversationType
    tenant_id: str | None
    team_id: str | None
    team_name: str | None
    channel_id: str | None
    channel_name: str | None
    user_id: str | None  # from.id
    user_aad_id: str | None  # from.aadObjectId
    user_name: str | None


class TeamsListener(Protocol):
    """What the bot does with Teams activities. Called from a worker thread; may block (database)."""

    def on_installed(self, ref: ConversationSeen) -> None:
        """The bot was added to a team, channel, group chat or personal chat (conversationUpdate,
        installationUpdate), and also any other authenticated activity: the latest serviceUrl of a conversation.
        Not called when the bot is removed or uninstalled."""
        ...

    def on_action(self, verb: str, data: dict[str, Any], who: TeamsUser, where: ConversationSeen,
                  activity_id: str) -> dict[str, Any]:
        """An Adaptive Card Action.Execute (invoke `adaptiveCard/action`); `activity_id` is the invoke's id.
        Returns the Adaptive Card that replaces the one clicked."""
        ...

    def on_message(self, text: str, who: TeamsUser, where: ConversationSeen) -> str | dict[str, Any] | None:
        """A message to the bot, its @mention of the bot removed (a command: "queue", "oncall", ...). A string or an
        Adaptive Card (dict) returned is sent back into the conversation; None sends nothing."""
        ...


class TeamsInbound:
    """POST /teams/messages through the Teams SDK, authenticated, routed to `listener`.

    Mount `endpoint` (or `route`) on the Starlette app; `handlers.http_app.create_app(service, teams=...)` does.

    `tenant_id`: the clinic's Microsoft Entra tenant. Activities (and tokens carrying a `tid`) from any other
    tenant are refused with 401. None only with `allow_any_tenant=True` (a multi-tenant bot).
    `openid_metadata_url`: the Bot Framework OpenID configuration (default Microsoft's); must end in
    `/openidconfiguration`, since the SDK derives the signing keys URL from it.
    `token_url`: where the bot gets its own token to send replies (None: the SDK's MSAL client-credentials flow
    against login.microsoftonline.com). May contain "{tenant}".
    Both URLs must be https, except on a loopback host (tests, a local stand-in).
    `sdk_debug_logs`: leave the SDK's DEBUG logging on. Off by default: at DEBUG the SDK logs every activity whole
    (message text, card data) and MSAL's token responses, so its loggers are held at INFO.
    """

    def __init__(self, *, app_id: str, app_password: str, tenant_id: str | None, listener: TeamsListener,
                 openid_metadata_url: str = BOT_OPENID_METADATA_URL, token_url: str | None = None,
                 allow_any_tenant: bool = False, path: str = TEAMS_PATH,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, sdk_debug_logs: bool = False) -> None:
        if not app_id or not app_password:
            raise ValueError("a Teams app id and app password are both required")
        if tenant_id is None and not allow_any_tenant:
            raise ValueError("tenant_id is required (single-tenant bot); pass allow_any_tenant=True for a "
                             "multi-tenant bot")
        if not openid_metadata_url.endswith("/openidconfiguration"):
            raise ValueError("openid_metadata_url must end in /openidconfiguration (the SDK derives the signing "
                             "keys URL from it by replacing that with /keys)")
        require_https_unless_loopback("openid_metadata_url", openid_metadata_url)
        if token_url is not None:
            require_https_unless_loopback("token_url", token_url)
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.path = path
        self.openid_metadata_url = openid_metadata_url
        self.keys_url = openid_metadata_url.removesuffix("/openidconfiguration") + "/keys"
        self.token_url = token_url
        self._listener = listener
        self._ready = False
        self._ready_lock: asyncio.Lock | None = None
        self.adapter = StarletteAdapter(max_body_bytes=max_body_bytes, screen=_screen_core_fields)
        options = AppOptions(
            client_id=app_id,
            tenant_id=tenant_id,
            cloud=with_overrides(PUBLIC, openid_metadata_url=openid_metadata_url),
            http_server_adapter=self.adapter,
            messaging_endpoint=path,
            state=False,  # no per-turn state: the bot keeps its own
            fetch_user_token=False,  # no user OAuth: never ask the token service for a user token per activity
            telemetry={"agent365": False},  # no OpenTelemetry baggage carrying tenant/conversation ids outward
        )
        if token_url is None:
            options["client_secret"] = app_password
        else:
            options["token"] = ClientCredentialsToken(token_url, app_id, app_password)
        if not sdk_debug_logs:
            _quiet_sdk_debug_logs()
        self.app = App(**options)
        self._check_sdk_configuration(app_password, token_url is not None)
        # Registration order is call order: the catch-all first, so the listener knows the conversation (and its
        # latest serviceUrl) before a message or action from it is handled.
        self.app.on_activity(self._seen)
        self.app.on_message(self._message)
        self.app.on_card_action(self._action)

    def _check_sdk_configuration(self, app_password: str, own_token: bool) -> None:
        """The SDK also reads CLIENT_ID, CLIENT_SECRET, TENANT_ID and DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS
        from the environment when an option is not given: refuse to run with anything but what was configured."""
        if self.app.options.dangerously_allow_unauthenticated_requests:
            raise RuntimeError("the Teams SDK was configured (by its environment variable) to accept "
                               "unauthenticated requests; refusing to start")
        credentials = self.app.credentials
        expected = TokenCredentials if own_token else ClientCredentials
        if not isinstance(credentials, expected) or credentials.client_id != self.app_id:
            raise RuntimeError("the Teams SDK did not take the configured credentials (CLIENT_SECRET or CLIENT_ID in "
                               "the environment?)")
        if isinstance(credentials, ClientCredentials) and credentials.client_secret != app_password:
            raise RuntimeError("the Teams SDK did not take the configured app password")
        if credentials.tenant_id != self.tenant_id:
            raise RuntimeError("the Teams SDK took a tenant other than the configured one (TENANT_ID in the "
                               "environment?)")

    # --- HTTP -----------------------------------------------------------------------------------------
    async def endpoint(self, request: Request) -> Response:
        """The Starlette endpoint for POST /teams/messages."""
        await self._initialise()
        return await self.adapter.handle(self.path, request)

    @property
    def route(self) -> Route:
        return Route(self.path, self.endpoint, methods=["POST"])

    async def _initialise(self) -> None:
        """`App.initialize()` is async and is where the SDK registers its route (and sets up JWT validation), so it
        runs on the first request, on the serving event loop."""
        if self._ready:
            return
        if self._ready_lock is None:
            self._ready_lock = asyncio.Lock()
        async with self._ready_lock:
            if self._ready:
                return
            await self.app.initialize()
            if self.path not in self.adapter.paths:
                raise RuntimeError("the Teams SDK did not register its messaging route")
            authenticated = self.app.server.on_request
            if authenticated is None:
                raise RuntimeError("the Teams SDK set no activity callback")

            async def checked(event: ActivityEvent) -> InvokeResponse[Any]:
                refused = self._refusal(event)
                if refused is not None:
                    return refused
                return await authenticated(event)

            # Runs after the SDK has validated the token, before the App's routing sees the activity.
            self.app.server.on_request = checked
            self._ready = True

    def _refusal(self, event: ActivityEvent) -> InvokeResponse[Any] | None:
        try:
            activity = ActivityTypeAdapter.validate_python(event.body.model_dump(by_alias=True, exclude_none=True))
        except ValidationError as exc:
            fields = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})[:10]
            log.info("Teams activity refused: not a valid activity (%d problems)", len(exc.errors()))
            return InvokeResponse[Any](status=400, body={"error": "not a valid Bot Framework activity",
                                                         "fields": fields})
        if not activity.service_url:
            return InvokeResponse[Any](status=400, body={"error": "the activity has no serviceUrl"})
        problem = self._tenant_problem(activity, event.token)
        if problem is not None:
            log.warning("Teams activity refused (type=%s): %s", activity.type, problem)
            return InvokeResponse[Any](status=401, body={"error": "Unauthorized", "reason": problem})
        return None

    def _tenant_problem(self, activity: ActivityBase, token: TokenProtocol) -> str | None:
        if self.tenant_id is None:
            return None
        claimed = token.tenant_id
        if claimed is not None and claimed.lower() != self.tenant_id.lower():
            return "the token is for another tenant"
        tenant = _tenant_of(activity)
        if tenant is None:
            return "the activity names no tenant"
        if tenant.lower() != self.tenant_id.lower():
            return "the activity is from another tenant"
        return None

    # --- SDK handlers ---------------------------------------------------------------------------------
    async def _seen(self, ctx: ActivityContext[Activity]) -> None:
        activity = ctx.activity
        if not _is_removal(activity):
            try:
                seen = conversation_seen(activity)
                await run_in_threadpool(self._listener.on_installed, seen)
                if isinstance(activity, ConversationUpdateActivity) and seen.team_id:
                    for channel in await self._team_channels(ctx, seen):
                        await run_in_threadpool(self._listener.on_installed, channel)
            except Exception as exc:  # knowing the conversation is a side effect: the activity is still handled
                log.warning("Teams listener on_installed failed (%s) for a %s activity", type(exc).__name__,
                            activity.type)
        await ctx.next()

    async def _team_channels(self, ctx: ActivityContext[Activity], seen: ConversationSeen) -> list[ConversationSeen]:
        """Installed in a team, or a channel made or renamed: every channel of the team (the Bot Connector's
        team conversations), so that the config can name any of them. An activity only says its own channel."""
        assert seen.team_id is not None
        channels = await ctx.api.teams.get_conversations(seen.team_id)
        found = []
        for channel in channels:
            if not channel.id:
                continue
            name = channel.name or ("General" if channel.id == seen.team_id else None)  # General has no name
            found.append(replace(seen, conversation_id=channel.id, conversation_type="channel",
                                 channel_id=channel.id, channel_name=name, user_id=None, user_aad_id=None,
                                 user_name=None))
        return found

    async def _mentioned(self, ctx: ActivityContext[MessageActivity]) -> str:
        """The message's text with the bot's own mention removed and each other person's mention written as
        `@teams:<Entra object id>` (one word, so that `oncall set @Nurse Kim until 8am` reads)."""
        activity = ctx.activity
        text = strip_mentions_text(activity, StripMentionsTextOptions(account_id=activity.recipient.id)) or ""
        for entity in activity.entities or []:
            if getattr(entity, "type", None) != "mention" or not isinstance(entity, MentionEntity):
                continue
            mentioned = entity.mentioned
            if mentioned.id == activity.recipient.id:
                continue
            aad = mentioned.aad_object_id
            if not aad:
                try:
                    member = await ctx.api.conversations.members_client.get_by_id(activity.conversation.id,
                                                                                  mentioned.id)
                    aad = member.aad_object_id
                except Exception as exc:  # the mention stays as the name the sender typed
                    log.info("Teams mention not resolved (%s)", type(exc).__name__)
            said = entity.text or f"<at>{mentioned.name or ''}</at>"
            if aad and said in text:
                text = text.replace(said, f"@teams:{aad}", 1)
        return text.strip()

    async def _message(self, ctx: ActivityContext[MessageActivity]) -> None:
        activity = ctx.activity
        text = await self._mentioned(ctx)
        reply: str | dict[str, Any] | None
        try:
            reply = await run_in_threadpool(self._listener.on_message, text, teams_user(activity),
                                            conversation_seen(activity))
            if reply is not None and not isinstance(reply, str | dict):
                raise TypeError(f"on_message returned {type(reply).__name__}")
        except Exception as exc:
            log.warning("Teams listener on_message failed (%s)", type(exc).__name__)
            reply = MESSAGE_FAILED
        if reply is None or reply == "":
            return
        message = MessageActivityInput(text=reply) if isinstance(reply, str) else MessageActivityInput(
            attachments=[Attachment(content_type=CARD, content=reply)])
        try:
            await ctx.send(message)  # to the activity's serviceUrl and conversation (the thread, in a channel)
        except Exception as exc:  # the activity was received; a reply that cannot be sent is logged, not retried
            log.warning("Teams reply could not be sent (%s)", type(exc).__name__)

    async def _action(self, ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> Any:
        activity = ctx.activity
        action = activity.value.action
        if not action.verb:
            return _invoke(_error(400, "the card action has no verb (expected an Action.Execute)"))
        try:
            card = await run_in_threadpool(self._listener.on_action, action.verb, dict(action.data),
                                           teams_user(activity), conversation_seen(activity), activity.id)
            if not isinstance(card, dict):
                raise TypeError(f"on_action returned {type(card).__name__}, not a card")
        except Exception as exc:
            log.warning("Teams listener on_action failed (%s) for verb %r", type(exc).__name__, action.verb[:64])
            return _invoke({"statusCode": 200, "type": MESSAGE, "value": ACTION_FAILED})
        return _invoke({"statusCode": 200, "type": CARD, "value": card})


def _quiet_sdk_debug_logs() -> None:
    sdk = logging.getLogger("microsoft_teams")
    if sdk.level < logging.INFO:  # NOTSET included: a DEBUG root logger must not switch them on
        sdk.setLevel(logging.INFO)


# --- what an activity says ------------------------------------------------------------------------------
def teams_user(activity: ActivityBase) -> TeamsUser:
    sender = activity.from_
    return TeamsUser(id=sender.id, aad_object_id=sender.aad_object_id, name=sender.name)


def conversation_seen(activity: ActivityBase) -> ConversationSeen:
    data = activity.channel_data
    team = data.team if data is not None else None
    channel = data.channel if data is not None else None
    conversation = activity.conversation
    sender = activity.from_
    return ConversationSeen(
        service_url=activity.service_url or "",
        conversation_id=conversation.id,
        conversation_type=_conversation_type(activity),
        tenant_id=_tenant_of(activity),
        team_id=team.id if team is not None else None,
        team_name=team.name if team is not None else None,
        channel_id=channel.id if channel is not None else None,
        channel_name=channel.name if channel is not None else None,
        user_id=sender.id,
        user_aad_id=sender.aad_object_id,
        user_name=sender.name,
    )


def _conversation_type(activity: ActivityBase) -> ConversationType:
    kind = activity.conversation.conversation_type
    if kind in _CONVERSATION_TYPES:
        return cast(ConversationType, kind)
    data = activity.channel_data
    if data is not None and (data.channel is not None or data.team is not None):
        return "channel"
    return "groupChat" if activity.conversation.is_group else "personal"


def _tenant_of(activity: ActivityBase) -> str | None:
    data = activity.channel_data
    if data is not None and data.tenant is not None and data.tenant.id:
        return data.tenant.id
    return activity.conversation.tenant_id or None


def _is_removal(activity: ActivityBase) -> bool:
    """The bot uninstalled, or removed from the conversation: nothing to record as a place to post."""
    if activity.type == "installationUpdate":
        return str(getattr(activity, "action", "")).startswith("remove")
    if isinstance(activity, ConversationUpdateActivity) and activity.members_removed:
        return any(member.id == activity.recipient.id for member in activity.members_removed)
    return False


# --- answers --------------------------------------------------------------------------------------------
def _invoke(body: dict[str, Any]) -> dict[str, Any]:
    """An invoke answer as the SDK passes it through untouched: HTTP 200 with `body` (is_invoke_response)."""
    return {"status": 200, "body": body}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"statusCode": code, "type": ERROR, "value": {"code": "BadRequest", "message": message}}


def _screen_core_fields(body: dict[str, Any], headers: Any) -> HttpResponse | None:
    """Before authentication: the few fields the SDK parses itself (CoreActivity) must have the right types, else
    the SDK answers 500. Everything else is checked once the caller is authenticated (`_refusal`)."""
    try:
        CoreActivity.model_validate(body)
    except ValidationError:
        return HttpResponse(status=400, body={"error": "type, id and serviceUrl must be strings"})
    service_url = body.get("serviceUrl")
    if service_url is not None and not isinstance(service_url, str):
        return HttpResponse(status=400, body={"error": "type, id and serviceUrl must be strings"})
    return None
