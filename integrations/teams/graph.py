"""Who is in an Entra group: the clinic config may give a role an Entra group (`roles.<role>.entra_group`, a group
object id) whose members have the role. `EntraGroups.members(group_id)` answers with their Entra object ids.

**Calls.** Everything goes through msgraph-sdk's `GraphServiceClient`:
``groups.by_group_id(id).transitive_members.get()`` (GET /groups/{id}/transitiveMembers?$select=id&$top=999, the
members of nested groups included), then each "@odata.nextLink" page through the builder's ``with_url``. Only
users count (a device, a contact or a nested group listed is left out). GroupMember.Read.All (application) is
enough: without the right to read an object Graph still gives its "@odata.type" and id.

**Authentication.** The app's client credentials. In production (no `token_url`) azure-identity's async
`ClientSecretCredential`, given to the GraphServiceClient with the Graph scope. With a `token_url` (tests: a
loopback stand-in, which azure-identity refuses as it wants an https authority) a small kiota AccessTokenProvider of
this module does the OAuth 2.0 client-credentials grant itself, caching the token until 5 minutes before it
expires, and authenticates only requests to the host of `graph_url` (kiota's AllowedHostsValidator). Either way the
request adapter's base URL is `graph_url` (sovereign clouds, tests), which must be https unless on a loopback host.

**Retries.** Each request carries a kiota RetryHandlerOption of one retry with no added delay (the SDK's default
is 3 retries with 3 s and more between them): a 429/503/504 is tried once more after about a second (or the
Retry-After, bounded by `timeout`), then it is a failure, and the last known members stand in.

**Threads.** The SDK is async; callers are worker threads. One private event loop runs in a daemon thread, each
lookup is handed to it (integrations/teams/loop.py) and waited for at most `timeout` seconds. `close()`
stops it.

**Cache.** Members are kept per group for `cache_seconds` (by the injected clock). When Graph fails (an error
status, a timeout, a refused token) the last members known are returned (a warning logged, with the status only)
and Graph is asked again after `RETRY_AFTER_FAILURE` seconds at most; with none known `GroupLookupError` says
what an admin should do.

Logs carry statuses, group ids and counts only: never tokens, secrets or names.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.groups.item.transitive_members.transitive_members_request_builder import (
    TransitiveMembersRequestBuilder,
)
from msgraph.generated.models.directory_object_collection_response import DirectoryObjectCollectionResponse
from msgraph.generated.models.user import User
from msgraph_core import GraphClientFactory

from integrations.teams.loop import CallTimedOut, LoopStopped, PrivateLoop
from integrations.teams.settings import GRAPH_URL, require_https_unless_loopback
from integrations.teams.token import CREDENTIAL_ERRORS, oauth_error, read_token, request_token

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_QueryParameters = TransitiveMembersRequestBuilder.TransitiveMembersRequestBuilderGetQueryParameters
T = TypeVar("T")


class GroupLookupError(Exception):
    """The members of an Entra group could not be found and none are known. `reason` says what to do about it
    (for an admin); `status` is what failed ("403", "timeout", "token 401", ...)."""

    def __init__(self, reason: str, status: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class GraphFailure(Exception):
    """A Graph call that failed: `status` is what failed ("403", "timeout", "token 401", ...), `reason` what to do
    (named for the Teams app's variables; other callers map `status` to their own)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(status)
        self.status = status
        self.reason = reason


_Failure = GraphFailure


@dataclass
class _Known:
    members: frozenset[str]
    fresh_until: float  # by the clock: until then Graph is not asked again


def _warm_up() -> None:
    """The SDK imports its ~1200 model modules the first time it parses a user (about a second): done on the loop's
    thread before it takes lookups, so the first lookup does not spend its timeout on it."""
    try:
        User.get_field_deserializers(User())
    except Exception as exc:  # only a warm-up: the first lookup imports them anyway
        log.debug("Entra groups: warming the Graph models up failed: %s", type(exc).__name__)


class EntraGroups:
    """The members of Entra groups, from Microsoft Graph, cached. Thread-safe; `members` is synchronous."""

    PAGE_SIZE = 999  # Graph's most for transitiveMembers (its default is 100)
    MAX_PAGES = 1000  # a nextLink chain longer than this (a million objects) is taken as a loop
    RETRY_AFTER_FAILURE = 30.0  # seconds the last known members stand in after a failure before Graph is asked again

    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str, graph_url: str = GRAPH_URL,
                 token_url: str | None = None, timeout: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 cache_seconds: float = 300.0) -> None:
        if not tenant_id or not client_id or not client_secret:
            raise ValueError("EntraGroups needs the tenant id, the app id and its client secret")
        graph_url = graph_url.rstrip("/")
        require_https_unless_loopback("graph_url", graph_url)
        if token_url is not None:
            require_https_unless_loopback("token_url", token_url.replace("{tenant}", "tenant"))
        graph = urlsplit(graph_url)
        self._graph_origin = (graph.scheme, graph.netloc.lower())
        self._graph_url = graph_url
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._timeout = timeout
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._retry = RetryHandlerOption(delay=0.0, max_retries=1)
        self._known: dict[str, _Known] = {}
        self._fetching: dict[str, threading.Lock] = {}  # one Graph lookup per group at a time
        self._lock = threading.Lock()
        self._closed = False
        self._connection = connect_graph(tenant_id=tenant_id, client_id=client_id, client_secret=client_secret,
                                         graph_url=graph_url, token_url=token_url, timeout=timeout, clock=clock)
        self._client = self._connection.client
        self._loop = PrivateLoop("entra-groups", warm_up=_warm_up)

    def __repr__(self) -> str:
        return (f"EntraGroups(graph_url={self._graph_url!r}, tenant_id={self._tenant_id!r}, "
                f"client_id={self._client_id!r})")

    # --- lookups -----------------------------------------------------------------------------------------
    def members(self, group_id: str) -> frozenset[str]:
        """The Entra object ids of the users in the group, nested groups' included. Raises GroupLookupError when
        Graph fails and no members of the group are known yet."""
        group_id = group_id.strip()
        if not group_id:
            raise ValueError("an Entra group id is empty")
        with self._lock:
            known = self._known.get(group_id)
            if known is not None and self._clock() < known.fresh_until:
                return known.members
            fetching = self._fetching.setdefault(group_id, threading.Lock())
        with fetching:
            with self._lock:  # another thread may have looked it up while this one waited
                known = self._known.get(group_id)
                if known is not None and self._clock() < known.fresh_until:
                    return known.members
            try:
                found = self._run(self._list_users(group_id))
            except _Failure as failure:
                if known is None:
                    log.warning("Entra group %s: Graph lookup failed (%s), no members known", group_id,
                                failure.status)
                    raise GroupLookupError(failure.reason, failure.status) from None
                log.warning("Entra group %s: Graph lookup failed (%s); using the %d members last known", group_id,
                            failure.status, len(known.members))
                with self._lock:
                    known.fresh_until = self._clock() + min(self._cache_seconds, self.RETRY_AFTER_FAILURE)
                return known.members
            with self._lock:
                self._known[group_id] = _Known(found, self._clock() + self._cache_seconds)
            return found

    async def _list_users(self, group_id: str) -> frozenset[str]:
        try:
            return await self._pages(group_id)
        except APIError as exc:
            raise _graph_refusal(exc.response_status_code, group_id) from None

    async def _pages(self, group_id: str) -> frozenset[str]:
        builder = self._client.groups.by_group_id(group_id).transitive_members
        first = RequestConfiguration(query_parameters=_QueryParameters(select=["id"], top=self.PAGE_SIZE),
                                     options=[self._retry])
        page = await builder.get(request_configuration=first)
        users: set[str] = set()
        pages = 1
        while page is not None:
            users |= _user_ids(page)
            next_link = page.odata_next_link
            if not next_link:
                break
            link = urlsplit(next_link)
            if (link.scheme, link.netloc.lower()) != self._graph_origin:
                raise _Failure("nextLink", "Microsoft Graph gave a next page on another host: refusing to follow it")
            pages += 1
            if pages > self.MAX_PAGES:
                raise _Failure("pages", f"Microsoft Graph gave more than {self.MAX_PAGES} pages of members")
            page = await builder.with_url(next_link).get(request_configuration=RequestConfiguration(
                options=[self._retry]))
        return frozenset(users)

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._closed:
                work.close()
                raise _Failure("closed", "the Entra group lookup is closed (the bot is stopping)")
        try:
            return self._loop.run(work, self._timeout)
        except CallTimedOut:
            raise _Failure("timeout", f"Microsoft Graph did not answer within {self._timeout:g}s: try again later "
                           "(or check that the bot can reach TEAMS_GRAPH_URL)") from None
        except LoopStopped:
            raise _Failure("closed", "the Entra group lookup stopped before Graph answered (the bot is "
                           "stopping)") from None
        except Exception as exc:
            raise _failure(exc) from None

    # --- lifecycle ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stops the event loop and closes the HTTP client and the credential. Lookups after this use what is
        known, else fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True

        self._loop.stop(self._connection.aclose, "Entra groups")

    def __enter__(self) -> EntraGroups:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class GraphConnection:
    """A GraphServiceClient and what it holds open (azure-identity's credential, or the HTTP client of a token
    endpoint of one's own); `aclose` on the loop the client ran on."""

    client: GraphServiceClient
    credential: ClientSecretCredential | None = None
    http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.credential is not None:
            await self.credential.close()


