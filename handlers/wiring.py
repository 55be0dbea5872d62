"""The one place that knows every adapter: builds the service from settings, config and the chosen transports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

from bot.classify.artifact import ArtifactError
from bot.classify.installed import clinic_model
from bot.classify.model import default_model
from bot.classify.result import Classifier
from bot.clock import Clock, SystemClock
from bot.config.models import ClinicConfig
from bot.domain import Channel
from bot.flows.deliver import deliveries, failure_hook
from bot.flows.dm_window import StoredDmHistory
from bot.flows.mail_thread import StoredMailHistory
from bot.flows.triage import Triage
from bot.match.directory import EmbeddedDirectory
from bot.outbox.queue import OutboxKind, reply_kind
from bot.outbox.worker import OutboxWorker
from bot.ports import ChatPoster, MediaFetcher, PatientMessenger, PhoneCaller
from bot.respond.answers import AnswerBook
from bot.settings import GraphMailSettings, MetaSettings, TriageSettings, TwilioSettings
from bot.storage.db import Database
from bot.tickets.people import normalize_stored
from handlers.mail.graph_intake import GraphMailIntake, MailboxSetupError
from handlers.metrics import TimedClassifier
from handlers.service import Service
from integrations.console import ConsolePoster
from integrations.email_smtp import SmtpEmail, SmtpSettings
from integrations.mail_replies import GraphMail, MailReplies
from integrations.meta import MetaDm
from integrations.twilio_media import TwilioMedia
from integrations.twilio_sms import TwilioSms
from integrations.twilio_voice import TwilioVoice

if TYPE_CHECKING:  # msgraph-sdk is the optional "microsoft" extra: imported only when GRAPH_MAILBOX is set
    from integrations.graph_mail import GraphMailbox

log = logging.getLogger(__name__)


# A messenger, or one built from the database and clock (a DM reply reads Meta's window from the stored messages).
MessengerSpec = PatientMessenger | Callable[[Database, Clock], PatientMessenger]


def patient_messengers(config: ClinicConfig, twilio: TwilioSettings, smtp: SmtpSettings,
                       meta: MetaSettings | None = None, graph: GraphMail | None = None) -> dict[str, MessengerSpec]:
    """Real transports for every channel whose credentials are set; the rest fail visibly in the outbox.
    `meta` defaults to the environment (META_PAGE_TOKEN, META_GRAPH_URL). `graph`: the shared mailbox, which
    answers the emails that came through it (and, without SMTP, writes to a patient who never emailed)."""
    messengers: dict[str, MessengerSpec] = {}
    if twilio.can_send and twilio.auth_token is not None:
        messengers[OutboxKind.REPLY_SMS] = TwilioSms(
            twilio.account_sid, twilio.auth_token.get_secret_value(), twilio.from_number, twilio.api_url
        )
    else:
        log.warning("TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_FROM_NUMBER not all set: SMS replies cannot be sent")
    if smtp.can_send or graph is not None:
        messengers[OutboxKind.REPLY_EMAIL] = mail_replies(
            SmtpEmail(smtp, subject=f"Your message to {config.clinic.name}") if smtp.can_send else None, graph)
    else:
        log.warning("SMTP_HOST/SMTP_SENDER (or GRAPH_MAILBOX) not set: email replies cannot be sent")
    meta = meta if meta is not None else MetaSettings()
    if (token := meta.send_token) is not None:
        messengers[reply_kind(Channel.DM.value, "")] = meta_dm(token, meta.graph_url)
    else:
        log.warning("META_PAGE_TOKEN not set: Instagram/Facebook DM replies cannot be sent")
    return messengers


def meta_dm(page_token: str, graph_url: str) -> Callable[[Database, Clock], PatientMessenger]:
    """The Send API messenger, once the database it reads the patient's last DM from exists."""
    return lambda db, clock: MetaDm(page_token, graph_url, StoredDmHistory(db), clock)


def mail_replies(smtp: SmtpEmail | None, graph: GraphMail | None = None
                 ) -> Callable[[Database, Clock], PatientMessenger]:
    """Email replies in the patient's own thread, once the database that remembers their latest email exists."""
    return lambda db, clock: MailReplies(StoredMailHistory(db), smtp=smtp, graph=graph)


def graph_mailbox(settings: GraphMailSettings, config: ClinicConfig) -> GraphMailbox | None:
    """The shared mailbox when GRAPH_MAILBOX is set; MailboxSetupError (what to do) when it cannot be used."""
    if not settings.configured:
        return None
    if missing := settings.missing():
        raise MailboxSetupError(f"GRAPH_MAILBOX is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'}"
                                " not: set them (the app registration that may read and send from the mailbox), "
                                "or unset GRAPH_MAILBOX")
    try:
        from integrations.graph_mail import GraphMailbox
    except ImportError as exc:
        raise MailboxSetupError(f"GRAPH_MAILBOX is set but the Microsoft packages are not installed ({exc.name}): "
                                "pip install 'medspa-triage-bot[microsoft]'") from None
    try:
        return GraphMailbox(settings, subject=f"Your message to {config.clinic.name}")
    except ValueError as exc:
        raise MailboxSetupError(str(exc)) from None


