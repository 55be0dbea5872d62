"""Local HTTP servers standing in for vendor APIs (Twilio, Slack, ...): they record requests and answer as told."""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    """Answers each request with the next scripted Answer, else with `default(request)`."""

    def __init__(self, default: Callable[[Recorded], Answer]) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Answer] = deque()
        self.by_path: dict[str, deque[Answer]] = {}  # scripted answers for requests whose path contains the key
        self.default = default  # replaceable: what unscripted requests are answered with
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                    self.rfile.read(length))
                answer = stand_in._answer(recorded)
                if isinstance(answer.body, bytes):  # a file (e.g. MMS media), sent as is
                    payload = answer.body
                else:
                    payload = json.dumps(answer.body).encode() if answer.body is not None else b""
                self.send_response(answer.status)
                if "Content-Type" not in answer.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _answer(self, recorded: Recorded) -> Answer:
        with self._lock:
            self.requests.append(recorded)
            for fragment, answers in self.by_path.items():
                if fragment in recorded.path and answers:
                    return answers.popleft()
            if self.script:
                return self.script.popleft()
        return self.default(recorded)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def twilio_media_bytes(path: str) -> bytes:
    """What the stand-in serves for an MMS media URL: JPEG magic, then the path, so each file is distinct."""
    return b"\xff\xd8\xff\xe0" + path.encode()


_SIDS = itertools.count(1)


def twilio_default(recorded: Recorded) -> Answer:
    """Twilio's Messages and Calls APIs, one request at a time: a 201 with a new sid (SM… for a message, CA… for
    a call). `TwilioApi` adds what needs memory: the list of messages sent."""
    if recorded.method == "GET" and "/Media/" in recorded.path:
        return Answer(200, twilio_media_bytes(recorded.path), {"Content-Type": "image/jpeg"})
    form = recorded.form
    if recorded.path.endswith("/Calls.json"):
        return Answer(201, {"sid": f"CA{abs(hash(recorded.body)) % 10**12:012d}", "status": "queued",
                            "to": form.get("To")})
    # Unique per message, as Twilio's are (the same text sent twice is two messages).
    return Answer(201, {"sid": f"SM{len(form.get('Body', '')):04d}{next(_SIDS) % 10**8:08d}",
                        "status": "queued", "to": form.get("To")})


class TwilioApi:
    """`twilio_default`, remembering every message it accepted, so that `GET …/Messages.json?To=…&From=…` lists
    them (newest first) as Twilio does: what a restarted bot asks before sending a text again."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, recorded: Recorded) -> Answer:
        path, _, query = recorded.path.partition("?")
        if recorded.method == "GET" and path.endswith("/Messages.json"):
            wanted = {k: v[0] for k, v in parse_qs(query).items()}
            with self._lock:
                found = [m for m in reversed(self.accepted)
                         if m["to"] == wanted.get("To", m["to"]) and m["from"] == wanted.get("From", m["from"])]
            return Answer(200, {"messages": found[:int(wanted.get("PageSize", 50))], "next_page_uri": None})
        answer = twilio_default(recorded)
        if recorded.method == "POST" and path.endswith("/Messages.json") and answer.status == 201:
            form = recorded.form
            with self._lock:
                self.accepted.append({"sid": str(answer.body["sid"]), "to": form.get("To", ""),  # type: ignore[index]
                                      "from": form.get("From", ""), "body": form.get("Body", ""),
                                      "date_created": formatdate(usegmt=True)})
        return answer