def connect_graph(*, tenant_id: str, client_id: str, client_secret: str, graph_url: str, token_url: str | None,
                  timeout: float, clock: Callable[[], float]) -> GraphConnection:
    """msgraph-sdk's client for the app's client credentials with `graph_url` as the request adapter's base URL
    (the module docstring says how the token is got). `graph_url` and `token_url` are checked by the caller."""
    scope = _graph_scope(graph_url)
    if token_url is None:  # production: azure-identity
        credential = ClientSecretCredential(tenant_id, client_id, client_secret)
        connection = GraphConnection(GraphServiceClient(credentials=credential, scopes=[scope]), credential=credential)
        connection.client.request_adapter.base_url = graph_url
    else:  # a token endpoint of one's own (tests: a loopback stand-in)
        tokens = _ClientCredentialsProvider(token_url.replace("{tenant}", tenant_id), client_id, client_secret,
                                            scope=scope, allowed_host=urlsplit(graph_url).hostname or "",
                                            timeout=timeout, clock=clock)
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(timeout=timeout, follow_redirects=False))
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(tokens), client=http)
        adapter.base_url = graph_url
        connection = GraphConnection(GraphServiceClient(request_adapter=adapter), http=http)
    connection.client.path_parameters["base_url"] = graph_url
    return connection


