"""The shape of what Slack sends to /slack/events, checked before Bolt or a listener reads it.

Bolt and the listeners index into the payload (`body["user"]["id"]`, `payload["authorizations"][0]`, `"id" in
team`); a validly signed but oddly shaped request would crash them (a 500 and a traceback). These models accept
what Slack sends and refuse the rest with a reason. Unknown keys are allowed: nothing reads them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from handlers.requests import Rejected, check_text, printable

Short = Annotated[str, StringConstraints(max_length=255)]
Url = Annotated[str, StringConstraints(max_length=2048)]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Named(_Loose):
    id: Short | None = None
    enterprise_id: Short | None = None
    team_id: Short | None = None


class User(_Loose):
    id: Short
    name: Short | None = None
    username: Short | None = None
    team_id: Short | None = None


class Authorization(_Loose):
    enterprise_id: Short | None = None
    team_id: Short | None = None
    user_id: Short | None = None
    is_enterprise_install: bool | None = None


class Common(_Loose):
    """The keys Bolt's extractors read, wherever they look for them (the envelope, the event, a message)."""

    type: Short | None = None
    team: Short | Named | None = None
    enterprise: Short | Named | None = None
    user: Short | User | None = None
    channel: Short | Named | None = None
    authorizations: list[Authorization] | None = None
    team_id: Short | None = None
    user_id: Short | None = None
    enterprise_id: Short | None = None
    channel_id: Short | None = None
    thread_ts: Short | None = None
    user_team: Short | None = None
    context_team_id: Short | None = None
    context_enterprise_id: Short | None = None
    function_execution_id: Short | None = None
    bot_access_token: Short | None = None
    is_ext_shared_channel: bool | None = None
    is_enterprise_install: bool | None = None
    message: Common | None = None
    previous_message: Common | None = None
    item: Common | None = None
    assistant_thread: Common | None = None
    function_data: dict[str, Any] | None = None


class Option(_Loose):
    value: Short


class FieldState(_Loose):
    value: str | None = None
    selected_option: Option | None = None


class ViewState(_Loose):
    values: dict[str, dict[str, FieldState]] = Field(default_factory=dict)


class View(_Loose):
    type: Short  # Bolt reads view["type"] of every submission
    id: Short | None = None
    callback_id: Short | None = None
    private_metadata: Annotated[str, StringConstraints(max_length=3000)] | None = None
    hash: Short | None = None
    team_id: Short | None = None
    app_installed_team_id: Short | None = None
    state: ViewState | None = None


class Action(_Loose):
    action_id: Short
    block_id: Short | None = None
    value: Annotated[str, StringConstraints(max_length=2000)] | None = None
    selected_option: Option | None = None
    action_ts: Short | None = None


class Envelope(Common):
    type: Short
    event: Common | None = None
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    challenge: Short | None = None
    view: View | None = None
    actions: list[Action] | None = None
    container: dict[str, Any] | None = None
    trigger_id: Short | None = None
    response_url: Url | None = None
    token: Short | None = None
    api_app_id: Short | None = None


INTERACTIONS_WITH_A_USER = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action",
                            "block_suggestion"}
COMMAND_FIELDS = ("command", "user_id")


def envelope(data: Any) -> Envelope:
    """A JSON body (an event) or an interaction's `payload`, checked."""
    if not isinstance(data, dict):
        raise Rejected(400, "the Slack payload is not a JSON object")
    _check_strings(data)
    if "view" in data and not isinstance(data["view"], dict):  # Bolt reads a present `view` as an object
        raise Rejected(400, "Slack payload view: must be an object")
    try:
        found = Envelope.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(printable(str(p), 30) for p in first["loc"]) or "payload"
        raise Rejected(400, f"Slack payload {where}: {first['msg']}") from None
    if found.type == "event_callback" and found.event is None:
        raise Rejected(400, "Slack payload: an event_callback without an event")
    if found.type == "event_callback" and not (found.event and isinstance(found.event.type, str)):
        raise Rejected(400, "Slack payload: the event has no type")
    if found.type in INTERACTIONS_WITH_A_USER and not isinstance(found.user, User):
        raise Rejected(400, "Slack payload: an interaction without a user")
    if found.type == "block_actions" and not found.actions:
        raise Rejected(400, "Slack payload: block_actions without actions")
    if found.type in ("view_submission", "view_closed") and found.view is None:
        raise Rejected(400, "Slack payload: a view submission without a view")
    return found


def command(form: dict[str, str]) -> None:
    """A slash command's form: the fields the listener reads are present."""
    for name in COMMAND_FIELDS:
        if not form.get(name):
            raise Rejected(400, f"Slack command: {name} is missing")
    if len(form["command"]) > 64 or len(form.get("trigger_id", "")) > 255:
        raise Rejected(400, "Slack command: a field is too long")


def _check_strings(value: Any, depth: int = 0) -> None:
    """No NUL or lone surrogate anywhere (they cannot be stored or encoded); nesting already bounded by JSON."""
    if isinstance(value, str):
        check_text(value, "a Slack payload string")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, "a Slack payload key")
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, depth + 1)
