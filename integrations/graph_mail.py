"""The clinic's Microsoft 365 shared mailbox through msgraph-sdk: its inbox read by delta query, patients answered
with Graph's reply on their own message (one thread for them), change-notification subscriptions, and a doctor's
look at the inbox.

**Calls** (all on `users/{mailbox}`):
- delta: GET mailFolders/inbox/messages/delta() with $select, then each "@odata.nextLink" and finally the
  "@odata.deltaLink" through the builder's ``with_url`` (a link is opaque: the caller stores it and comes back
  with it, after a restart too). Only links on the Graph host are followed.
- attachments: GET messages/{id}/attachments?$select=id,name,contentType,size (never the bytes).
- reply: POST messages/{id}/reply {"Comment": text}; sendMail: POST sendMail {"Message": ..., "SaveToSentItems"}.
- subscriptions: POST /subscriptions, PATCH /subscriptions/{id} (a new expirationDateTime).

**Authentication**, the event loop and retries are the Entra group lookup's (integrations/teams/graph.py): the app's
client credentials through azure-identity (or a token endpoint of one's own in tests), the request adapter's base
URL `GRAPH_API_URL`, one private loop the synchronous callers hand each call to.

**Errors.** Replies raise the outbox's DeliveryError: a 4xx is permanent with what to fix (401 the credentials, 403
the Mail.Send permission or the application access policy, 404 the patient's email is gone from the mailbox), a
429 a rate limit (Retry-After), a 5xx, a timeout or no network transient. Graph's reply answers 202 with no id, so
the id returned is the outbox's idempotency key (stable across tries, and the ticket's record of the reply); Graph
takes no idempotency key, so a reply whose answer was lost may go out twice. Reads raise MailboxError with the
status and what to fix. Reasons carry statuses, never Graph's text (it may quote the email).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.mail_folders.item.mail_folder_item_request_builder import (
    MailFolderItemRequestBuilder,
)
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.messages.item.attachments.attachments_request_builder import (
    AttachmentsRequestBuilder,
)
from msgraph.generated.users.item.messages.item.reply.reply_post_request_body import ReplyPostRequestBody
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from bot.flows.mail_thread import MailThread
from bot.outbox.errors import DeliveryError, permanent, rate_limited, transient, unanswered
from bot.settings import GraphMailSettings
from integrations.teams.graph import GraphFailure, connect_graph
from integrations.teams.loop import CallTimedOut, LoopStopped, PrivateLoop
from integrations.teams.settings import MICROSOFT_TOKEN_URL, require_https_unless_loopback
from integrations.teams.token import retry_after_seconds

log = logging.getLogger(__name__)

INBOX = "inbox"
DELTA_SELECT = ["id", "internetMessageId", "from", "subject", "body", "receivedDateTime", "hasAttachments"]
ATTACHMENT_SELECT = ["id", "name", "contentType", "size"]
MAX_CLIENT_STATE = 128
CREDENTIALS = "GRAPH_TENANT_ID/GRAPH_CLIENT_ID/GRAPH_CLIENT_SECRET"
T = TypeVar("T")


class MailboxError(Exception):
    """A read of the mailbox failed. `status` is what failed ("403", "timeout", "token 401"); `reason` what to do."""

    def __init__(self, status: str, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class GraphMessage:
    """One message of a delta page; `removed` ones (moved out of the inbox, deleted) carry only their id."""

    id: str
    removed: bool = False
    internet_message_id: str = ""
    sender: str = ""
    sender_name: str = ""
    subject: str = ""
    html: str | None = None
    plain: str | None = None
    received_at: datetime | None = None
    has_attachments: bool = False


@dataclass(frozen=True)
class DeltaPage:
    messages: list[GraphMessage]
    next_link: str = ""  # more pages of this round
    delta_link: str = ""  # the round is done: where the next round starts


@dataclass(frozen=True)
class AttachmentRef:
    id: str
    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class SubscriptionInfo:
    id: str
    expires: datetime


@dataclass
class _Options:
    retry: RetryHandlerOption = field(default_factory=lambda: RetryHandlerOption(delay=0.0, max_retries=1))

    def config(self, query: Any = None) -> RequestConfiguration[Any]:
        return RequestConfiguration(query_parameters=query, options=[self.retry])


class GraphMailbox:
    """The shared mailbox (thread-safe, synchronous). Also the `GraphMail` of integrations/mail_replies.py."""

    MAX_LINK = 8192

    def __init__(self, settings: GraphMailSettings, *, subject: str = "Your message to the clinic",
                 timeout: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        missing = settings.missing()
        if missing or not settings.configured:
            raise ValueError(f"the Graph mailbox needs {', '.join(missing or ['GRAPH_MAILBOX'])}")
        graph_url = settings.api_url.rstrip("/")
        require_https_unless_loopback("GRAPH_API_URL", graph_url)
        token_url = settings.token_url.strip() or None
        if token_url is not None:
            require_https_unless_loopback("GRAPH_TOKEN_URL", token_url.replace("{tenant}", "tenant"))
        self.address = settings.mailbox.strip()
        self.client_state = client_state(settings)
        if len(self.client_state) > MAX_CLIENT_STATE:
            raise ValueError(f"GRAPH_CLIENT_STATE is longer than Graph's {MAX_CLIENT_STATE} characters")
        self._subject = subject  # of a new email (a reply keeps the patient's own "Re:" subject)
        parts = urlsplit(graph_url)
        self._origin = (parts.scheme, parts.netloc.lower())
        self._timeout = timeout
        self._options = _Options()
        self._connection = connect_graph(tenant_id=settings.tenant_id.strip(), client_id=settings.client_id.strip(),
                                         client_secret=settings.secret, graph_url=graph_url,
                                         token_url=None if token_url == MICROSOFT_TOKEN_URL else token_url,
                                         timeout=timeout, clock=clock)
        self._user = self._connection.client.users.by_user_id(self.address)
        self._loop = PrivateLoop("graph-mailbox")
        self._closed = False

    def __repr__(self) -> str:
        return f"GraphMailbox(address={self.address!r})"

    # --- reading ----------------------------------------------------------------------------------------------
    def delta_page(self, link: str | None) -> DeltaPage:
        """The first page of a full round (no link), or the page at a stored next or delta link."""
        if link is not None and not self._on_graph(link):
            raise MailboxError("link", "the stored mailbox position is not on GRAPH_API_URL: the bot starts the "
                               "mailbox over (a full read; each email is still stored once)")
        return self._read(self._delta(link))

    async def _delta(self, link: str | None) -> DeltaPage:
        builder = self._user.mail_folders.by_mail_folder_id(INBOX).messages.delta
        if link is None:
            query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=DELTA_SELECT)
            page = await builder.get(request_configuration=self._options.config(query))
        else:
            page = await builder.with_url(link).get(request_configuration=self._options.config())
        if page is None:
            raise MailboxError("empty", "Microsoft Graph answered the mailbox read with nothing: try again later")
        next_link, delta_link = page.odata_next_link or "", page.odata_delta_link or ""
        for given in (next_link, delta_link):
            if given and (len(given) > self.MAX_LINK or not self._on_graph(given)):
                raise MailboxError("link", "Microsoft Graph gave a mailbox link on another host: refusing it")
        return DeltaPage([_message(item) for item in page.value or [] if item.id], next_link, delta_link)

    def attachments(self, message_id: str) -> list[AttachmentRef]:
        return self._read(self._attachments(message_id))

    async def _attachments(self, message_id: str) -> list[AttachmentRef]:
        query = AttachmentsRequestBuilder.AttachmentsRequestBuilderGetQueryParameters(select=ATTACHMENT_SELECT)
        found = await self._user.messages.by_message_id(message_id).attachments.get(
            request_configuration=self._options.config(query))
        items = found.value or [] if found is not None else []
        return [AttachmentRef(item.id, item.name or "", item.content_type or "", int(item.size or 0))
                for item in items if item.id]

    def inbox_count(self) -> int:
        """How many items the inbox holds (the doctor's check that the app may read it)."""
        return self._read(self._inbox_count())

    async def _inbox_count(self) -> int:
        query = MailFolderItemRequestBuilder.MailFolderItemRequestBuilderGetQueryParameters(
            select=["totalItemCount"])
        folder = await self._user.mail_folders.by_mail_folder_id(INBOX).get(
            request_configuration=self._options.config(query))
        return int(folder.total_item_count or 0) if folder is not None else 0

    # --- subscriptions ----------------------------------------------------------------------------------------
    def subscribe(self, notification_url: str, client_state: str, expires: datetime) -> SubscriptionInfo:
        body = Subscription(change_type="created", notification_url=notification_url, client_state=client_state,
                            resource=f"users/{self.address}/mailFolders('{INBOX}')/messages",
                            expiration_date_time=expires)
        return self._read(self._subscribe(body, expires))

    async def _subscribe(self, body: Subscription, expires: datetime) -> SubscriptionInfo:
        created = await self._connection.client.subscriptions.post(body, request_configuration=self._options.config())
        if created is None or not created.id:
            raise MailboxError("empty", "Microsoft Graph created the subscription without an id: try again later")
        return SubscriptionInfo(created.id, created.expiration_date_time or expires)

    def renew(self, subscription_id: str, expires: datetime) -> SubscriptionInfo:
        return self._read(self._renew(subscription_id, expires))

    async def _renew(self, subscription_id: str, expires: datetime) -> SubscriptionInfo:
        renewed = await self._connection.client.subscriptions.by_subscription_id(subscription_id).patch(
            Subscription(expiration_date_time=expires), request_configuration=self._options.config())
        when = renewed.expiration_date_time if renewed is not None and renewed.expiration_date_time else expires
        return SubscriptionInfo(subscription_id, when)

    # --- replies (the outbox) ---------------------------------------------------------------------------------
    def reply(self, thread: MailThread, text: str, *, idempotency_key: str) -> str:
        """Graph's reply on the patient's message (202, no id): the idempotency key is the id returned."""
        if not thread.graph_id:
            raise permanent("the patient's email has no Graph id to reply on")
        self._send(self._user.messages.by_message_id(thread.graph_id).reply.post(
            ReplyPostRequestBody(comment=text), request_configuration=self._options.config()), "reply")
        return idempotency_key

    def send_new(self, to: str, text: str, *, idempotency_key: str) -> str:
        """A new email from the shared mailbox (a patient who never emailed); the idempotency key is its id."""
        message = Message(subject=self._subject, body=ItemBody(content_type=BodyType.Text,
                          content=text), to_recipients=[Recipient(email_address=EmailAddress(address=to))])
        self._send(self._user.send_mail.post(SendMailPostRequestBody(message=message, save_to_sent_items=True),
                                             request_configuration=self._options.config()), "sendMail")
        return idempotency_key

    # --- plumbing ---------------------------------------------------------------------------------------------
    def _on_graph(self, link: str) -> bool:
        parts = urlsplit(link)
        return (parts.scheme, parts.netloc.lower()) == self._origin

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            work.close()
            raise LoopStopped("the mailbox is closed")
        return self._loop.run(work, self._timeout)

    def _read(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            return self._call(work)
        except MailboxError:
            raise
        except CallTimedOut:
            raise MailboxError("timeout", f"Microsoft Graph did not answer within {self._timeout:g}s: try again "
                               "later (or check that the bot can reach GRAPH_API_URL)") from None
        except LoopStopped:
            raise MailboxError("closed", "the mailbox is closed (the bot is stopping)") from None
        except APIError as exc:
            raise _read_refusal(exc) from None
        except Exception as exc:
            raise _read_failure(exc) from None

    def _send(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        try:
            self._call(work)
        except CallTimedOut:
            raise unanswered(f"Microsoft Graph did not answer the {what} in time") from None
        except LoopStopped:
            raise transient("the mailbox is closed (the bot is stopping)") from None
        except APIError as exc:
            raise graph_send_error(exc.response_status_code, _retry_after(exc), what) from None
        except Exception as exc:
            failure = _read_failure(exc)
            if failure.status.startswith("token") and failure.status != "token unreachable":
                raise permanent(failure.reason) from None
            raise transient(failure.reason) from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.stop(self._connection.aclose, "Graph mailbox")


def client_state(settings: GraphMailSettings) -> str:
    """The secret every change notification for this mailbox carries back: GRAPH_CLIENT_STATE, else derived from
    the client secret and the mailbox (the same on every instance, never stored; Graph allows 128 characters)."""
    given = settings.client_state.get_secret_value().strip() if settings.client_state is not None else ""
    if given:
        return given
    key = settings.secret.encode()
    return hmac.new(key, f"triage-bot graph clientState {settings.mailbox.strip().lower()}".encode(),
                    hashlib.sha256).hexdigest()


def graph_send_error(status: int | None, retry_after: float | None, what: str = "reply") -> DeliveryError:
    """Graph's refusal of a reply or a sendMail as the outbox's error, with what to fix."""
    code = str(status) if status is not None else "error"
    if status == 429:
        return rate_limited("Microsoft Graph rate limited the mailbox (429)", retry_after)
    if status is None or status >= 500:
        return transient(f"Microsoft Graph failed the {what} ({code}): tried again later", retry_after)
    if status == 401:
        return permanent(f"Microsoft Graph refused the bot's token (401): check {CREDENTIALS}")
    if status == 403:
        return permanent("Microsoft Graph refused to send from the shared mailbox (403): grant the app Mail.Send "
                         "(application) with admin consent, and include GRAPH_MAILBOX in its application access "
                         "policy")
    if status == 404:
        return permanent("the patient's email is no longer in the shared mailbox (404) or GRAPH_MAILBOX is wrong: "
                         "answer from Outlook")
    if status == 408:
        return transient(f"Microsoft Graph timed out the {what} (408)")
    return permanent(f"Microsoft Graph refused the {what} ({code})")


def _read_refusal(exc: APIError) -> MailboxError:
    status = exc.response_status_code
    code = str(status) if status is not None else "error"
    if status == 401:
        return MailboxError(code, f"Microsoft Graph refused the bot's token (401): check {CREDENTIALS}")
    if status == 403:
        return MailboxError(code, "Microsoft Graph refused to read the shared mailbox (403): grant the app Mail.Read "
                            "(application) with admin consent, and include GRAPH_MAILBOX in its application access "
                            "policy")
    if status == 404:
        return MailboxError(code, "no such mailbox or folder (404): check GRAPH_MAILBOX (the shared mailbox's "
                            "address)")
    if status == 410:
        return MailboxError(code, "Microsoft Graph expired the mailbox position (410): the bot reads it over")
    if status == 429:
        return MailboxError(code, "Microsoft Graph rate limited the mailbox (429): read again later",
                            retry_after=_retry_after(exc))
    return MailboxError(code, f"Microsoft Graph failed ({code}): read again later")


def _read_failure(exc: BaseException) -> MailboxError:
    if isinstance(exc, GraphFailure):  # the token endpoint of one's own (tests), or a refused next link
        if exc.status.startswith("token") and exc.status[6:].isdigit() and exc.status[6:] != "429":
            return MailboxError(exc.status, f"the Microsoft token endpoint refused the bot's credentials "
                                f"({exc.status[6:]}): check {CREDENTIALS}")
        return MailboxError(exc.status, f"the Microsoft token endpoint failed ({exc.status}): try again later")
    if isinstance(exc, ClientAuthenticationError):
        return MailboxError("token refused", f"Microsoft Entra refused the bot's credentials: check {CREDENTIALS}")
    if isinstance(exc, ServiceRequestError):
        return MailboxError("token unreachable", "the Microsoft token endpoint is unreachable: check that the bot "
                            "can reach login.microsoftonline.com")
    if isinstance(exc, httpx.TimeoutException):
        return MailboxError("timeout", "Microsoft Graph did not answer in time: try again later")
    if isinstance(exc, httpx.HTTPError):
        return MailboxError(type(exc).__name__, f"Microsoft Graph is unreachable ({type(exc).__name__}): check "
                            "that the bot can reach GRAPH_API_URL")
    return MailboxError(type(exc).__name__, f"the mailbox read failed ({type(exc).__name__})")


def _retry_after(exc: APIError) -> float | None:
    headers = exc.response_headers or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            return retry_after_seconds(value if isinstance(value, str) else ",".join(value))
    return None


def _message(item: Message) -> GraphMessage:
    extra = item.additional_data or {}
    if "@removed" in extra:
        return GraphMessage(id=str(item.id), removed=True)
    sender = item.from_.email_address if item.from_ is not None else None
    body = item.body
    content = body.content if body is not None else None
    html = content if body is not None and body.content_type == BodyType.Html else None
    return GraphMessage(
        id=str(item.id), internet_message_id=item.internet_message_id or "",
        sender=(sender.address or "") if sender is not None else "",
        sender_name=(sender.name or "") if sender is not None else "",
        subject=item.subject or "", html=html, plain=None if html is not None else content,
        received_at=item.received_date_time, has_attachments=bool(item.has_attachments))

