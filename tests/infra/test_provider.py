"""Tests for infra/render/_provider.py: bounded waits on an injected clock, unknown values, refused creates."""

from __future__ import annotations

import pytest
from pulumi.runtime.rpc import UNKNOWN

from infra.render._provider import RenderProvider, StatusFailed, WaitTimeout, is_unknown
from infra.render.errors import RenderRateLimited
from infra.render.postgres import PostgresProvider
from localrender.seed import OWNER_ID


class FakeTime:
    """A clock that only moves when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def provider_on(fake: FakeTime) -> RenderProvider:
    provider = RenderProvider()
    provider.clock, provider.sleep = fake.clock, fake.sleep
    return provider


def test_wait_backs_off_from_3s_by_1_2_up_to_15s_and_stops_at_the_deadline():
    fake = FakeTime()
    statuses = iter(["creating"] * 100)
    with pytest.raises(WaitTimeout) as error:
        provider_on(fake)._wait_for("postgres dpg-x-a", lambda: {"status": next(statuses),
                                                                  "dashboardUrl": "https://dash/d/dpg-x-a"},
                                    goal="available", failed=(), timeout=60)
    assert fake.sleeps[:3] == [3.0, 3.6, 4.32] and max(fake.sleeps) <= 15.0
    assert fake.now == pytest.approx(60.0)  # the last sleep is trimmed to the deadline
    assert str(error.value) == ("postgres dpg-x-a did not become 'available' within 60s (last status: 'creating'); "
                                "see https://dash/d/dpg-x-a")


def test_wait_returns_the_reply_that_reached_the_goal():
    fake = FakeTime()
    replies = iter([{"status": "creating"}, {"status": "creating"}, {"status": "available", "id": "dpg-x-a"}])
    got = provider_on(fake)._wait_for("postgres dpg-x-a", lambda: next(replies), goal="available", failed=(),
                                      timeout=60)
    assert got["id"] == "dpg-x-a" and fake.sleeps == [3.0, 3.6]


def test_a_failed_status_ends_the_wait_at_once_with_the_given_url():
    fake = FakeTime()
    with pytest.raises(StatusFailed, match="deploy dep-1 ended with status 'build_failed' instead of 'live'; "
                                           "see https://dash/deploys/dep-1"):
        provider_on(fake)._wait_for("deploy dep-1", lambda: {"status": "build_failed"}, goal="live",
                                    failed=("build_failed",), timeout=60, url="https://dash/deploys/dep-1")
    assert fake.sleeps == []


@pytest.mark.parametrize("value,expected", [
    (UNKNOWN, True), ("x", False), ([1, {"a": UNKNOWN}], True), ({"a": [1, 2]}, False), (None, False),
])
def test_is_unknown_looks_inside_lists_and_dicts(value, expected):
    assert is_unknown(value) is expected


def test_a_create_refused_by_429_every_time_gives_up_having_made_nothing(make_provider, localrender, api):
    localrender.faults.fail(429, method="POST", path="/v1/postgres", times=10)
    provider = make_provider(PostgresProvider)
    news = provider.check({}, {"name": "tasks-prd-db", "owner_id": OWNER_ID, "plan": "basic_1gb",
                               "version": "15"}).inputs
    with pytest.raises(RenderRateLimited):
        provider.create(news)
    assert [db for db in api.iter_items("/postgres", "postgres") if db["name"] == "tasks-prd-db"] == []
