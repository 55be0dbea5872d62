"""Microsoft Teams played locally: the Bot Framework's OpenID configuration and signing keys on a loopback port,
tokens signed the way the Bot Framework signs the requests it sends a bot, activities as Teams sends them, and the
connector (token endpoint + conversations API) the bot answers through.

The signing key is generated at import (RSA 2048, `cryptography`); `FORGER_KEY` is another one, never published.
Nothing here talks to anything but 127.0.0.1.

The SDK is imported only through `handlers.teams`, whose package import switches the SDK's `.env` loading off
(handlers/teams/__init__.py): importing it here first makes that hold whichever test module is collected first.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

import handlers.teams.sdk  # noqa: F401  (the SDK, imported with .env loading off, before anything else imports it)
from tests.standins import Answer, Recorded

ISSUER = "https://api.botframework.com"  # the issuer of the tokens the Bot Framework sends bots
METADATA_PATH = "/v1/.well-known/openidconfiguration"
KEYS_PATH = "/v1/.well-known/keys"

APP_ID = "6f1e2d3c-0000-4000-8000-00000000b07a"  # the bot's Microsoft app id (the tokens' audience)
APP_PASSWORD = "test-teams-app-password"
TENANT_ID = "11111111-2222-4333-8444-555555555555"  # the clinic's Entra tenant
OTHER_TENANT_ID = "99999999-8888-4777-8666-555555555555"
BOT_NAME = "Triage"

KID = "test-signing-key-1"
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FORGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = KID) -> dict[str, Any]:
    """The public half of `key` as the Bot Framework publishes its keys."""
    public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid, "use": "sig", "alg": "RS256", "endorsements": ["msteams"]}


class OpenIdStandIn:
    """GET /v1/.well-known/openidconfiguration (issuer + jwks_uri pointing here) and GET /v1/.well-known/keys,
    on 127.0.0.1 and a port of the OS's choosing. Records the paths asked for."""

    def __init__(self, keys: list[dict[str, Any]] | None = None) -> None:
        self.keys = keys if keys is not None else [jwk()]
        self.requests: list[str] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with stand_in._lock:
                    stand_in.requests.append(self.path)
                if self.path == METADATA_PATH:
                    self._json(200, stand_in.metadata())
                elif self.path == KEYS_PATH:
                    self._json(200, {"keys": stand_in.keys})
                else:
                    self._json(404, {"error": "not found"})

            def _json(self, status: int, body: Any) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def metadata_url(self) -> str:
        return self.url + METADATA_PATH

    @property
    def jwks_uri(self) -> str:
        return self.url + KEYS_PATH

    def metadata(self) -> dict[str, Any]:
        return {"issuer": ISSUER, "authorization_endpoint": "https://invalid.example/authorize",
                "jwks_uri": self.jwks_uri, "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"]}

    def key_fetches(self) -> int:
        with self._lock:
            return sum(1 for path in self.requests if path == KEYS_PATH)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@cache
def shared_openid() -> OpenIdStandIn:
    """One stand-in for the test session (daemon thread; it only serves the public key)."""
    return OpenIdStandIn()


# --- tokens --------------------------------------------------------------------------------------------
def sign(activity: dict[str, Any], *, audience: str = APP_ID, expires_in: int = 3600,
         key: rsa.RSAPrivateKey = SIGNING_KEY, issuer: str = ISSUER, kid: str | None = KID,
         service_url: str | None = None, tenant: str | None = None, not_before: int | None = None) -> str:
    """A Bot Framework connector token for `activity`: RS256 with a `kid` header, `iss`, `aud` = the bot's app id,
    `nbf`/`iat`/`exp`, and `serviceurl` = the activity's serviceUrl (unless `service_url` says otherwise).
    `tenant` adds a `tid` claim (the Bot Framework's tokens usually carry none). Returns the token."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now - 5 if not_before is None else not_before,
        "exp": now + expires_in,
        "serviceurl": service_url if service_url is not None else activity.get("serviceUrl", ""),
    }
    if tenant is not None:
        claims["tid"] = tenant
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def bearer(activity: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    """The headers Teams posts an activity with."""
    return {"Authorization": f"Bearer {sign(activity, **kwargs)}", "Content-Type": "application/json; charset=utf-8"}


# The bot's own token, as the token endpoint stand-in hands it out (to send replies with).
BOT_TOKEN = jwt.encode({"iss": f"https://login.microsoftonline.com/{TENANT_ID}/v2.0", "aud": ISSUER,
                        "appid": APP_ID, "tid": TENANT_ID, "iat": int(time.time()),
                        "exp": int(time.time()) + 24 * 3600}, SIGNING_KEY, algorithm="RS256",
                       headers={"kid": "token-service-key"})

_REPLY_IDS = itertools.count(1)


def connector_answer(recorded: Recorded) -> Answer:
    """For `tests.standins.StandIn`: the token endpoint (POST …/oauth2/v2.0/token, client credentials) and the Bot
    Connector's conversations API (POST {serviceUrl}/v3/conversations/{id}/activities)."""
    if recorded.method == "POST" and recorded.path.endswith("/oauth2/v2.0/token"):
        return Answer(200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                            "access_token": BOT_TOKEN})
    if recorded.method == "POST" and "/v3/conversations/" in recorded.path and recorded.path.endswith("/activities"):
        return Answer(201, {"id": f"1700000000{next(_REPLY_IDS):06d}"})
    return Answer(404, {"error": {"code": "NotFound", "message": "no such stand-in route"}})


