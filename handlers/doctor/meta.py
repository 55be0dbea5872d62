"""Instagram and Facebook DMs: the three Meta variables, and that the page token is one Meta accepts."""

from __future__ import annotations

from typing import Any

import httpx

from bot.settings import MetaSettings
from handlers.doctor.report import Check, fail, ok, skip

NAME = "Instagram/Facebook DMs"
SET_ALL = ("set META_APP_SECRET (the app's secret), META_VERIFY_TOKEN (the string typed into the app's webhook "
           "settings) and META_PAGE_TOKEN (the page's access token)")
EXPIRED = 190  # Meta's OAuthException code for a token that is invalid, expired or revoked


def check_meta(settings: MetaSettings, *, timeout: float = 10.0) -> Check:
    names = ("META_APP_SECRET", "META_VERIFY_TOKEN", "META_PAGE_TOKEN")
    given = [settings.secret is not None, settings.token_to_verify is not None, settings.send_token is not None]
    if not any(given):
        return skip(NAME, f"not configured ({SET_ALL} to take and answer DMs at /inbound/meta)")
    if not all(given):
        unset = [name for name, is_set in zip(names, given, strict=True) if not is_set]
        return fail(NAME, f"{', '.join(unset)} not set — {SET_ALL}")
    token = settings.send_token
    assert token is not None
    try:
        with httpx.Client(timeout=timeout) as client:
            answer = client.get(f"{settings.graph_url.rstrip('/')}/me", params={"fields": "id,name"},
                                headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return fail(NAME, f"cannot reach Meta at {settings.graph_url} ({type(exc).__name__}) — check the network, "
                          "or META_GRAPH_URL")
    body = _json(answer)
    if answer.status_code != 200:
        found = body.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        if answer.status_code in (400, 401, 403) and error.get("code") == EXPIRED:
            return fail(NAME, "Meta refused META_PAGE_TOKEN (invalid, expired or revoked) — make a new page access "
                              "token in the app's Messenger settings")
        return fail(NAME, f"Meta answered {answer.status_code} to the page token check — check META_PAGE_TOKEN and "
                          "the app's permissions (pages_messaging, instagram_manage_messages)")
    page = body.get("name") or body.get("id") or "the page"
    return ok(NAME, f"page token works for {page!s}; point the app's webhook at <public URL>/inbound/meta "
                    "(messages field) with META_VERIFY_TOKEN")


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