def _user_ids(page: DirectoryObjectCollectionResponse) -> set[str]:
    return {item.id for item in page.value or [] if isinstance(item, User) and item.id}


def _graph_scope(graph_url: str) -> str:
    """The .default scope of the Graph that `graph_url` is (a national cloud's is its own host); Microsoft's global
    one for a loopback stand-in."""
    parts = urlsplit(graph_url)
    if parts.scheme == "https" and parts.hostname:
        return f"https://{parts.hostname}/.default"
    return GRAPH_SCOPE


def _failure(exc: BaseException) -> _Failure:
    if isinstance(exc, _Failure):
        return exc
    if isinstance(exc, APIError):
        return _graph_refusal(exc.response_status_code, "(that group)")
    if isinstance(exc, ClientAuthenticationError):
        return _Failure("token refused", "Microsoft Entra refused the bot's credentials for Microsoft Graph: check "
                        "TEAMS_APP_ID/TEAMS_APP_PASSWORD (and TEAMS_TENANT_ID)")
    if isinstance(exc, ServiceRequestError):  # azure-identity could not reach Entra
        return _Failure("token unreachable", "the Microsoft token endpoint is unreachable: check that the bot can "
                        "reach login.microsoftonline.com")
    if isinstance(exc, httpx.TimeoutException):
        return _Failure("timeout", "Microsoft Graph did not answer in time: try again later")
    if isinstance(exc, httpx.HTTPError):
        return _Failure(type(exc).__name__, f"Microsoft Graph is unreachable ({type(exc).__name__}): check that the "
                        "bot can reach TEAMS_GRAPH_URL")
    return _Failure(type(exc).__name__, f"the Microsoft Graph lookup failed ({type(exc).__name__})")


