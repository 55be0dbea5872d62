"""`triage-bot demo`: a morning and evening at the demo clinic, sent through the real webhook path.

No accounts: SMS and email replies are recorded instead of sent, and cards are printed instead of posted.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.cards.build import build_card
from bot.clock import ManualClock
from bot.config.loader import load_config
from bot.domain import Channel
from bot.flows.actions import TicketActions
from bot.match.importer import import_patients
from bot.outbox.queue import OutboxKind, reply_kind
from bot.settings import MetaSettings, TriageSettings, TwilioSettings
from bot.storage.models import InboundMessageRow, OutboxRow, TicketRow
from bot.tickets.roles import actor_of
from handlers.cli import DEMO_CONFIG, DEMO_DIR
from handlers.http_app import create_app
from handlers.jobs import Jobs
from handlers.local_server import LocalServer
from handlers.mail.demo import DEMO_INBOX, DemoFolder, demo_mailbox
from handlers.mail.polling import MailPolling
from handlers.meta import sign as meta_sign
from handlers.web_form import sign
from handlers.wiring import build_service
from integrations.console import ConsolePoster, DemoMedia, RecordingCaller, RecordingMessenger
from integrations.slack.blocks import render_blocks, render_text

DEMO_DAY = datetime(2026, 11, 24).date()  # a Tuesday


MESSENGERS = ("slack", "teams")


def run_demo(database: Path | None = None, messenger: str = "slack") -> int:
    """`messenger` "teams": the cards are also written as Teams draws them (Adaptive Cards), beside Block Kit's."""
    if messenger not in MESSENGERS:
        raise SystemExit(f"triage-bot demo: --messenger must be one of {', '.join(MESSENGERS)}")
    db_path = database or Path("var/demo.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    config = load_config(DEMO_CONFIG)
    tz = config.clinic.tz
    clock = ManualClock(datetime.combine(DEMO_DAY, time(8, 55), tzinfo=tz))
    web_secret, twilio_token, meta_secret = secrets.token_hex(16), secrets.token_hex(16), secrets.token_hex(16)
    settings = TriageSettings(database_url=f"sqlite:///{db_path}", web_form_secret=SecretStr(web_secret))
    twilio = TwilioSettings(account_sid="ACdemo", auth_token=SecretStr(twilio_token), from_number="+14155550100")
    poster = ConsolePoster()
    sms, email, dm, calls = RecordingMessenger(), RecordingMessenger(), RecordingMessenger(), RecordingCaller()
    meta = MetaSettings(app_secret=SecretStr(meta_secret), verify_token=SecretStr(secrets.token_hex(8)),
                        page_token=None)
    print(f"Demo clinic: {config.clinic.name} ({config.clinic.timezone}); training the classifier…", flush=True)
    service = build_service(settings, twilio, config, clock=clock, poster=poster,
                            messengers={OutboxKind.REPLY_SMS: sms, OutboxKind.REPLY_EMAIL: email,
                                        reply_kind(Channel.DM.value, ""): dm},
                            caller=calls, media=DemoMedia(), meta=meta)
    with service.db.transaction() as session:
        import_patients(session, DEMO_DIR / "patients.csv", tz)
    messages = _jsonl(DEMO_DIR / "messages.jsonl")
    staff_day = [{**item, "channel": "staff"} for item in _jsonl(DEMO_DIR / "staff.jsonl")]
    # One day in time order; at the same minute the patient's message comes before the staff's answer to it.
    day = sorted([*messages, *staff_day], key=lambda item: (item["at"], item["channel"] == "staff"))
    jobs = Jobs(service)
    jobs.handoff()
    print(f"Sending {len(messages)} inbound messages through the webhooks while the staff work the queue "
          f"({len(staff_day)} actions, as their Slack buttons and texts do) and the SLA clock runs:\n")
    desk = StaffDesk(service, TicketActions(service.db, config, clock))
    inbox = DemoFolder()
    mail = MailPolling(service, demo_mailbox(inbox))
    with LocalServer(create_app(service)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for item in day:
            _run_clock(service, jobs, clock, datetime.combine(DEMO_DAY, time.fromisoformat(item["at"]), tzinfo=tz))
            if item["channel"] == "staff":
                print(f"  {item['at']} staff {desk.act(item, client, server.url, twilio_token)}")
                _deliver(service, clock)
                continue
            before = _stored(service)
            if item["channel"] == "email":  # into the clinic's mailbox, then the poll `serve` runs every minute
                inbox.append(_email(item, clock.now()))
                tag = f"mailbox polled: {mail.poll().line}"
                service.run_triage()
                _deliver(service, clock)
                print(f"  {item['at']} email {item['id'][:13]:<13} {tag}")
                continue
            response = _send(client, server.url, item, twilio_token, web_secret, meta_secret)
            service.run_triage()  # as `serve`'s triage worker does right after the webhook answers
            _deliver(service, clock)
            stored = "stored" if _stored(service) > before else "already stored: provider retry, nothing new"
            tag = f"HTTP {response.status_code}, {stored}"
            print(f"  {item['at']} {item['channel']:<5} {item['id']:<13} {tag}")
    _run_clock(service, jobs, clock, datetime.combine(DEMO_DAY, time(21, 0), tzinfo=tz))
    jobs.digest()  # the day's digest, posted at the end of the demo day
    _deliver(service, clock)
    _report(service, poster, [sms, email, dm], config.clinic.name, db_path, calls, messenger)
    return 0


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


VERBS = {"claim": "claims", "acknowledge": "acknowledges", "resolve": "resolves", "reply": "replies to"}


@dataclass
class StaffDesk:
    """The demo's staff: each action goes through the same flow a Slack button calls, or through the SMS webhook
    for a provider answering a page from their phone."""

    service: Any
    actions: TicketActions
    _texts: int = 0

    def act(self, item: dict[str, Any], client: httpx.Client, base: str, token: str) -> str:
        config = self.service.config
        member = config.staff_member(item["staff"])
        if member is None:
            raise SystemExit(f"bot/demo/staff.jsonl: unknown staff id {item['staff']!r}")
        ticket_id = self._ticket_of(item["of"])
        if item["act"] == "text":
            body = item.get("body") or str(ticket_id)
            self._texts += 1
            _send(client, base, {"channel": "sms", "id": f"SMstaff{self._texts:03d}", "from": member.phone,
                                 "text": body}, token, "", "")
            self.service.run_triage()
            return f"{member.name} texts “{body}” from their phone ({item.get('note', '')})"
        actor = actor_of(config, "slack", member.slack_user, member.name, lambda _group: frozenset())
        act = item["act"]
        if act == "claim":
            outcome = self.actions.claim(ticket_id, actor)
        elif act == "acknowledge":
            outcome = self.actions.acknowledge(ticket_id, actor)
        elif act == "resolve":
            outcome = self.actions.resolve(ticket_id, actor)
        elif act == "reply":
            outcome = self.actions.reply(ticket_id, actor, item.get("text", ""), template=item.get("template", ""),
                                         submission_id=f"demo-{item['at']}-{ticket_id}")
        else:
            raise SystemExit(f"bot/demo/staff.jsonl: unknown act {act!r}")
        said = "done" if outcome.ok else f"refused: {outcome.notice}"
        how = " with a saved reply" if item.get("template") else ""
        return f"{member.name} {VERBS[act]} #{ticket_id}{how} in Slack: {said}"

    def _ticket_of(self, message_id: str) -> int:
        with self.service.db.transaction() as session:
            ticket_id = session.scalar(select(InboundMessageRow.ticket_id).where(
                InboundMessageRow.provider_message_id == message_id))
        if ticket_id is None:
            raise SystemExit(f"bot/demo/staff.jsonl: message {message_id!r} has no ticket")
        return int(ticket_id)


def _deliver(service: Any, clock: ManualClock) -> None:
    """Deliver everything queued, letting the chat pacing (one post a second per channel) play out."""
    for _ in range(120):
        if service.run_outbox() == 0 and not _pending(service, clock.now() + timedelta(seconds=5)):
            return
        clock.advance(timedelta(seconds=1))


def _run_clock(service: Any, jobs: Jobs, clock: ManualClock, until: datetime) -> None:
    """Move the clock to `until` a minute at a time, sweeping the SLA ladders as the scheduler would."""
    while clock.now() < until:
        clock.set(min(clock.now() + timedelta(minutes=1), until))
        if jobs.sweep_sla() or jobs.handoff():
            _deliver(service, clock)


def _pending(service: Any, horizon: datetime) -> bool:
    with service.db.transaction() as session:
        return session.scalars(select(OutboxRow.id).where(
            OutboxRow.status == "pending", OutboxRow.next_attempt_at <= horizon)).first() is not None


DEMO_PAGE = "104000000000001"  # the demo clinic's Facebook page, and its Instagram account
DEMO_INSTAGRAM = "17841400000000001"


def _send(client: httpx.Client, base: str, item: dict[str, Any], token: str, secret: str,
          meta_secret: str) -> httpx.Response:
    if item["channel"] == "dm":  # a signed Meta webhook delivery, as Instagram or Messenger sends it
        account = DEMO_INSTAGRAM if item["platform"] == "instagram" else DEMO_PAGE
        event = {"sender": {"id": item["from"]}, "recipient": {"id": account}, "timestamp": 0,
                 "message": {"mid": item["id"], "text": item["text"]}}
        kind = "instagram" if item["platform"] == "instagram" else "page"
        body = json.dumps({"object": kind, "entry": [{"id": account, "time": 0, "messaging": [event]}]}).encode()
        return client.post("/inbound/meta", content=body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": meta_sign(meta_secret, body)})
    if item["channel"] == "sms":
        form = {"MessageSid": item["id"], "From": item["from"], "To": "+14155550100", "Body": item["text"],
                "NumMedia": str(len(item.get("media", [])))}
        for index, media in enumerate(item.get("media", [])):
            form[f"MediaUrl{index}"] = media["url"]
            form[f"MediaContentType{index}"] = media["content_type"]
        signature = RequestValidator(token).compute_signature(f"{base}/inbound/sms", form)
        return client.post("/inbound/sms", data=form, headers={"X-Twilio-Signature": signature})
    payload = {"id": item["id"], "message": item["text"], "name": item.get("name", ""),
               "email": item.get("email", ""), "phone": item.get("phone", "")}
    body = json.dumps(payload).encode()
    return client.post("/inbound/web", content=body,
                       headers={"Content-Type": "application/json", "X-Triage-Signature": sign(secret, body)})


def _email(item: dict[str, Any], now: datetime) -> bytes:
    """The demo day's email as a mail app sends it (RFC 5322, HTML and/or plain text)."""
    message = EmailMessage()
    message["From"] = item["from"]
    message["To"] = DEMO_INBOX.username
    message["Subject"] = item["subject"]
    message["Message-ID"] = item["id"]
    message["Date"] = format_datetime(now)
    if item.get("auto"):
        message["Auto-Submitted"] = "auto-replied"
    if "text" in item:
        message.set_content(item["text"])
    if "html" in item:
        if "text" in item:
            message.add_alternative(item["html"], subtype="html")
        else:
            message.set_content(item["html"], subtype="html")
    return bytes(message)


def _stored(service: Any) -> int:
    with service.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessageRow)) or 0)


