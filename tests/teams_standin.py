"""A local, stateful stand-in for the Microsoft token endpoint and the Bot Connector REST API, for tests that point
the Teams SDK's API client at it (a serviceUrl on 127.0.0.1).

    with TeamsStandIn() as teams:
        settings = TeamsSettings(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=TENANT_ID,
                                 token_url=teams.token_url)
        ... post with teams.service_url as the conversation's serviceUrl ...
        assert teams.activities(CHANNEL)[0]["attachments"][0]["contentType"] == ADAPTIVE_CARD
        teams.fail_next(429, retry_after="3")

Routes (under the serviceUrl's path, "/amer/" by default, as Microsoft's have one):
- POST /botframework/token (or /{tenant}/oauth2/v2.0/token): the client-credentials grant; answers
  {"access_token", "expires_in", "token_type"} and records the form without the secret (`token_requests`).
- POST v3/conversations: opens a personal chat ({"members": [{"id"}], "tenantId"}); a member in `not_installed`
  gets the 403 Teams gives for a user without the app. The same person always gets the same conversation id.
- POST v3/conversations/{id}/activities (a post; a threaded id ";messageid=" or a "replyToId" makes it a reply),
  POST v3/conversations/{id}/activities/{activityId} (the Bot Framework's reply route),
  PUT v3/conversations/{id}/activities/{activityId} (an edit in place).
Every Bot Connector call must carry ``Authorization: Bearer <a token this stand-in issued>`` (401 otherwise).

Every request is recorded in order (`calls`), failed ones included. Faults: `fail_next(...)` queues statuses for the
next Bot Connector calls; `storm(fraction)` fails that share of calls, counter-based (no randomness, no sleeps);
`drop_next()` closes the connection without an answer once the call was applied (a lost answer).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

APP_ID = "6f1e2d3c-0000-4000-8000-00000000b07a"
APP_PASSWORD = "test-teams-app-password"
TENANT_ID = "11111111-2222-4333-8444-555555555555"
SERVICE_PATH = "/amer/"
TOKEN_PATH = "/botframework/token"
NOT_INSTALLED = {"error": {"code": "Forbidden", "message": "The bot is not installed for this user."}}


@dataclass
class Call:
    """One request: its method, path (unquoted, the serviceUrl's path included), JSON body (None for a form or no
    body) and headers (names lower-cased)."""

    method: str
    path: str
    json: Any
    headers: dict[str, str]
    failed: bool = False

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


@dataclass
class Failure:
    status: int
    retry_after: str | None = None
    body: Any = None


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


@dataclass
class _Storm:
    fraction: float
    statuses: tuple[int, ...]
    retry_after: str | None
    count: int = 0
    failed: int = 0


class TeamsStandIn:
    """Serves the token endpoint and the Bot Connector's conversations API from memory, on 127.0.0.1."""

    def __init__(self, *, client_id: str = APP_ID, client_secret: str = APP_PASSWORD, expires_in: int = 3600,
                 service_path: str = SERVICE_PATH) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in  # of the tokens handed out from now on
        self.not_installed: set[str] = set()  # user ids for whom the app is not installed (create -> 403)
        self.answer_service_url: str | None = None  # a serviceUrl to put in create answers (a client must ignore it)
        self.all_calls: list[Call] = []
        self.team_channels: dict[str, list[dict[str, str]]] = {}  # team id -> [{"id", "name"}] (GET …/conversations)
        self.members: dict[str, dict[str, str]] = {}  # Teams user id ("29:…") -> {"id", "name", "aadObjectId"}
        self.token_requests: list[dict[str, str]] = []  # each token request's form, without client_secret
        self.created: list[dict[str, Any]] = []  # personal chats opened: {"conversation", "user", "tenant"}
        self._service_path = "/" + service_path.strip("/") + "/" if service_path.strip("/") else "/"
        self._issued: set[str] = set()
        self._failures: deque[Failure] = deque()
        self._token_failures: deque[Failure] = deque()
        self._drops = 0
        self._storm: _Storm | None = None
        self._activities: dict[str, dict[str, Any]] = {}  # activity id -> current version (with "conversation")
        self._order: list[str] = []
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._lock = threading.RLock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = stand_in._handle(self.command, self.path, headers, body)
                if reply.drop:  # nothing written: the connection closes when this returns (HTTP/1.0)
                    self.close_connection = True
                    return
                payload = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="teams-standin",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ lifecycle

    @property
    def service_url(self) -> str:
        """The serviceUrl Teams would put in its activities (with the trailing slash Microsoft's have)."""
        return self.url + self._service_path

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TeamsStandIn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ test-facing helpers

    def calls(self, method: str | None = None, contains: str = "") -> list[Call]:
        """Bot Connector and token calls in order (failed ones included), of one method and path fragment."""
        with self._lock:
            return [c for c in self.all_calls if (method is None or c.method == method) and contains in c.path]

    def api_calls(self) -> list[Call]:
        """The Bot Connector calls (not the token endpoint's)."""
        with self._lock:
            return [c for c in self.all_calls if "/v3/" in c.path]

    @property
    def issued(self) -> set[str]:
        with self._lock:
            return set(self._issued)

    def fail_next(self, *statuses: int, retry_after: str | None = None, body: Any = None) -> None:
        """The next Bot Connector calls answer these statuses (in order) without touching state; a 429 or 503 carries
        `retry_after` (delta-seconds or an HTTP-date) as its Retry-After header when given."""
        with self._lock:
            self._failures.extend(Failure(status, retry_after, body) for status in statuses)

    def fail_token(self, *statuses: int, retry_after: str | None = None, body: Any = None) -> None:
        """The next token requests answer these statuses (401 with {"error": "invalid_client"} by default body)."""
        with self._lock:
            self._token_failures.extend(Failure(status, retry_after, body) for status in statuses)

    def drop_next(self, count: int = 1) -> None:
        """The next Bot Connector calls are applied, then the connection is closed before any answer."""
        with self._lock:
            self._drops += count

    def storm(self, fraction: float | None, *, statuses: tuple[int, ...] = (503,),
              retry_after: str | None = None) -> None:
        """On: `fraction` of the Bot Connector calls from now on fail, spread evenly (the n-th call fails when
        floor(n * fraction) grows), their statuses cycling through `statuses`. None: off."""
        with self._lock:
            self._storm = None if fraction is None else _Storm(fraction, statuses, retry_after)

    def activities(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Current versions of the activities posted (in post order), in one conversation (its threads included,
        a threaded id counting as its channel) or all. Each has "id" and "conversation" (as posted to)."""
        with self._lock:
            found = [self._activities[i] for i in self._order]
            if conversation is not None:
                found = [a for a in found if a["conversation"].split(";")[0] == conversation.split(";")[0]]
            return copy.deepcopy(found)

    def activity(self, activity_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._activities.get(activity_id)
            return copy.deepcopy(found) if found else None

    def personal_conversation(self, user: str) -> str:
        """The id Teams gives the personal chat of the bot with `user` (always the same one)."""
        return f"a:1personal-{user}"

    # ------------------------------------------------------------------ request handling

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        path = unquote(urlsplit(raw_path).path)
        form: dict[str, str] | None = None
        data: Any = None
        if "x-www-form-urlencoded" in headers.get("content-type", ""):
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        elif body:
            try:
                data = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                data = None
        with self._lock:
            recorded = {k: v for k, v in (form or {}).items() if k != "client_secret"} if form is not None else data
            call = Call(method, path, recorded, headers)
            self.all_calls.append(call)
            if method == "POST" and (path == TOKEN_PATH or path.endswith("/oauth2/v2.0/token")):
                return self._token(call, path, form or {})
            if not path.startswith((self._service_path + "v3/conversations", self._service_path + "v3/teams/")):
                return _Reply(404, {"error": {"code": "NotFound", "message": "no such stand-in route"}})
            if call.token is None or call.token not in self._issued:
                call.failed = True
                return _Reply(401, {"message": "Authorization has been denied for this request."})
            failure = self._next_failure()
            if failure is not None:
                call.failed = True
                return _failure_reply(failure)
            if path.startswith(self._service_path + "v3/teams/") and method == "GET":
                team = path.removeprefix(self._service_path + "v3/teams/").removesuffix("/conversations")
                if team not in self.team_channels:
                    return _Reply(404, {"error": {"code": "NotFound", "message": "no such team"}})
                return _Reply(200, {"conversations": copy.deepcopy(self.team_channels[team])})
            rest = path.removeprefix(self._service_path + "v3/conversations").strip("/")
            if self._drops:
                self._drops -= 1
                self._route(method, rest, data)
                return _Reply(0, drop=True)
            return self._route(method, rest, data)

    def _next_failure(self) -> Failure | None:
        if self._failures:
            return self._failures.popleft()
        storm = self._storm
        if storm is None:
            return None
        storm.count += 1
        if math.floor(storm.count * storm.fraction) > math.floor((storm.count - 1) * storm.fraction):
            status = storm.statuses[storm.failed % len(storm.statuses)]
            storm.failed += 1
            return Failure(status, storm.retry_after)
        return None

    def _token(self, call: Call, path: str, form: dict[str, str]) -> _Reply:
        record = {k: v for k, v in form.items() if k != "client_secret"}
        if path != TOKEN_PATH:
            record["tenant"] = path.strip("/").split("/")[0]
        self.token_requests.append(record)
        if self._token_failures:
            call.failed = True
            failure = self._token_failures.popleft()
            if failure.body is None and failure.status in (400, 401):
                failure = Failure(failure.status, failure.retry_after,
                                  {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid secret"})
            return _failure_reply(failure)
        if (form.get("grant_type") != "client_credentials" or form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret):
            call.failed = True
            return _Reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid secret"})
        # JWT-shaped, as Microsoft's are: the SDK reads claims (the app id, the tenant) out of its own token.
        token = jwt.encode({"iss": "https://login.microsoftonline.com/standin/v2.0", "aud": "https://api.botframework.com",
                            "appid": self.client_id, "tid": record.get("tenant", "botframework.com"),
                            "n": next(self._tokens), "exp": 4102444800}, "stand-in-signing-secret-0123456789abcdef",
                           algorithm="HS256")
        self._issued.add(token)
        return _Reply(200, {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                            "access_token": token})

    def _route(self, method: str, rest: str, data: Any) -> _Reply:
        body = data if isinstance(data, dict) else {}
        if method == "POST" and rest == "":
            return self._create_conversation(body)
        conversation, _, tail = rest.partition("/")
        if method == "GET" and tail.startswith("members/"):
            member = self.members.get(tail.removeprefix("members/"))
            if member is None:
                return _Reply(404, {"error": {"code": "MemberNotFoundInConversation", "message": "no such member"}})
            return _Reply(200, copy.deepcopy(member))
        if tail == "activities" and method == "POST":
            reply_to = body.get("replyToId")
            return self._post(conversation, body, str(reply_to) if reply_to else None)
        if tail.startswith("activities/"):
            activity_id = tail.removeprefix("activities/")
            if method == "POST":
                return self._post(conversation, body, activity_id)
            if method == "PUT":
                return self._update(conversation, activity_id, body)
        return _Reply(405, {"error": {"code": "BadArgument", "message": "not a route of this stand-in"}})

    def _create_conversation(self, body: dict[str, Any]) -> _Reply:
        members = body.get("members") or []
        if len(members) != 1 or not isinstance(members[0], dict) or not members[0].get("id"):
            return _Reply(400, {"error": {"code": "BadArgument", "message": "exactly one member is expected"}})
        user = str(members[0]["id"])
        if body.get("isGroup"):
            return _Reply(400, {"error": {"code": "BadArgument", "message": "only personal chats here"}})
        if user in self.not_installed:
            return _Reply(403, NOT_INSTALLED)
        conversation = self.personal_conversation(user)
        self.created.append({"conversation": conversation, "user": user, "tenant": body.get("tenantId")})
        answer: dict[str, Any] = {"id": conversation}
        if self.answer_service_url:
            answer["serviceUrl"] = self.answer_service_url
        return _Reply(201, answer)

    def _post(self, conversation: str, body: dict[str, Any], reply_to: str | None) -> _Reply:
        if body.get("type") != "message":
            return _Reply(400, {"error": {"code": "BadArgument", "message": "Unknown activity type"}})
        activity_id = f"1732460400{next(self._ids):03d}"  # numeric, as Teams' message ids are
        activity = {**copy.deepcopy(body), "id": activity_id, "conversation": conversation}
        if reply_to:
            activity["replyToId"] = reply_to
        self._activities[activity_id] = activity
        self._order.append(activity_id)
        return _Reply(201, {"id": activity_id})

    def _update(self, conversation: str, activity_id: str, body: dict[str, Any]) -> _Reply:
        found = self._activities.get(activity_id)
        if found is None or found["conversation"].split(";")[0] != conversation.split(";")[0]:
            return _Reply(404, {"error": {"code": "ActivityNotFoundInConversation",
                                          "message": "The activity does not exist in the conversation."}})
        self._activities[activity_id] = {**copy.deepcopy(body), "id": activity_id,
                                         "conversation": found["conversation"], "updated": True}
        return _Reply(200, {"id": activity_id})


def _failure_reply(failure: Failure) -> _Reply:
    headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
    body = failure.body
    if body is None:
        code = {400: "BadArgument", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 412: "PreconditionFailed",
                429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway",
                503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(failure.status, "Error")
        body = {"error": {"code": code, "message": "stand-in fault"}}
    return _Reply(failure.status, body, headers)
