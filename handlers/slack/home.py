"""The App Home tab: my tickets and queue counts, republished whenever the user opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import HeaderBlock, SectionBlock
from slack_sdk.models.views import View

from handlers.slack.commands import queue_summary
from handlers.slack.context import SlackContext


def register(app: App, ctx: SlackContext) -> None:
    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event.get("user", ""))
        view = View(type="home", blocks=[
            HeaderBlock(text=f"{ctx.service.config.clinic.name} · triage"),
            SectionBlock(text=queue_summary(ctx, {"id": user})),
        ])
        ctx.client.views_publish(user_id=user, view=view)
