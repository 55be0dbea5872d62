"""Where a posted message is, as its messenger identifies it: opaque to the core, which only stores it and hands
it back to the same messenger (to edit the message, or to reply in its thread)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PostRef:
    platform: str  # "slack", "teams", "console"
    conversation: str  # Slack: the channel (or DM) id. Teams: the conversation id
    message_id: str  # Slack: the message's ts. Teams: the activity id
    thread_root: str = ""  # a reply's thread: the message id of the post it answers

    def as_result(self) -> dict[str, str]:
        """What the outbox records for a sent post (and reads back with `from_result`)."""
        data = {"platform": self.platform, "conversation": self.conversation, "message_id": self.message_id}
        if self.thread_root:
            data["thread_root"] = self.thread_root
        return data

    @staticmethod
    def from_result(result: Mapping[str, Any]) -> PostRef:
        """A sent post's reference from its outbox result; rows sent before references were opaque say
        `channel` and `ts` (Slack was the only messenger then)."""
        if "conversation" in result:
            return PostRef(str(result.get("platform", "slack")), str(result["conversation"]),
                           str(result["message_id"]), str(result.get("thread_root", "")))
        return PostRef("slack", str(result["channel"]), str(result["ts"]), str(result.get("thread_ts", "")))
