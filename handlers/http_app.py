"""The ASGI app: patient-channel webhooks and the health check."""

from __future__ import annotations

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from handlers.service import Service
from handlers.slack.app import SlackApp
from handlers.slack.http import slack_events
from handlers.twilio_sms import inbound_sms
from handlers.web_form import inbound_web


def healthz(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    try:
        with service.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unhealthy", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "clinic": service.config.clinic.name})


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
    return app
