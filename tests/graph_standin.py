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
Every Graph call must carry ``Authorization: Bearer <a token this stand-in issued>`` (Graph's 401 otherwise).

Every request is recorded in order (`calls`), failed ones included. Faults: `fail_next(...)` queues statuses for
the next Graph calls, `fail_token(...)` for the next token requests, `delay_next(seconds)` holds the next Graph
answer back (for timeouts; released at close). Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

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
                 page_size: int = 2) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in  # of the tokens handed out from now on
        self.page_size = page_size  # the most objects a page holds (Graph's is 100 by default, 999 at most)
        self.all_calls: list[Call] = []
        self.token_requests: list[dict[str, str]] = []
        self._groups: dict[str, list[dict[str, Any]]] = {}
        self._issued: set[str] = set()
        self._failures: deque[tuple[int, str | None]] = deque()
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

            do_POST = do_GET = _serve

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
            if self._failures:
                call.failed = True
                status, retry_after = self._failures.popleft()
                reply = _error(status, "stand-in fault")
                if retry_after is not None:
                    reply.headers["Retry-After"] = retry_after
                return reply
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


def _select(member: dict[str, Any], selected: list[str]) -> dict[str, Any]:
    if not selected:
        return copy.deepcopy(member)
    return {k: v for k, v in member.items() if k == "@odata.type" or k in selected}


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"error": {"code": _CODES.get(status, "Error"), "message": message,
                                     "innerError": {"request-id": "00000000-0000-4000-8000-000000000000"}}})