def _adaptive_cards(session: Any, config: Any, now: datetime) -> list[dict[str, Any]]:
    """Every ticket's current card as the Teams renderer draws it (paste `card` into the Adaptive Cards
    Designer, host app Microsoft Teams), with the push preview it is posted with."""
    from integrations.teams.cards import notification_text, render_card

    cards = []
    for ticket in session.scalars(select(TicketRow).where(TicketRow.role.is_not(None)).order_by(TicketRow.id)):
        card = build_card(ticket, None, config, now)
        cards.append({"ticket": ticket.id, "channel": config.channels.for_role_name(ticket.role),
                      "summary": notification_text(card), "card": render_card(card)})
    return cards


def _block_kit(session: Any, config: Any, now: datetime) -> list[dict[str, Any]]:
    """Every ticket's current card as the Slack renderer draws it."""
    cards = []
    for ticket in session.scalars(select(TicketRow).where(TicketRow.role.is_not(None)).order_by(TicketRow.id)):
        card = build_card(ticket, None, config, now)
        cards.append({"ticket": ticket.id, "channel": config.channels.for_role_name(ticket.role),
                      "text": render_text(card), "blocks": render_blocks(card)})
    return cards


def _report(service: Any, poster: ConsolePoster, messengers: list[RecordingMessenger],
            clinic: str, db_path: Path, calls: RecordingCaller, messenger: str = "slack") -> None:
    by_channel: dict[str, list[str]] = defaultdict(list)
    for channel, text in poster.posts:
        by_channel[channel].append(text)
    staff_dm = {m.user_on(poster.platform): m.name for m in service.config.staff}
    out = sys.stdout
    out.write("\n" + "=" * 78 + "\nCards and pages posted, per channel\n" + "=" * 78 + "\n")
    for channel, posts in by_channel.items():
        name = f"DM to {staff_dm[channel]}" if channel in staff_dm else f"#{channel}"
        out.write(f"\n── {name} ({len(posts)}) " + "─" * max(0, 60 - len(name)) + "\n")
        for text in posts:
            out.write(text + "\n\n")
    out.write("=" * 78 + "\nReplies patients got from the bot (recorded, not sent)\n" + "=" * 78 + "\n")
    replies: dict[str, list[str]] = defaultdict(list)
    staff_phones = {m.phone: m.name for m in service.config.staff if m.phone}
    sms = messengers[0]
    for to, text in [sent for messenger in messengers for sent in messenger.sent]:
        if to not in staff_phones:
            replies[to].append(text)
    for to, texts in replies.items():
        out.write(f"\n{to}\n")
        for text in texts:
            out.write(f"  → {text}\n")
    out.write("\n" + "=" * 78 + "\nPages to providers' phones (recorded, not sent)\n" + "=" * 78 + "\n")
    for kind, sent in (("SMS", sms.sent), ("call", calls.calls)):
        for to, text in sent:
            if to in staff_phones:
                out.write(f"  {kind} to {staff_phones[to]}: {text}\n")
    with service.db.transaction() as session:
        counts = dict(session.execute(select(TicketRow.status, func.count()).group_by(TicketRow.status)).all())
        slack_cards = _block_kit(session, service.config, service.clock.now())
        teams_cards = _adaptive_cards(session, service.config, service.clock.now()) if messenger == "teams" else []
    out.write(f"\nTickets by status: {counts}\n")
    for channel, filename, data in poster.files:
        path = db_path.parent / filename
        path.write_bytes(data)
        what = "Chart posted with the digest" if filename.startswith("triage-digest") else "Patient photo posted"
        out.write(f"{what} to #{channel}: {path.resolve()}\n")
    cards_path = db_path.parent / "demo-slack-cards.json"
    cards_path.write_text(json.dumps(slack_cards, ensure_ascii=False, indent=1), encoding="utf-8")
    out.write(f"The same cards as Slack Block Kit (paste one into Block Kit Builder): {cards_path.resolve()}\n")
    if messenger == "teams":
        teams_path = db_path.parent / "demo-teams-cards.json"
        teams_path.write_text(json.dumps(teams_cards, ensure_ascii=False, indent=1), encoding="utf-8")
        out.write(f"The same cards as Teams Adaptive Cards 1.5 (paste one into the Adaptive Cards Designer): "
                  f"{teams_path.resolve()}\n")
    out.write(f"Database: {db_path.resolve()}\n")
    out.write(f"See any ticket's timeline: TRIAGE_DATABASE_URL=sqlite:///{db_path} triage-bot ticket show 1\n")