def _graph_refusal(status: int | None, group_id: str) -> _Failure:
    code = str(status) if status is not None else "error"
    if status == 401:
        return _Failure(code, "Microsoft Graph refused the bot's token (401): check TEAMS_APP_ID/TEAMS_APP_PASSWORD "
                        "(and TEAMS_TENANT_ID)")
    if status == 403:
        return _Failure(code, "Microsoft Graph refused to list the group's members (403): grant the app the "
                        "GroupMember.Read.All application permission and admin consent")
    if status == 404:
        return _Failure(code, f"no Entra group {group_id}: check roles.*.entra_group (a group's object id, from "
                        "the Entra admin center)")
    if status == 400:
        return _Failure(code, "Microsoft Graph refused the group id (400): check roles.*.entra_group (a group's "
                        "object id)")
    if status == 429:
        return _Failure(code, "Microsoft Graph rate limited the bot (429): try again later")
    return _Failure(code, f"Microsoft Graph failed ({code}): try again later")


class _ClientCredentialsProvider(AccessTokenProvider):
    """The OAuth 2.0 client-credentials grant against a token URL of one's own, for kiota's bearer authentication:
    one token, cached until REFRESH_BEFORE seconds before it expires, given only to requests to `allowed_host`."""

    REFRESH_BEFORE = 300.0

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, scope: str, allowed_host: str,
                 timeout: float, clock: Callable[[], float]) -> None:
        self._url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._scope = scope
        self._timeout = timeout
        self._clock = clock
        self._hosts = AllowedHostsValidator([allowed_host] if allowed_host else [])
        self._token: tuple[str, float] | None = None  # (token, expires at by the clock)
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"_ClientCredentialsProvider(token_url={self._url!r}, client_id={self._client_id!r})"

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts

    async def get_authorization_token(self, uri: str,
                                      additional_authentication_context: dict[str, Any] | None = None) -> str:
        if not self._hosts.is_url_host_valid(uri):
            return ""  # kiota's convention: no token for a host not allowed
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is not None and self._token[1] - self.REFRESH_BEFORE > self._clock():
                return self._token[0]
            token, lifetime = await self._fetch()
            self._token = (token, self._clock() + lifetime)
            return token

    async def _fetch(self) -> tuple[str, float]:
        try:
            response = await request_token(self._url, self._client_id, self._secret, self._scope, self._timeout)
        except httpx.HTTPError as exc:
            raise _Failure(f"token {type(exc).__name__}", "the Microsoft token endpoint is unreachable "
                           f"({type(exc).__name__}): check TEAMS_GRAPH_TOKEN_URL") from None
        if response.status_code != 200:
            raise _token_refusal(response)
        granted = read_token(response)
        if granted is None:
            raise _Failure("token", "the Microsoft token endpoint answered without an access_token")
        return granted


def _token_refusal(response: httpx.Response) -> _Failure:
    status, error = response.status_code, oauth_error(response)
    what = f"{status} {error}".strip()
    if status in (400, 401, 403) and (error in CREDENTIAL_ERRORS or status != 400):
        return _Failure(f"token {status}", f"the Microsoft token endpoint refused the bot's credentials ({what}): "
                        "check TEAMS_APP_ID/TEAMS_APP_PASSWORD (and TEAMS_TENANT_ID)")
    if 400 <= status < 500 and status not in (408, 429):
        return _Failure(f"token {status}", f"the Microsoft token endpoint refused the token request ({what}): "
                        "check TEAMS_TENANT_ID and TEAMS_GRAPH_TOKEN_URL")
    return _Failure(f"token {status}", f"the Microsoft token endpoint failed ({status}): try again later")
