"""The ASGI app: patient-channel webhooks, Slack, and the operations endpoints (health, readiness, metrics)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.storage.gate import urgent_writes
from handlers.doctor.twilio import needs_twilio
from handlers.health import Health, readiness
from handlers.mail.graph_notify import inbound_graph_mail
from handlers.meta import inbound_meta, verify_meta
from handlers.metrics import CONTENT_TYPE, exposition, registry_for
from handlers.service import Service
from handlers.slack.app import SlackApp
from handlers.slack.http import slack_events
from handlers.twilio_sms import inbound_sms
from handlers.web_form import inbound_web

if TYPE_CHECKING:  # the Teams SDK is an optional dependency ("microsoft" extra): imported only when used
    from handlers.teams.inbound import TeamsInbound

log = logging.getLogger(__name__)

Workers = Callable[[], dict[str, bool]]


def healthz(request: Request) -> JSONResponse:
    """200 with each component's state ("ok" or "degraded"); 503 when the database cannot be used."""
    service: Service = request.app.state.service
    health: Health = request.app.state.health
    code, body = health.report(service.db.session, service.clock.now(), slack=request.app.state.slack is not None,
                               kinds=service.outbox.kinds, clinic=service.config.clinic.name,
                               twilio_needed=needs_twilio(service.config) is not None)
    return JSONResponse(body, status_code=code)


async def readyz(request: Request) -> JSONResponse:
    """200 when this instance can do its work: database reachable, migrations current, workers running."""
    service: Service = request.app.state.service
    health: Health = request.app.state.health
    workers: Workers | None = request.app.state.workers

    def check() -> tuple[int, dict[str, Any]]:
        return readiness(service.db.engine, health.heads(), service.db.session, service.clock.now(),
                         workers() if workers is not None else None)

    code, body = await run_in_threadpool(check)
    return JSONResponse(body, status_code=code)


async def metrics(request: Request) -> Response:
    data = await run_in_threadpool(exposition, request.app.state.metrics)
    return Response(data, media_type=CONTENT_TYPE)


class LastResort:
    """An exception nobody expected becomes a JSON answer (400 for a request that could not be read, else 500),
    logged at warning with its type and where it was raised, never the request body or the exception's text
    (either may quote a patient). The goal is that it never fires: every handler validates first."""

    UNREADABLE = (UnicodeError, RecursionError)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except ClientDisconnect:
            return  # the caller went away: nobody to answer
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            place = f"{where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else "?"
            log.warning("unexpected %s handling %s %s (at %s)", type(exc).__name__, scope.get("method"),
                        scope.get("path"), place)
            if started:
                return  # too late for another answer; the server closes the response
            status = 400 if isinstance(exc, self.UNREADABLE) else 500
            reason = "the request could not be read" if status == 400 else "internal error (logged)"
            await JSONResponse({"error": reason}, status_code=status)(scope, receive, send)


class RequestPathFirst:
    """Database writes made while answering a request (a webhook storing a message, a click) go before the
    background workers' on SQLite's single write lock (bot/storage/gate.py), so a burst is acknowledged fast."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with urgent_writes():  # a context variable: the threads this request hands work to see it too
            await self.app(scope, receive, send)


def create_app(service: Service, slack: SlackApp | None = None, *, workers: Workers | None = None,
               teams: TeamsInbound | None = None) -> Starlette:
    """`workers`, when given, reports whether each background worker of this process runs (for /readyz).
    `teams`, when given, answers POST /teams/messages (Microsoft Teams activities, handlers/teams)."""
    app = Starlette(
        routes=[
            Route("/inbound/sms", inbound_sms, methods=["POST"]),
            Route("/inbound/web", inbound_web, methods=["POST"]),
            Route("/inbound/meta", verify_meta, methods=["GET"]),
            Route("/inbound/meta", inbound_meta, methods=["POST"]),
            Route("/inbound/graph-mail", inbound_graph_mail, methods=["POST"]),
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *([Route("/teams/messages", teams.endpoint, methods=["POST"])] if teams is not None else []),
        ],
        middleware=[Middleware(LastResort), Middleware(RequestPathFirst)],
    )
    app.state.service = service
    app.state.slack = slack
    app.state.workers = workers
    app.state.health = Health(service.db.engine)
    app.state.metrics = registry_for(service.db.session, service.clock.now, service.triage.classifier)
    return app