# --- activities ------------------------------------------------------------------------------------------
TEAM_ID = "19:Zx8nUVfSx3nXr4mTnR3Ep2OqLKHhyGe9XXmBv5Lb1Jo1@thread.tacv2"  # a team's id is its General channel's
TEAM_NAME = "Glow Med Spa"
CHANNEL_ID = "19:6b3d0c52b8f94f1ba6a1d7e3c0e9f2aa@thread.tacv2"
CHANNEL_NAME = "triage"
USER_ID = "29:1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
USER_AAD_ID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
USER_NAME = "Nora Nurse"
PERSONAL_CONVERSATION_ID = "a:1Xy9PersonalChatWithNoraAndTheBot"


def _base(kind: str, service_url: str, conversation: dict[str, Any], *, tenant: str = TENANT_ID,
          channel_data: dict[str, Any] | None = None, user_id: str = USER_ID, user_aad_id: str = USER_AAD_ID,
          user_name: str = USER_NAME) -> dict[str, Any]:
    return {
        "type": kind,
        "id": f"f:{uuid.uuid4().hex[:20]}",
        "timestamp": "2026-11-24T15:30:00.000Z",
        "localTimestamp": "2026-11-24T10:30:00.000-05:00",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": user_id, "name": user_name, "aadObjectId": user_aad_id},
        "recipient": {"id": f"28:{APP_ID}", "name": BOT_NAME},
        "conversation": {"tenantId": tenant, **conversation},
        "channelData": {"tenant": {"id": tenant}, **(channel_data or {})},
        "locale": "en-US",
    }


def _channel(channel_id: str, thread: str | None) -> dict[str, Any]:
    conversation_id = f"{channel_id};messageid={thread}" if thread else channel_id
    return {"id": conversation_id, "conversationType": "channel", "isGroup": True}


def _team_data(channel_id: str, channel_name: str, **extra: Any) -> dict[str, Any]:
    return {"team": {"id": TEAM_ID, "name": TEAM_NAME, "aadGroupId": "3a2b1c0d-1111-4222-8333-444455556666"},
            "channel": {"id": channel_id, "name": channel_name}, **extra}


def channel_message(text: str, service_url: str, *, mention_bot: bool = True, tenant: str = TENANT_ID,
                    thread: str = "1700000000123") -> dict[str, Any]:
    """A message in the team's triage channel, @mentioning the bot (a channel message reaches a bot only so)."""
    mention = f"<at>{BOT_NAME}</at>"
    activity = _base("message", service_url, _channel(CHANNEL_ID, thread), tenant=tenant,
                     channel_data=_team_data(CHANNEL_ID, CHANNEL_NAME))
    activity["text"] = f"{mention} {text}" if mention_bot else text
    activity["textFormat"] = "plain"
    if mention_bot:
        activity["entities"] = [{"type": "mention", "text": mention,
                                 "mentioned": {"id": f"28:{APP_ID}", "name": BOT_NAME}}]
    return activity


def bot_added_to_team(service_url: str, *, tenant: str = TENANT_ID) -> dict[str, Any]:
    """conversationUpdate: the bot was added to the team (the conversation is the General channel)."""
    activity = _base("conversationUpdate", service_url, _channel(TEAM_ID, None), tenant=tenant,
                     channel_data=_team_data(TEAM_ID, "General", eventType="teamMemberAdded"))
    activity["membersAdded"] = [{"id": f"28:{APP_ID}"}]
    return activity


def bot_removed_from_team(service_url: str, *, tenant: str = TENANT_ID) -> dict[str, Any]:
    activity = _base("conversationUpdate", service_url, _channel(TEAM_ID, None), tenant=tenant,
                     channel_data=_team_data(TEAM_ID, "General", eventType="teamMemberRemoved"))
    activity["membersRemoved"] = [{"id": f"28:{APP_ID}"}]
    return activity


def personal_install(service_url: str, *, tenant: str = TENANT_ID) -> dict[str, Any]:
    """installationUpdate (add): a staff member installed the bot for a personal chat."""
    activity = _base("installationUpdate", service_url,
                     {"id": PERSONAL_CONVERSATION_ID, "conversationType": "personal"}, tenant=tenant)
    activity["action"] = "add"
    return activity


def card_action(verb: str, data: dict[str, Any], service_url: str, *, tenant: str = TENANT_ID,
                card_message_id: str = "1700000000456") -> dict[str, Any]:
    """invoke `adaptiveCard/action`: Action.Execute with `verb` and `data`, clicked on a card the bot posted in the
    triage channel (`card_message_id` is that post: the invoke's replyToId)."""
    activity = _base("invoke", service_url, _channel(CHANNEL_ID, card_message_id), tenant=tenant,
                     channel_data=_team_data(CHANNEL_ID, CHANNEL_NAME, source={"name": "message"}))
    activity["name"] = "adaptiveCard/action"
    activity["replyToId"] = card_message_id
    activity["value"] = {"action": {"type": "Action.Execute", "id": f"act-{verb}", "verb": verb, "data": data},
                         "trigger": "manual"}
    return activity
