"""Tests for infra/render/deploy.py: trigger, 201/202 replies, wait until live, Render's failure statuses."""

from __future__ import annotations

import pytest
from pulumi.runtime.rpc import UNKNOWN

from infra.render._provider import ProviderError, StatusFailed, WaitTimeout
from infra.render.deploy import DeployProvider
from infra.render.errors import RenderServerError
from localrender.seed import TASKS_SERVICE_ID as SERVICE
from tests.infra.fix_providers import loaded

DEPLOYS = f"/services/{SERVICE}/deploys"


def deploys(api) -> list[dict]:
    return list(api.iter_items(DEPLOYS, "deploy"))


def live_id(api) -> str:
    [live] = [d for d in deploys(api) if d["status"] == "live"]
    return live["id"]


def declare(triggers=("hash-1",), **over) -> dict:
    return {"service_id": SERVICE, "triggers": list(triggers), "clear_cache": False, **over}


@pytest.fixture
def provider(make_provider):
    return make_provider(DeployProvider, timeout=10.0, find_timeout=5.0)


def test_create_deploys_waits_until_live_and_remembers_the_previous_deploy(provider, localrender, api):
    localrender.ctx.deploy_step_seconds = 0.05
    previous = live_id(api)
    result = provider.create(provider.check({}, declare()).inputs)
    assert result.id == result.outs["deploy_id"] != previous
    assert result.outs["previous_deploy_id"] == previous and result.outs["status"] == "live"
    assert live_id(api) == result.id
    assert result.outs["dashboard_url"] == f"https://dashboard.render.com/web/{SERVICE}/deploys/{result.id}"


def test_a_queued_deploy_202_is_found_by_listing(provider, localrender, api):
    localrender.ctx.deploy_step_seconds = 0.1
    running = api.post(DEPLOYS, json={})  # someone else's deploy keeps the service busy: ours is queued
    result = provider.create(declare())
    assert result.id not in (running["id"], None) and result.outs["status"] == "live"
    assert live_id(api) == result.id


def test_a_create_whose_reply_is_lost_finds_the_deploy_instead_of_deploying_twice(make_provider, localrender, api):
    before = {d["id"] for d in deploys(api)}
    localrender.faults.delay(0.6, method="POST", path=f"/v1{DEPLOYS}", times=1)
    provider = make_provider(DeployProvider, request_timeout=(5, 0.2), timeout=10.0, find_timeout=5.0)
    result = provider.create(declare())
    made = [d["id"] for d in deploys(api) if d["id"] not in before]
    assert made == [result.id] and result.outs["status"] == "live"


def test_a_5xx_on_the_post_that_made_nothing_is_raised_after_looking(make_provider, localrender, api):
    before = deploys(api)
    localrender.faults.fail(500, method="POST", path=f"/v1{DEPLOYS}", times=1)
    with pytest.raises(RenderServerError):
        make_provider(DeployProvider, find_timeout=0.2).create(declare())
    assert deploys(api) == before


def test_429_bursts_are_waited_out_and_make_one_deploy(provider, localrender, api, spy):
    before = {d["id"] for d in deploys(api)}
    localrender.faults.fail(429, method="POST", path=f"/v1{DEPLOYS}", times=2)
    localrender.faults.fail(429, method="GET", path=f"/v1{DEPLOYS}*", times=2)
    result = provider.create(declare())
    assert [d["id"] for d in deploys(api) if d["id"] not in before] == [result.id]
    assert spy.count("POST") == 3


@pytest.mark.parametrize("status", ["build_failed", "pre_deploy_failed", "update_failed"])
def test_a_failed_deploy_raises_with_renders_status_and_the_dashboard_url(provider, localrender, api, status):
    previous = live_id(api)
    localrender.faults.fail_deploy(status, service_id=SERVICE)
    with pytest.raises(StatusFailed) as error:
        provider.create(declare())
    [failed] = [d for d in deploys(api) if d["status"] == status]
    message = str(error.value)
    assert f"ended with status {status!r}" in message
    assert f"https://dashboard.render.com/web/{SERVICE}/deploys/{failed['id']}" in message
    assert live_id(api) == previous


def test_a_slow_deploy_times_out_naming_the_deploy_its_status_and_the_dashboard(provider, localrender):
    localrender.ctx.deploy_step_seconds = 5.0
    provider.timeout = 0.2
    with pytest.raises(WaitTimeout) as error:
        provider.create(declare())
    message = str(error.value)
    assert "deploy dep-" in message and "within 0.2s" in message and "last status:" in message
    assert f"dashboard.render.com/web/{SERVICE}/deploys/dep-" in message


def test_an_unknown_service_fails_clearly(provider):
    with pytest.raises(ProviderError, match="cannot deploy service srv-nosuchservice00000: no such service"):
        provider.create(declare(service_id="srv-nosuchservice00000"))


def test_read_makes_one_get_and_reports_a_superseded_deploy(provider, api, spy):
    first = provider.create(declare())
    provider.create(declare(triggers=["hash-2"]))
    spy.clear()
    read = provider.read(first.id, first.outs)
    assert spy.count() == spy.count("GET") == 1
    assert read.id == first.id and read.outs["status"] == "deactivated"
    assert provider.read("dep-nosuchdeploy000000", first.outs).id == ""


def test_delete_does_nothing_to_render(provider, api, spy):
    result = provider.create(declare())
    spy.clear()
    provider.delete(result.id, result.outs)
    assert spy.calls == [] and live_id(api) == result.id


def test_new_triggers_replace_the_deploy_and_nothing_else_does():
    provider = loaded(DeployProvider())  # not configured: no API
    olds = {**declare(), "deploy_id": "dep-1", "previous_deploy_id": "dep-0", "status": "live"}
    assert provider.diff("dep-1", olds, declare()).changes is False
    assert provider.diff("dep-1", olds, declare(clear_cache=True)).changes is False
    changed = provider.diff("dep-1", olds, declare(triggers=["hash-2"]))
    assert changed.changes is True and changed.replaces == ["triggers"]
    assert provider.diff("dep-1", olds, declare(triggers=[UNKNOWN])).replaces == ["triggers"]
    assert provider.diff("dep-1", olds, declare(service_id="srv-other")).replaces == ["service_id"]


def test_check_and_diff_make_no_request(provider, spy):
    provider.sleep = provider.clock = lambda *a: pytest.fail("check/diff must not wait")
    assert provider.check({}, declare(service_id="")).failures[0].property == "service_id"
    provider.diff("dep-1", declare(), declare(triggers=["x"]))
    assert spy.calls == []