def _clinic_classifier(db: Database) -> Classifier:
    """The clinic's retrained model when one is installed (`triage-bot model retrain`), else the shipped one."""
    try:
        with db.read() as session:
            return cast(Classifier, clinic_model(session))
    except ArtifactError as exc:
        log.warning("the installed classifier cannot be read (%s): using the shipped one; run "
                    "`triage-bot model revert`", exc)
        return default_model()


def _messenger(spec: MessengerSpec, db: Database, clock: Clock) -> PatientMessenger:
    if hasattr(spec, "send"):
        return cast(PatientMessenger, spec)
    return cast(Callable[[Database, Clock], PatientMessenger], spec)(db, clock)


def phone_caller(twilio: TwilioSettings) -> PhoneCaller | None:
    """Voice calls for pages (ladder steps with `call: true`), when Twilio is configured."""
    if twilio.can_send and twilio.auth_token is not None:
        return TwilioVoice(twilio.account_sid, twilio.auth_token.get_secret_value(), twilio.from_number,
                           twilio.api_url)
    return None


PosterSpec = ChatPoster | Callable[[Database, Clock], ChatPoster]


def _poster(spec: PosterSpec, db: Database, clock: Clock) -> ChatPoster:
    if hasattr(spec, "post_card"):
        return cast(ChatPoster, spec)
    return cast(Callable[[Database, Clock], ChatPoster], spec)(db, clock)


def build_service(
    settings: TriageSettings,
    twilio: TwilioSettings,
    config: ClinicConfig,
    *,
    clock: Clock | None = None,
    poster: PosterSpec | Mapping[str, PosterSpec] | None = None,
    messengers: Mapping[str, MessengerSpec] | None = None,
    classifier: Classifier | None = None,
    caller: PhoneCaller | None = None,
    media: MediaFetcher | None = None,
    meta: MetaSettings | None = None,
    mailbox: GraphMailbox | None = None,
) -> Service:
    """With `messengers` given (tests, the demo), calls go only to the `caller` given too: never to real Twilio.
    A messenger may be built from the database and clock (`MessengerSpec`). `meta` (default: the environment)
    is what /inbound/meta checks deliveries with, and where DM replies go when `messengers` is not given.
    `poster` may be built from the database (Teams keeps the places it may post in there); several by platform
    (Slack and Teams) post every card, page and line in each. `mailbox`: the Microsoft 365 shared mailbox read
    (`service.graph_mail`); without `messengers`, GRAPH_MAILBOX and its credentials from the environment."""
    clock = clock or SystemClock()
    db = Database(settings.database_url, migrate=settings.auto_migrate, require_current=True)
    with db.transaction() as session:  # tickets written by the Slack-only bot hold Slack ids: staff ids now
        rewritten = normalize_stored(session, config)
    if rewritten:
        log.info("%d ticket fields moved from Slack user ids to staff ids", rewritten)
    meta = meta if meta is not None else MetaSettings()
    if messengers is None:
        mailbox = mailbox or graph_mailbox(GraphMailSettings(), config)
        messengers = patient_messengers(config, twilio, SmtpSettings(), meta, mailbox)
        caller = caller or phone_caller(twilio)
    built = {kind: _messenger(spec, db, clock) for kind, spec in messengers.items()}
    chat: ChatPoster | dict[str, ChatPoster]
    if poster is None:
        chat = ConsolePoster(echo=True)
    elif isinstance(poster, Mapping):
        chat = {platform: _poster(spec, db, clock) for platform, spec in poster.items()}
        if len(chat) > 1:
            db.chat_platforms = tuple(chat)
    else:
        chat = _poster(poster, db, clock)
    triage = Triage(
        config=config,
        classifier=TimedClassifier(classifier or _clinic_classifier(db)),  # its latency is shown at /metrics
        answers=AnswerBook(config.faq),
        directory=EmbeddedDirectory,
        clock=clock,
    )
    if media is None and twilio.account_sid and twilio.auth_token is not None:
        media = TwilioMedia(twilio.account_sid, twilio.auth_token.get_secret_value(), twilio.api_url)
    worker = OutboxWorker(db, clock, deliveries(config, clock, built, chat, caller, media=media),
                          failure_hook(config))
    return Service(settings=settings, twilio=twilio, config=config, db=db, clock=clock, triage=triage, outbox=worker,
                   meta=meta, graph_mail=GraphMailIntake(mailbox) if mailbox is not None else None)
