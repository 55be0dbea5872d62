"""A local, stateful stand-in for Slack's Web API, for tests that point slack_sdk's WebClient at it.

    standin = SlackStandIn()
    client = WebClient(token="xoxb-test", base_url=f"{standin.url}/api/")
    client.chat_postMessage(channel="clinical", text="hi", blocks=[...])
    assert standin.messages("clinical")[0]["blocks"][0]["type"] == "section"
    standin.fail_next("chat.postMessage", status=429, retry_after=1)
    standin.close()

It keeps posted messages per channel (the channel as given: an id or a bare name, no name->id mapping), thread
replies under their parent, ephemeral messages and views; it records every call, and answers scripted failures.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON_FIELDS = frozenset({"blocks", "view", "attachments", "metadata"})
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"


@dataclass
class Call:
    """One request to the stand-in: the Slack method (e.g. "chat.postMessage"), its arguments (query string and
    body merged, JSON-holding form fields decoded) and its headers (names lower-cased)."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    failed: bool = False

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        token = self.args.get("token")
        return str(token) if token is not None else None


@dataclass
class Failure:
    status: int
    retry_after: int | None = None
    error: str | None = None


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _decode_json_fields(args: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_FIELDS & args.keys():
        value = args[key]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            with contextlib.suppress(json.JSONDecodeError):
                args[key] = json.loads(value)
    return args


def _parse_args(path: str, content_type: str, body: bytes) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[0] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}
    if body:
        if "json" in content_type.lower():
            decoded = json.loads(body.decode("utf-8"))
            if isinstance(decoded, dict):
                args.update(decoded)
        elif "x-www-form-urlencoded" in content_type.lower() or not content_type:
            args.update({k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()})
    return _decode_json_fields(args)


