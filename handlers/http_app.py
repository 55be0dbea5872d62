"""The ASGI app: patient-channel webhooks and the health check."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from handlers.doctor.twilio import needs_twilio
from handlers.health import Health
from handlers.service import Service
from handlers.slack.app import SlackApp
from handlers.slack.http import slack_events
from handlers.twilio_sms import inbound_sms
from handlers.web_form import inbound_web


def healthz(request: Request) -> JSONResponse:
    """200 with each component's state ("ok" or "degraded"); 503 when the database cannot be used."""
    service: Service = request.app.state.service
    health: Health = request.app.state.health
    code, body = health.report(service.db.session, service.clock.now(), slack=request.app.state.slack is not None,
                               kinds=service.outbox.kinds, clinic=service.config.clinic.name,
                               twilio_needed=needs_twilio(service.config) is not None)
    return JSONResponse(body, status_code=code)


def create_app(service: Service, slack: SlackApp | None = None) -> Starlette:
    app = Starlette(
        routes=[
            Route("/inbound/sms", inbound_sms, methods=["POST"]),
            Route("/inbound/web", inbound_web, methods=["POST"]),
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    app.state.service = service
    app.state.slack = slack
    app.state.health = Health(service.db.engine)
    return app
