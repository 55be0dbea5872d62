"""Entra group members through msgraph-sdk (integrations/teams/graph.py), against the loopback Graph stand-in."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from integrations.teams.graph import EntraGroups, GroupLookupError
from tests.graph_standin import APP_ID, APP_PASSWORD, GRAPH_SCOPE, TENANT_ID, GraphStandIn, device, group, user

CLINICAL = "0b1c2d3e-4f50-4617-8283-940a5b6c7d8e"
FRONT_DESK = "1c2d3e4f-5061-4728-9394-a51b6c7d8e9f"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    with GraphStandIn(page_size=2) as standin:
        standin.set_group(CLINICAL, [user("u-ana"), device("d-ipad"), user("u-ben"), group("g-nurses"),
                                     user("u-cleo")])
        standin.set_group(FRONT_DESK, [user("u-dee")])
        yield standin


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(graph: GraphStandIn, clock: Clock) -> Iterator[Callable[..., EntraGroups]]:
    made: list[EntraGroups] = []

    def build(**overrides: object) -> EntraGroups:
        options: dict[str, object] = {"tenant_id": TENANT_ID, "client_id": APP_ID, "client_secret": APP_PASSWORD,
                                      "graph_url": graph.graph_url, "token_url": graph.token_url, "clock": clock,
                                      "cache_seconds": 300.0, **overrides}
        groups = EntraGroups(**options)  # type: ignore[arg-type]
        made.append(groups)
        return groups

    yield build
    for groups in made:
        groups.close()


def test_members_are_the_users_across_pages(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    assert make().members(CLINICAL) == {"u-ana", "u-ben", "u-cleo"}  # not the device, not the nested group
    calls = graph.graph_calls()
    assert [c.path for c in calls] == [f"/v1.0/groups/{CLINICAL}/transitiveMembers"] * 3  # 5 objects, 2 a page
    assert calls[0].query == {"$select": "id", "$top": "999"}
    assert [c.query.get("$skiptoken") for c in calls] == [None, "2", "4"]  # each page the nextLink said


def test_a_group_of_no_users_has_no_members(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    graph.set_group(CLINICAL, [device("d-ipad"), group("g-empty")])
    assert make().members(CLINICAL) == frozenset()


def test_members_are_cached_for_cache_seconds(graph: GraphStandIn, make: Callable[..., EntraGroups],
                                              clock: Clock) -> None:
    groups = make()
    assert groups.members(FRONT_DESK) == {"u-dee"}
    graph.set_group(FRONT_DESK, [user("u-dee"), user("u-eli")])
    clock.now += 299
    assert groups.members(FRONT_DESK) == {"u-dee"}
    assert len(graph.graph_calls()) == 1
    clock.now += 2
    assert groups.members(FRONT_DESK) == {"u-dee", "u-eli"}
    assert len(graph.graph_calls()) == 2


def test_groups_are_cached_apart(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    groups = make()
    assert groups.members(FRONT_DESK) == {"u-dee"}
    assert groups.members(CLINICAL) == {"u-ana", "u-ben", "u-cleo"}
    assert groups.members(FRONT_DESK) == {"u-dee"}
    assert len(graph.calls(contains=FRONT_DESK)) == 1


@pytest.mark.parametrize("status", [403, 500, 503, 429])
def test_graph_failing_after_a_success_gives_the_last_known_members(
        graph: GraphStandIn, make: Callable[..., EntraGroups], clock: Clock, status: int,
        caplog: pytest.LogCaptureFixture) -> None:
    groups = make()
    assert groups.members(FRONT_DESK) == {"u-dee"}
    graph.set_group(FRONT_DESK, [user("u-eli")])
    clock.now += 301
    graph.fail_next(*[status] * (2 if status in (429, 503) else 1))  # a 429/503 is retried once, no long sleeps
    with caplog.at_level(logging.WARNING, logger="integrations.teams.graph"):
        assert groups.members(FRONT_DESK) == {"u-dee"}
    assert f"({status})" in caplog.text and "last known" in caplog.text
    asked = len(graph.graph_calls())
    assert asked == (3 if status in (429, 503) else 2)
    clock.now += EntraGroups.RETRY_AFTER_FAILURE - 1  # the last known stand in a while: Graph is not hammered
    assert groups.members(FRONT_DESK) == {"u-dee"}
    assert len(graph.graph_calls()) == asked
    clock.now += 2
    assert groups.members(FRONT_DESK) == {"u-eli"}  # Graph is back


def test_a_timeout_after_a_success_gives_the_last_known_members(graph: GraphStandIn,
                                                                make: Callable[..., EntraGroups],
                                                                clock: Clock) -> None:
    groups = make(timeout=0.5)
    deadline = time.monotonic() + 5
    while True:  # the first lookup may wait for the SDK's model imports (about a second, once)
        try:
            assert groups.members(FRONT_DESK) == {"u-dee"}
            break
        except GroupLookupError:
            assert time.monotonic() < deadline
    clock.now += 301
    graph.delay_next(3)
    started = time.monotonic()
    assert groups.members(FRONT_DESK) == {"u-dee"}
    assert time.monotonic() - started < 2
    graph.delay_next(3)
    with pytest.raises(GroupLookupError) as failed:
        groups.members(CLINICAL)
    assert failed.value.status == "timeout" and "did not answer within 0.5s" in failed.value.reason


def test_403_with_nothing_known_says_which_permission(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    graph.fail_next(403)
    with pytest.raises(GroupLookupError) as failed:
        make().members(CLINICAL)
    assert failed.value.status == "403"
    assert "grant the app the GroupMember.Read.All application permission and admin consent" in failed.value.reason


def test_404_with_nothing_known_names_the_group(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    missing = "9f8e7d6c-5b4a-4392-8180-706f5e4d3c2b"
    with pytest.raises(GroupLookupError) as failed:
        make().members(missing)
    assert failed.value.status == "404"
    assert f"no Entra group {missing}: check roles.*.entra_group" in failed.value.reason


def test_401_from_graph_points_at_the_app_credentials(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    graph.fail_next(401)
    with pytest.raises(GroupLookupError) as failed:
        make().members(CLINICAL)
    assert failed.value.status == "401" and "check TEAMS_APP_ID/TEAMS_APP_PASSWORD" in failed.value.reason


def test_a_refused_token_points_at_the_app_credentials(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    graph.fail_token(401)
    with pytest.raises(GroupLookupError) as failed:
        make().members(CLINICAL)
    assert failed.value.status == "token 401"
    assert "check TEAMS_APP_ID/TEAMS_APP_PASSWORD" in failed.value.reason
    assert graph.graph_calls() == []  # no token, no Graph call


def test_a_wrong_secret_is_refused_by_the_token_endpoint(graph: GraphStandIn,
                                                         make: Callable[..., EntraGroups]) -> None:
    with pytest.raises(GroupLookupError) as failed:
        make(client_secret="not-the-secret").members(CLINICAL)
    assert "refused the bot's credentials (401 invalid_client)" in failed.value.reason


def test_a_token_failure_after_a_success_gives_the_last_known_members(
        graph: GraphStandIn, make: Callable[..., EntraGroups], clock: Clock) -> None:
    groups = make()
    assert groups.members(FRONT_DESK) == {"u-dee"}
    clock.now += 3600  # the token has expired as well as the members
    graph.fail_token(503)
    assert groups.members(FRONT_DESK) == {"u-dee"}
    assert len(graph.token_requests) == 2


def test_the_token_is_fetched_once_and_reused(graph: GraphStandIn, make: Callable[..., EntraGroups],
                                              clock: Clock) -> None:
    groups = make()
    groups.members(CLINICAL)
    groups.members(FRONT_DESK)
    clock.now += 301
    groups.members(FRONT_DESK)
    assert graph.token_requests == [{"grant_type": "client_credentials", "client_id": APP_ID, "scope": GRAPH_SCOPE,
                                     "tenant": TENANT_ID}]  # the secret went in the form; it is not recorded
    tokens = {call.token for call in graph.graph_calls()}
    assert len(graph.graph_calls()) == 5 and tokens == graph.issued and len(tokens) == 1


def test_the_token_is_renewed_five_minutes_before_it_expires(graph: GraphStandIn, make: Callable[..., EntraGroups],
                                                             clock: Clock) -> None:
    groups = make()
    groups.members(FRONT_DESK)
    clock.now += 3600 - 301  # members stale, the token good for 301 s more
    groups.members(FRONT_DESK)
    assert len(graph.token_requests) == 1
    clock.now += 301  # members stale again, the token within 5 minutes of its expiry
    groups.members(FRONT_DESK)
    assert len(graph.token_requests) == 2
    assert graph.graph_calls()[-1].token == "standin-graph-token-2"


def test_every_graph_request_carries_the_bearer_token(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    make().members(CLINICAL)
    calls = graph.graph_calls()
    assert calls and all(c.headers["authorization"] == "Bearer standin-graph-token-1" for c in calls)
    assert not any(c.failed for c in calls)


def test_a_retryable_status_is_retried_once_quickly(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    groups = make()
    graph.fail_next(503)
    started = time.monotonic()
    assert groups.members(FRONT_DESK) == {"u-dee"}
    graph.fail_next(429, 429, 429)
    with pytest.raises(GroupLookupError) as failed:
        groups.members(CLINICAL)
    assert failed.value.status == "429"
    assert len(graph.graph_calls()) == 4  # 503 + success, 429 + 429 (the third 429 never asked for)
    assert time.monotonic() - started < 4


def test_concurrent_callers_share_one_lookup(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    groups = make()
    groups.members(FRONT_DESK)  # the token and the SDK's models are ready
    graph.delay_next(0.3)
    results: list[frozenset[str]] = []
    threads = [threading.Thread(target=lambda: results.append(groups.members(CLINICAL))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert results == [frozenset({"u-ana", "u-ben", "u-cleo"})] * 5
    assert len(graph.calls(contains=CLINICAL)) == 3  # one lookup: its three pages


def test_after_close_lookups_fail_with_a_reason(graph: GraphStandIn, make: Callable[..., EntraGroups]) -> None:
    groups = make()
    assert groups.members(FRONT_DESK) == {"u-dee"}
    groups.close()
    groups.close()  # twice is fine
    assert groups.members(FRONT_DESK) == {"u-dee"}  # still cached
    with pytest.raises(GroupLookupError) as failed:
        groups.members(CLINICAL)
    assert failed.value.status == "closed"


def test_no_token_or_secret_is_logged(graph: GraphStandIn, make: Callable[..., EntraGroups], clock: Clock,
                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        groups = make()
        groups.members(CLINICAL)
        clock.now += 301
        graph.fail_next(500)
        groups.members(CLINICAL)
        graph.fail_token(401)
        with pytest.raises(GroupLookupError):
            make().members(FRONT_DESK)
    assert "last known" in caplog.text
    for secret in (APP_PASSWORD, *graph.issued):
        assert secret not in caplog.text
        assert secret not in repr(groups)


@pytest.mark.parametrize("url", ["http://graph.microsoft.com/v1.0", "http://10.0.0.5/v1.0", "ftp://127.0.0.1/v1.0",
                                 "graph.microsoft.com/v1.0"])
def test_graph_url_must_be_https_unless_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="graph_url must be an https URL"):
        EntraGroups(tenant_id=TENANT_ID, client_id=APP_ID, client_secret=APP_PASSWORD, graph_url=url,
                    token_url="http://127.0.0.1:9/graph-token/{tenant}/oauth2/v2.0/token")


@pytest.mark.parametrize("url", ["http://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                                 "http://192.168.1.2/{tenant}/oauth2/v2.0/token"])
def test_token_url_must_be_https_unless_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="token_url must be an https URL"):
        EntraGroups(tenant_id=TENANT_ID, client_id=APP_ID, client_secret=APP_PASSWORD,
                    graph_url="http://127.0.0.1:9/v1.0", token_url=url)


@pytest.mark.parametrize(("graph_url", "token_url"), [
    ("http://127.0.0.1:9/v1.0", "http://localhost:9/{tenant}/oauth2/v2.0/token"),
    ("http://[::1]:9/v1.0", "https://login.example.com/{tenant}/oauth2/v2.0/token"),
    ("https://graph.example.com/v1.0", None),
])
def test_https_or_loopback_urls_are_accepted(graph_url: str, token_url: str | None) -> None:
    EntraGroups(tenant_id=TENANT_ID, client_id=APP_ID, client_secret=APP_PASSWORD, graph_url=graph_url,
                token_url=token_url).close()  # nothing is contacted until a lookup


def test_the_production_path_uses_graph_url_as_the_base_url() -> None:
    """No token_url: azure-identity's ClientSecretCredential (nothing is contacted here: no lookup is made)."""
    groups = EntraGroups(tenant_id=TENANT_ID, client_id=APP_ID, client_secret=APP_PASSWORD,
                         graph_url="https://graph.microsoft.us/v1.0/")
    try:
        adapter = groups._client.request_adapter
        assert adapter.base_url == "https://graph.microsoft.us/v1.0"
        assert APP_PASSWORD not in repr(groups)
    finally:
        groups.close()