class SlackStandIn:
    """Serves Slack Web API methods under {url}/api/<method> from in-memory state."""

    def __init__(self) -> None:
        self.all_calls: list[Call] = []
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}  # users.info overrides, merged into the minimal user
        # Workspace channels by id ({"id", "name", "is_private", "members": [user ids]}), for users.conversations
        # and conversations.list; the bot is BOT_USER_ID. Scopes: auth.test's X-OAuth-Scopes header when set.
        self.conversations: dict[str, dict[str, Any]] = {}
        self.scopes: list[str] | None = None
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._channels: dict[str, list[dict[str, Any]]] = defaultdict(list)  # top-level messages in post order
        self._by_ts: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message or reply
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}  # file id -> bytes posted to its upload URL
        self.files: dict[str, dict[str, Any]] = {}  # file id -> what files.* calls said about it
        self._view_log: list[dict[str, Any]] = []
        self._ts_counter = 0
        self._view_counter = 0
        self._lock = threading.RLock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = stand_in._handle(self.path, headers, body)
                self.send_response(reply.status)
                self.send_header("Content-Length", str(len(reply.body)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-standin", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SlackStandIn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ test-facing helpers

    def calls(self, method: str | None = None) -> list[Call]:
        """The calls of one method (all calls if None) in order, failed ones included."""
        with self._lock:
            return [c for c in self.all_calls if method is None or c.method == method]

    def fail_next(self, method: str, status: int = 429, retry_after: int | None = 1, error: str | None = None) -> None:
        """Make the next (not yet failed) call of `method` answer `status` without touching state.

        429 answers {"ok": false, "error": "ratelimited"} with a Retry-After header; other statuses answer a plain
        body unless `error` is given, in which case {"ok": false, "error": error} (e.g. status=200,
        error="channel_not_found"). Queued failures of one method are consumed in order."""
        with self._lock:
            self._failures[method].append(Failure(status, retry_after if status == 429 else None, error))

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of a channel in post order (current versions; each has a "replies" list)."""
        with self._lock:
            return copy.deepcopy(self._channels.get(channel, []))

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Replies to the message `ts` in order (empty if there is no such message)."""
        with self._lock:
            parent = self._by_ts.get((channel, ts))
            return copy.deepcopy(parent.get("replies", [])) if parent else []

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current version of one message or thread reply."""
        with self._lock:
            found = self._by_ts.get((channel, ts))
            return copy.deepcopy(found) if found else None

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(m) for m in self._ephemerals
                    if (channel is None or m["channel"] == channel) and (user is None or m["user"] == user)]

    def views(self, method: str | None = None) -> list[dict[str, Any]]:
        """Every view sent by views.open/update/publish/push, in order, as answered (with "id"), plus "_method"."""
        with self._lock:
            return [copy.deepcopy(v) for v in self._view_log if method is None or v["_method"] == method]

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    # ------------------------------------------------------------------ request handling

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        route = urlsplit(path).path
        if route.startswith("/upload/"):  # the upload URL files.getUploadURLExternal hands out
            with self._lock:
                self.uploads[route.removeprefix("/upload/")] = body
            return _Reply(200, f"OK - {len(body)}".encode(), {"Content-Type": "text/plain"})
        method = route.rsplit("/api/", 1)[-1].strip("/") if "/api/" in route else route.strip("/")
        try:
            args = _parse_args(path, headers.get("content-type", ""), body)
        except (ValueError, UnicodeDecodeError):
            args = {}
            bad_body = True
        else:
            bad_body = False
        with self._lock:
            call = Call(method, args, headers)
            self.all_calls.append(call)
            queue = self._failures.get(method)
            if queue:
                call.failed = True
                return self._failure_reply(queue.popleft())
            if bad_body:
                return self._json({"ok": False, "error": "invalid_json"})
            channel = args.get("channel")
            if isinstance(channel, str) and channel.startswith("D") and channel[1:] in self._channels:
                args = {**args, "channel": channel[1:]}  # a DM's id (conversations.open): kept under the user id
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            result: dict[str, Any] = handler(args) if handler else {"ok": True}
            extra = {"X-OAuth-Scopes": ",".join(self.scopes)} if method == "auth.test" and self.scopes else None
            return self._json(result, headers=extra)

    @staticmethod
    def _json(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
        return _Reply(status, json.dumps(payload).encode(),
                      {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    def _failure_reply(self, failure: Failure) -> _Reply:
        if failure.status == 429:
            extra = {"Retry-After": str(failure.retry_after if failure.retry_after is not None else 1)}
            return self._json({"ok": False, "error": failure.error or "ratelimited"}, 429, extra)
        if failure.error is not None:
            return self._json({"ok": False, "error": failure.error}, failure.status)
        return _Reply(failure.status, b"", {"Content-Type": "text/plain; charset=utf-8"})

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = 1_700_000_000_000_000 + self._ts_counter * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_view_id(self) -> str:
        self._view_counter += 1
        return f"V{self._view_counter:08d}"

    # ------------------------------------------------------------------ Slack methods (called with the lock held)

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{len(self.uploads) + len(self.files) + 1:08d}"
        self.files[file_id] = {"id": file_id, "name": args.get("filename"), "length": args.get("length")}
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        listed = json.loads(files) if isinstance(files, str) else (files or [])
        for item in listed:
            if item.get("id") in self.files:
                self.files[item["id"]].update({"title": item.get("title"), "channel": args.get("channel_id"),
                                               "comment": args.get("initial_comment"), "shared": True,
                                               "thread_ts": args.get("thread_ts")})
                channel, thread_ts = str(args.get("channel_id") or ""), args.get("thread_ts")
                parent = self._by_ts.get((channel, str(thread_ts))) if thread_ts else None
                if thread_ts and parent is None:
                    return {"ok": False, "error": "invalid_thread_ts"}
                if parent is not None:  # Slack shows the upload as a reply in that thread
                    reply = {"type": "message", "subtype": "file_share", "user": BOT_USER_ID, "text": "",
                             "files": [{"id": item["id"], "title": item.get("title")}], "ts": self._next_ts(),
                             "channel": channel, "thread_ts": parent["ts"]}
                    parent["replies"].append(reply)
                    parent["reply_count"] = len(parent["replies"])
                    self._by_ts[(channel, reply["ts"])] = reply
        return {"ok": True, "files": [self.files.get(item.get("id"), {}) for item in listed]}

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://example.slack.com/", "team": "Example Clinic", "user": "triagebot",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        channel = str(channel)
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return {"ok": False, "error": "no_text"}
        message: dict[str, Any] = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID,
                                   "text": args.get("text", ""), "blocks": args.get("blocks") or []}
        if args.get("attachments"):
            message["attachments"] = args["attachments"]
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        thread_ts = args.get("thread_ts")
        parent: dict[str, Any] | None = None
        if thread_ts:
            parent = self._by_ts.get((channel, str(thread_ts)))
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            if "thread_ts" in parent:  # replying to a reply lands in the parent's thread
                parent = self._by_ts[(channel, parent["thread_ts"])]
        ts = self._next_ts()
        message["ts"] = ts
        message["channel"] = channel
        if parent is not None:
            message["thread_ts"] = parent["ts"]
            parent["replies"].append(message)
            parent["reply_count"] = len(parent["replies"])
        else:
            message["replies"] = []
            self._channels[channel].append(message)
        self._by_ts[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": self._public(message)}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        message = self._by_ts.get((channel, ts))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": message.get("text", ""),
                "message": self._public(message)}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        ts = self._next_ts()
        self._ephemerals.append({"channel": str(args["channel"]), "user": str(args["user"]), "ts": ts,
                                 "text": args.get("text", ""), "blocks": args.get("blocks") or [],
                                 "thread_ts": args.get("thread_ts")})
        return {"ok": True, "message_ts": ts}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            return {"ok": True, "channel": {"id": str(args["channel"])}}
        users = args.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        channel_id = f"D{users[0]}" if len(users) == 1 else "G" + "".join(users)
        return {"ok": True, "channel": {"id": channel_id, "is_im": len(users) == 1}}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        found = self._channels.get(str(args.get("channel", "")), [])
        return {"ok": True, "messages": [self._public(m) for m in reversed(found)], "has_more": False}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        parent = self._by_ts.get((str(args.get("channel", "")), str(args.get("ts", ""))))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        if "thread_ts" in parent:
            parent = self._by_ts[(parent["channel"], parent["thread_ts"])]
        return {"ok": True, "messages": [self._public(parent), *(self._public(r) for r in parent["replies"])],
                "has_more": False}

    def add_channel(self, channel_id: str, name: str, *, bot_member: bool = True, private: bool = False) -> None:
        with self._lock:
            self.conversations[channel_id] = {"id": channel_id, "name": name, "is_private": private,
                                              "members": [BOT_USER_ID] if bot_member else []}

    def _m_users_conversations(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user") or BOT_USER_ID)
        found = [self._channel_info(c) for c in self.conversations.values() if user in c["members"]]
        return {"ok": True, "channels": found, "response_metadata": {"next_cursor": ""}}

    def _m_conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        # Private channels are only listed to their members, as Slack does.
        found = [self._channel_info(c) for c in self.conversations.values()
                 if not c["is_private"] or BOT_USER_ID in c["members"]]
        return {"ok": True, "channels": found, "response_metadata": {"next_cursor": ""}}

    @staticmethod
    def _channel_info(channel: dict[str, Any]) -> dict[str, Any]:
        return {"id": channel["id"], "name": channel["name"], "is_private": channel["is_private"],
                "is_member": BOT_USER_ID in channel["members"], "num_members": len(channel["members"])}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user", ""))
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        user: dict[str, Any] = {"id": user_id, "team_id": TEAM_ID, "name": user_id.lower(),
                                "real_name": f"User {user_id}", "is_bot": False, "deleted": False,
                                "tz": "America/New_York",
                                "profile": {"real_name": f"User {user_id}", "display_name": user_id.lower()}}
        user.update(copy.deepcopy(self.users.get(user_id, {})))
        return {"ok": True, "user": user}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._store_view("views.open", args, self._next_view_id())

    def _m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._store_view("views.push", args, self._next_view_id())

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id", ""))
        existing = next((vid for vid, v in self._views.items() if v.get("_home_user") == user_id), None)
        return self._store_view("views.publish", args, existing or self._next_view_id())

    def _m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next((vid for vid, v in self._views.items() if v.get("external_id") == args["external_id"]),
                           None)
            if view_id is None:
                return {"ok": False, "error": "not_found"}
        # An unknown view_id is accepted: tests may update views whose ids came from a simulated Slack payload.
        return self._store_view("views.update", args, str(view_id) if view_id else self._next_view_id())

    def _store_view(self, method: str, args: dict[str, Any], view_id: str) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        stored: dict[str, Any] = {**copy.deepcopy(view), "id": view_id, "team_id": TEAM_ID,
                                  "hash": f"{len(self._view_log) + 1}.{view_id}"}
        if method == "views.publish":
            stored["_home_user"] = str(args.get("user_id", ""))
        self._views[view_id] = stored
        self._view_log.append({**copy.deepcopy(stored), "_method": method,
                               **{k: args[k] for k in ("trigger_id", "user_id") if k in args}})
        return {"ok": True, "view": {k: v for k, v in stored.items() if not k.startswith("_")}}

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in message.items() if k not in ("replies", "channel")}
