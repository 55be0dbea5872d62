"""Posting cards and lines to Slack. Every Web API failure becomes the outbox's DeliveryError."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.cards.model import Card
from bot.document import Document
from bot.mentions import Line
from bot.outbox.errors import DeliveryError, permanent, rate_limited, transient, unanswered
from bot.ports import PostRef
from integrations.slack.blocks import render_blocks, render_text
from integrations.slack.document import slack_document
from integrations.slack.mentions import slack_line

log = logging.getLogger(__name__)

# Answers that will not change by trying again; anything else (ratelimited, internal_error, ...) is retried.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive", "token_revoked",
    "no_permission", "missing_scope", "message_not_found", "cant_update_message", "msg_too_long", "invalid_blocks",
    "user_not_found", "restricted_action",
})


# What the clinic's admin does about a refusal (the error code alone means nothing to a front desk manager).
FIXES = {
    "not_in_channel": "invite the bot to that channel (/invite @triage)",
    "channel_not_found": "check channels: in the clinic config, and invite the bot to private channels",
    "is_archived": "unarchive the channel, or point the clinic config at another one",
    "invalid_auth": "check SLACK_BOT_TOKEN (`triage-bot doctor` says what is wrong)",
    "account_inactive": "reinstall the app and update SLACK_BOT_TOKEN",
    "token_revoked": "reinstall the app and update SLACK_BOT_TOKEN",
    "missing_scope": "add the scope under OAuth & Permissions and reinstall the app",
    "no_permission": "check the app's permissions in the workspace",
}


def web_client(token: str, base_url: str) -> WebClient:
    """No built-in retries: the outbox decides when to try again, so a timed-out post is never sent twice at once."""
    return WebClient(token=token, base_url=base_url, timeout=15, retry_handlers=[])


class SlackPoster:
    platform = "slack"

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post_card(self, channel: str, card: Card, *, tag: str = "") -> PostRef:
        response = _call(lambda: self._client.chat_postMessage(
            channel=channel, text=render_text(card), blocks=render_blocks(card), unfurl_links=False,
            unfurl_media=False, metadata=_metadata(tag)))
        return _ref(response)

    def post_text(self, channel: str, text: str | Line, *, thread: PostRef | None = None, tag: str = "") -> PostRef:
        response = _call(lambda: self._client.chat_postMessage(
            channel=channel, text=slack_line(text), thread_ts=thread.message_id if thread else None,
            unfurl_links=False, unfurl_media=False, metadata=_metadata(tag)))
        return _ref(response, thread)

    def post_document(self, channel: str, document: Document, *, tag: str = "") -> PostRef:
        return self.post_text(channel, slack_document(document), tag=tag)

    def find_tagged(self, channel: str, tag: str, *, thread: PostRef | None = None) -> PostRef | None:
        """The recent post carrying `tag` in its metadata (in `thread` when given), or None."""
        if thread is not None:
            response = _call(lambda: self._client.conversations_replies(
                channel=thread.conversation, ts=thread.message_id, include_all_metadata=True, limit=RECENT))
            where = thread.conversation
        else:
            channel_id = channel
            if channel.startswith(("U", "W")) and channel.isalnum() and channel.isupper():
                # A DM to a user: its history lives under the DM's channel id.
                channel_id = str(_call(lambda: self._client.conversations_open(users=channel))["channel"]["id"])
            response = _call(lambda: self._client.conversations_history(
                channel=channel_id, include_all_metadata=True, limit=RECENT))
            where = channel_id
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == EVENT_TYPE and str(payload.get("outbox_id")) == tag:
                return PostRef(PLATFORM, where, str(message["ts"]), thread.message_id if thread else "")
        return None

    def update_card(self, ref: PostRef, card: Card) -> None:
        _call(lambda: self._client.chat_update(channel=ref.conversation, ts=ref.message_id, text=render_text(card),
                                               blocks=render_blocks(card)))


    def post_file(self, channel: str, filename: str, data: bytes, title: str, *,
                  thread: PostRef | None = None) -> None:
        # The upload API wants a channel id; chat.postMessage answered with one for any name we were given.
        _call(lambda: self._client.files_upload_v2(channel=channel, file=data, filename=filename, title=title,
                                                   thread_ts=thread.message_id if thread else None))


PLATFORM = "slack"


def _ref(response: Any, thread: PostRef | None = None) -> PostRef:
    return PostRef(PLATFORM, str(response["channel"]), str(response["ts"]), thread.message_id if thread else "")


EVENT_TYPE = "triage_outbox"  # chat.postMessage metadata: which outbox row posted this message
RECENT = 200  # messages looked through when reconciling (a crash is found within its lease, so this is plenty)


def _metadata(tag: str) -> dict[str, Any] | None:
    return {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": tag}} if tag else None


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def _call(request: Callable[[], Any]) -> Any:
    try:
        return request()
    except SlackApiError as exc:
        raise _delivery_error(exc) from None
    except SlackClientError as exc:
        raise unanswered(f"Slack client error: {type(exc).__name__}") from None
    except (TimeoutError, OSError) as exc:  # timeouts, connection resets, refused connections
        raise unanswered(f"Slack unreachable: {type(exc).__name__}") from None
    except (http.client.HTTPException, ValueError) as exc:  # a cut-off or unreadable answer (a proxy's error page)
        raise unanswered(f"Slack unreachable: a broken answer ({type(exc).__name__})") from None


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    status = exc.response.status_code
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error", "")) or f"HTTP {status}"
    if status == 429:
        retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
        return rate_limited("Slack rate limited (429)", _seconds(retry_after))
    if status >= 500:
        return unanswered(f"Slack server error {status}")
    log.debug("Slack answered %s: %s", status, data)
    if error in PERMANENT_ERRORS:
        fix = FIXES.get(error)
        return permanent(f"Slack refused: {error}" + (f" — {fix}" if fix else ""))
    return transient(f"Slack error: {error}")
