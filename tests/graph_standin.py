"""A local, stateful stand-in for the Microsoft identity platform's token endpoint and the part of Microsoft Graph
the bot reads (an Entra group's transitive members), for tests that point msgraph-sdk at it.

    with GraphStandIn() as graph:
        graph.set_group(GROUP_ID, [user("u1"), user("u2"), device("d1")])
        groups = EntraGroups(tenant_id=TENANT_ID, client_id=APP_ID, client_secret=APP_PASSWORD,
                             graph_url=graph.graph_url, token_url=graph.token_url)
        assert groups.members(GROUP_ID) == {"u1", "u2"}
        graph.fail_next(403)

Routes:
- POST /graph-token/{tenant}/oauth2/v2.0/token: the client-credentials grant (form: grant_type, client_id,
  client_secret, scope); answers {"access_token", "expires_in", "token_type"}. Records each form without the
  secret, plus the tenant of the path (`token_requests`).
- GET /v1.0/groups/{id}/transitiveMembers: the group's members, `page_size` a page (or fewer when $top asks), with
  "@odata.nextLink" pointing back here ($skiptoken) while more remain. Honours $select (each object keeps its
  "@odata.type" and the selected properties, as Graph does). An unknown group is Graph's 404.
- The shared mailbox (`add_mail`, `remove_mail`; users/{mailbox} for a mailbox added, Graph's 404 otherwise):
  GET /v1.0/users/{mailbox}/mailFolders/inbox/messages/delta() (the parentheses included, as the SDK asks): a full
  round without $deltatoken, else what changed since it (new messages, and {"id", "@removed"} for removed ones),
  `mail_page_size` a page, "@odata.nextLink" ($skiptoken) while more remain, then "@odata.deltaLink"
  ($deltatoken). Links keep the first request's $select, which is honoured. GET .../mailFolders/inbox
  (totalItemCount); GET .../messages/{id}/attachments ($select, no bytes); POST .../messages/{id}/reply
  (recorded in `replies`, Graph's 202); POST .../sendMail (`sent_mail`, 202); POST /subscriptions and PATCH
  /subscriptions/{id} (`subscriptions`, by id; Graph's answer echoes the subscription with its id). With
  `validate_subscriptions`, creating one first POSTs ``?validationToken=...`` to its notificationUrl (a loopback
  one only) and wants the token echoed as text/plain (Graph's 400 otherwise), as Graph does.
Every Graph call must carry ``Authorization: Bearer <a token this stand-in issued>`` (Graph's 401 otherwise).

Every request is recorded in order (`calls`), failed ones included. Faults: `fail_next(...)` queues statuses for
the next Graph calls, `fail_matching(text, ...)` for the next Graph calls whose path and query contain `text`
(a mailbox's second page: "$skiptoken"), `fail_token(...)` for the next token requests, `delay_next(seconds)`
holds the next Graph answer back (for timeouts; released at close). Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

APP_ID = "6f1e2d3c-0000-4000-8000-00000000b07a"
APP_PASSWORD = "test-teams-app-password"
TENANT_ID = "11111111-2222-4333-8444-555555555555"
TOKEN_PATH = "/graph-token/{tenant}/oauth2/v2.0/token"
GRAPH_PATH = "/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

_CODES = {400: "Request_BadRequest", 401: "InvalidAuthenticationToken", 403: "Authorization_RequestDenied",
          404: "Request_ResourceNotFound", 429: "TooManyRequests", 500: "InternalServerError",
          502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


def user(object_id: str, name: str = "") -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.user", "id": object_id, "displayName": name or f"User {object_id}",
            "userPrincipalName": f"{object_id}@clinic.example"}


def device(object_id: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.device", "id": object_id, "displayName": f"Device {object_id}"}


def group(object_id: str) -> dict[str, Any]:
    """A nested group: transitiveMembers lists it too (besides its members, which the test lists itself)."""
    return {"@odata.type": "#microsoft.graph.group", "id": object_id, "displayName": f"Group {object_id}"}


@dataclass
class Call:
    """One request: method, path (unquoted), query (first value of each parameter), token-request form (without
    client_secret; None for Graph calls) and headers (names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str] | None
    headers: dict[str, str]
    failed: bool = False

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphStandIn:
    """Serves the token endpoint and GET /groups/{id}/transitiveMembers from memory, on 127.0.0.1."""

    def __init__(self, *, client_id: str = APP_ID, client_secret: str = APP_PASSWORD, expires_in: int = 3600,
                 page_size: int = 2, validate_subscriptions: bool = False) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in  # of the tokens handed out from now on
        self.page_size = page_size  # the most objects a page holds (Graph's is 100 by default, 999 at most)
        self.all_calls: list[Call] = []
        self.token_requests: list[dict[str, str]] = []
        self._groups: dict[str, list[dict[str, Any]]] = {}
        self._issued: set[str] = set()
        self._failures: deque[tuple[int, str | None]] = deque()
        self._matching_failures: deque[tuple[str, int]] = deque()
        self.mail_page_size = 2
        self.validate_subscriptions = validate_subscriptions
        self.validations: list[tuple[str, int, str]] = []  # (notificationUrl, status, body) of each handshake
        self._mail: dict[str, _Mailbox] = {}
        self.replies: list[dict[str, Any]] = []  # {"mailbox", "message_id", "body"} of each reply, in order
        self.sent_mail: list[dict[str, Any]] = []  # {"mailbox", "body"} of each sendMail
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._subscription_ids = itertools.count(1)
        self._token_failures: deque[int] = deque()
        self._delays: deque[float] = deque()
        self._released = threading.Event()
        self._tokens = itertools.count(1)
        self._lock = threading.RLock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = stand_in._handle(self.command, self.path, headers, body)
                payload = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="graph-standin",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ lifecycle

    @property
    def graph_url(self) -> str:
        return self.url + GRAPH_PATH

    @property
    def token_url(self) -> str:
        """With "{tenant}" in it, as Microsoft's is."""
        return self.url + TOKEN_PATH

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> GraphStandIn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ test-facing helpers

    def set_group(self, group_id: str, members: list[dict[str, Any]]) -> None:
        """The group's transitive members, in the order Graph lists them (None of a removed group: `del_group`)."""
        with self._lock:
            self._groups[group_id] = copy.deepcopy(members)

    def del_group(self, group_id: str) -> None:
        with self._lock:
            self._groups.pop(group_id, None)

    def calls(self, method: str | None = None, contains: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.all_calls if (method is None or c.method == method) and contains in c.path]

    def graph_calls(self) -> list[Call]:
        """The Graph calls (not the token endpoint's)."""
        with self._lock:
            return [c for c in self.all_calls if c.path.startswith(GRAPH_PATH + "/")]

    @property
    def issued(self) -> set[str]:
        with self._lock:
            return set(self._issued)

    def fail_next(self, *statuses: int, retry_after: str | None = None) -> None:
        """The next Graph calls answer these statuses (in order) with Graph's error body; a `retry_after` goes
        out as a Retry-After header."""
        with self._lock:
            self._failures.extend((status, retry_after) for status in statuses)

    def fail_matching(self, text: str, *statuses: int) -> None:
        """The next Graph calls whose path and query contain `text` answer these statuses (in order)."""
        with self._lock:
            self._matching_failures.extend((text, status) for status in statuses)

    def add_mail(self, mailbox: str, message: dict[str, Any], attachments: list[dict[str, Any]] | None = None
                 ) -> None:
        """A message arrives in the mailbox's inbox (`mail_message` builds one), with its attachments' metadata."""
        with self._lock:
            box = self._mail.setdefault(mailbox.lower(), _Mailbox())
            box.events.append(("add", copy.deepcopy(message)))
            box.attachments[message["id"]] = copy.deepcopy(attachments or [])

    def remove_mail(self, mailbox: str, message_id: str) -> None:
        with self._lock:
            self._mail.setdefault(mailbox.lower(), _Mailbox()).events.append(("remove", {"id": message_id}))

    def open_mailbox(self, mailbox: str) -> None:
        """An empty mailbox exists (its inbox can be read)."""
        with self._lock:
            self._mail.setdefault(mailbox.lower(), _Mailbox())

    def fail_token(self, *statuses: int) -> None:
        """The next token requests answer these statuses (a 400/401 with {"error": "invalid_client"})."""
        with self._lock:
            self._token_failures.extend(statuses)

    def delay_next(self, seconds: float) -> None:
        """The next Graph call is answered only after `seconds` (or when the stand-in closes)."""
        with self._lock:
            self._delays.append(seconds)

    # ------------------------------------------------------------------ request handling

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        form: dict[str, str] | None = None
        if "x-www-form-urlencoded" in headers.get("content-type", ""):
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        delay = 0.0
        with self._lock:
            recorded = {k: v for k, v in form.items() if k != "client_secret"} if form is not None else None
            call = Call(method, path, query, recorded, headers)
            self.all_calls.append(call)
            if method == "POST" and path.startswith("/graph-token/") and path.endswith("/oauth2/v2.0/token"):
                return self._token(call, path, form or {})
            if not path.startswith(GRAPH_PATH + "/"):
                call.failed = True
                return _error(404, "no such stand-in route")
            if call.token is None or call.token not in self._issued:
                call.failed = True
                return _error(401, "Access token is empty." if call.token is None else "Invalid token.")
            if self._delays:
                delay = self._delays.popleft()
        if delay:
            self._released.wait(delay)
        with self._lock:
            for index, (text, status) in enumerate(self._matching_failures):
                if text in raw_path or text in path:
                    del self._matching_failures[index]
                    call.failed = True
                    return _error(status, "stand-in fault")
            if self._failures:
                call.failed = True
                status, retry_after = self._failures.popleft()
                reply = _error(status, "stand-in fault")
                if retry_after is not None:
                    reply.headers["Retry-After"] = retry_after
                return reply
            if path.startswith(GRAPH_PATH + "/users/") or path.startswith(GRAPH_PATH + "/subscriptions"):
                return self._mail_route(method, path, query, call, body)
            return self._route(method, path, query, call)

    def _token(self, call: Call, path: str, form: dict[str, str]) -> _Reply:
        record = {k: v for k, v in form.items() if k != "client_secret"}
        record["tenant"] = path.removeprefix("/graph-token/").split("/")[0]
        self.token_requests.append(record)
        if self._token_failures:
            call.failed = True
            status = self._token_failures.popleft()
            if status in (400, 401):
                return _Reply(status, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid "
                                       "client secret provided."})
            return _Reply(status, {"error": "temporarily_unavailable"})
        if (form.get("grant_type") != "client_credentials" or form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret):
            call.failed = True
            return _Reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid secret"})
        if form.get("scope") != GRAPH_SCOPE:
            call.failed = True
            return _Reply(400, {"error": "invalid_scope", "error_description": "AADSTS70011: invalid scope"})
        token = f"standin-graph-token-{next(self._tokens)}"
        self._issued.add(token)
        return _Reply(200, {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                            "access_token": token})

    def _route(self, method: str, path: str, query: dict[str, str], call: Call) -> _Reply:
        segments = path.removeprefix(GRAPH_PATH + "/").split("/")
        if method != "GET" or len(segments) != 3 or segments[0] != "groups" or segments[2] != "transitiveMembers":
            call.failed = True
            return _error(400, "not a route of this stand-in")
        group_id = segments[1]
        members = self._groups.get(group_id)
        if members is None:
            call.failed = True
            return _error(404, f"Resource '{group_id}' does not exist or one of its queried reference-property "
                          "objects are not present.")
        try:
            start = int(query.get("$skiptoken", "0"))
            top = int(query.get("$top", str(self.page_size)))
        except ValueError:
            call.failed = True
            return _error(400, "Invalid $skiptoken or $top")
        size = max(1, min(self.page_size, top))
        selected = [s for s in query.get("$select", "").split(",") if s]
        page = [_select(member, selected) for member in members[start:start + size]]
        answer: dict[str, Any] = {"@odata.context": f"{self.graph_url}/$metadata#directoryObjects", "value": page}
        if start + size < len(members):
            kept = {k: v for k, v in query.items() if k != "$skiptoken"}
            kept["$skiptoken"] = str(start + size)
            encoded = "&".join(f"{quote(k, safe='$')}={quote(v, safe=',')}" for k, v in kept.items())
            answer["@odata.nextLink"] = f"{self.graph_url}/groups/{quote(group_id)}/transitiveMembers?{encoded}"
        return _Reply(200, answer)


    # ------------------------------------------------------------------ the shared mailbox

    def _mail_route(self, method: str, path: str, query: dict[str, str], call: Call, body: bytes) -> _Reply:
        segments = path.removeprefix(GRAPH_PATH + "/").split("/")
        if segments[0] == "subscriptions":
            return self._subscription(method, segments[1:], call, body)
        box = self._mail.get(segments[1].lower()) if len(segments) > 1 else None
        if box is None:
            call.failed = True
            return _error(404, "The specified object was not found in the store.", code="ErrorItemNotFound")
        mailbox, rest = segments[1], segments[2:]
        if method == "GET" and rest == ["mailFolders", "inbox", "messages", "delta()"]:
            return self._delta(mailbox, box, query, call)
        if method == "GET" and rest == ["mailFolders", "inbox"]:
            return _Reply(200, {"id": "AAMkInbox", "totalItemCount": len(box.current())})
        if len(rest) == 3 and rest[0] == "messages" and rest[1] in box.known():
            if method == "GET" and rest[2] == "attachments":
                selected = [s for s in query.get("$select", "").split(",") if s]
                return _Reply(200, {"value": [_select(a, selected) for a in box.attachments.get(rest[1], [])]})
            if method == "POST" and rest[2] == "reply":
                self.replies.append({"mailbox": mailbox, "message_id": rest[1], "body": json.loads(body or b"{}")})
                return _Reply(202)
        if len(rest) == 3 and rest[0] == "messages":
            call.failed = True
            return _error(404, "The specified object was not found in the store.", code="ErrorItemNotFound")
        if method == "POST" and rest == ["sendMail"]:
            self.sent_mail.append({"mailbox": mailbox, "body": json.loads(body or b"{}")})
            return _Reply(202)
        call.failed = True
        return _error(400, "not a route of this stand-in")

    def _delta(self, mailbox: str, box: _Mailbox, query: dict[str, str], call: Call) -> _Reply:
        """A round covers the events from its start (0: a full round) to the count when it began."""
        try:
            if "$skiptoken" in query:
                start, end, offset = (int(part) for part in query["$skiptoken"].split("-"))
            else:
                start, end, offset = int(query.get("$deltatoken", "0")), len(box.events), 0
        except ValueError:
            call.failed = True
            return _error(400, "Invalid $skiptoken or $deltatoken")
        if not 0 <= start <= end <= len(box.events):
            call.failed = True
            return _error(410, "The sync state is invalid", code="SyncStateNotFound")
        items = box.changes(start, end)
        selected = [s for s in query.get("$select", "").split(",") if s]
        page = [item if "@removed" in item else _select(item, [*selected, "id"] if selected else [])
                for item in items[offset:offset + self.mail_page_size]]
        base = f"{self.graph_url}/users/{quote(mailbox, safe='@')}/mailFolders/inbox/messages/delta()"
        keep = f"&$select={quote(query['$select'], safe=',')}" if selected else ""
        answer: dict[str, Any] = {"@odata.context": f"{self.graph_url}/$metadata#Collection(message)",
                                  "value": page}
        if offset + self.mail_page_size < len(items):
            answer["@odata.nextLink"] = f"{base}?$skiptoken={start}-{end}-{offset + self.mail_page_size}{keep}"
        else:
            answer["@odata.deltaLink"] = f"{base}?$deltatoken={end}{keep}"
        return _Reply(200, answer)

    def _subscription(self, method: str, rest: list[str], call: Call, body: bytes) -> _Reply:
        given = json.loads(body or b"{}")
        if method == "POST" and not rest:
            if self.validate_subscriptions and not self._validated(str(given.get("notificationUrl", ""))):
                call.failed = True
                return _error(400, "Subscription validation request failed. Response must exactly match "
                              "validationToken query parameter.", code="ValidationError")
            subscription = {**given, "id": f"sub-{next(self._subscription_ids)}"}
            self.subscriptions[subscription["id"]] = subscription
            return _Reply(201, subscription)
        if method == "PATCH" and len(rest) == 1 and rest[0] in self.subscriptions:
            self.subscriptions[rest[0]].update(given)
            return _Reply(200, self.subscriptions[rest[0]])
        call.failed = True
        return _error(404, f"The object was not found: subscription {rest[0] if rest else ''}",
                      code="ResourceNotFound")


    def _validated(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        if host not in ("127.0.0.1", "localhost"):
            return False  # never calls out beyond loopback
        token = f"Validation: Testing client application reachability for subscription {uuid.uuid4()}"
        try:
            answer = httpx.post(url, params={"validationToken": token}, timeout=10,
                                headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.HTTPError:
            self.validations.append((url, 0, ""))
            return False
        self.validations.append((url, answer.status_code, answer.text))
        return (answer.status_code == 200 and answer.text == token
                and answer.headers.get("content-type", "").startswith("text/plain"))


@dataclass
class _Mailbox:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attachments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def changes(self, start: int, end: int) -> list[dict[str, Any]]:
        """A full round (start 0): the messages there at `end`; else those added and removed in between."""
        if start == 0:
            return self.current(end)
        items: list[dict[str, Any]] = []
        for kind, item in self.events[start:end]:
            items.append(copy.deepcopy(item) if kind == "add" else {"id": item["id"], "@removed": {
                "reason": "deleted"}})
        return items

    def current(self, end: int | None = None) -> list[dict[str, Any]]:
        present: dict[str, dict[str, Any]] = {}
        for kind, item in self.events[:end]:
            if kind == "add":
                present[item["id"]] = copy.deepcopy(item)
            else:
                present.pop(item["id"], None)
        return list(present.values())

    def known(self) -> set[str]:
        return {item["id"] for kind, item in self.events if kind == "add"}


def mail_message(message_id: str, *, internet_id: str, sender: str, subject: str = "Question",
                 html: str | None = None, text: str | None = None, received: str = "2026-11-24T15:00:00Z",
                 name: str = "", has_attachments: bool = False) -> dict[str, Any]:
    """A message as Graph lists it (all the properties the bot selects, and one it does not)."""
    body = {"contentType": "html", "content": html} if html is not None else {"contentType": "text",
                                                                               "content": text or ""}
    return {"id": message_id, "internetMessageId": internet_id, "subject": subject, "body": body,
            "from": {"emailAddress": {"name": name, "address": sender}}, "receivedDateTime": received,
            "hasAttachments": has_attachments, "isRead": False}


def _select(member: dict[str, Any], selected: list[str]) -> dict[str, Any]:
    if not selected:
        return copy.deepcopy(member)
    return {k: v for k, v in member.items() if k == "@odata.type" or k in selected}


def _error(status: int, message: str, code: str | None = None) -> _Reply:
    return _Reply(status, {"error": {"code": code or _CODES.get(status, "Error"), "message": message,
                                     "innerError": {"request-id": "00000000-0000-4000-8000-000000000000"}}})
