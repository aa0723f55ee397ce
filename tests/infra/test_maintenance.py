"""Tests for infra/render/maintenance.py: the web service's maintenance page on/off through PATCH /services."""

from __future__ import annotations

import pytest

from infra.render._provider import ProviderError
from infra.render.errors import RenderNotFound
from infra.render.maintenance import MaintenanceProvider, _set
from localrender.seed import TASKS_SERVICE_ID as SERVICE
from tests.infra.fix_providers import loaded


def mode(api, service=SERVICE) -> dict:
    return api.get(f"/services/{service}")["serviceDetails"]["maintenanceMode"]


def declare(**over) -> dict:
    return {"service_id": SERVICE, **over}


@pytest.fixture
def provider(make_provider):
    return make_provider(MaintenanceProvider)


def test_create_turns_the_page_on_and_delete_turns_it_off(provider, api, spy):
    inputs = provider.check({}, declare()).inputs
    assert inputs["enabled"] is True and inputs["uri"] == ""
    result = provider.create(inputs)
    assert mode(api) == {"enabled": True, "uri": ""} and result.outs == inputs
    spy.clear()
    provider.delete(result.id, result.outs)
    assert mode(api) == {"enabled": False, "uri": ""}
    assert [(m, p) for m, p in spy.calls if m != "GET"] == [("PATCH", f"/v1/services/{SERVICE}")]


def test_update_changes_the_page(provider, api):
    result = provider.create(provider.check({}, declare()).inputs)
    news = provider.check(result.outs, declare(uri="https://status.example.com")).inputs
    assert provider.diff(result.id, result.outs, news).changes is True
    provider.update(result.id, result.outs, news)
    assert mode(api) == {"enabled": True, "uri": "https://status.example.com"}


def test_writes_survive_429_and_5xx(provider, localrender, api):
    localrender.faults.fail(429, method="PATCH", times=2)
    localrender.faults.fail(500, method="PATCH", times=1)
    provider.create(provider.check({}, declare()).inputs)
    assert mode(api)["enabled"] is True


def test_an_unknown_service_is_an_api_error_and_its_delete_is_done(provider):
    with pytest.raises(RenderNotFound, match="srv-nosuchservice00000"):
        provider.create(provider.check({}, declare(service_id="srv-nosuchservice00000")).inputs)
    provider.delete("srv-nosuchservice00000/maintenance", declare(service_id="srv-nosuchservice00000"))


def test_a_service_that_ignores_the_setting_is_reported():
    class Ignoring:  # a reply without the setting applied, as for a non-web service
        def patch(self, path, json):
            return {"type": "background_worker", "serviceDetails": {}}

    with pytest.raises(ProviderError, match="did not turn its maintenance page on; only web services"):
        _set(Ignoring(), SERVICE, True, "")


def test_read_makes_one_get_and_sees_drift(provider, api, spy):
    result = provider.create(provider.check({}, declare()).inputs)
    api.patch(f"/services/{SERVICE}", json={"serviceDetails": {"maintenanceMode": {"enabled": False, "uri": ""}}})
    spy.clear()
    read = provider.read(result.id, result.outs)
    assert spy.count() == spy.count("GET") == 1 and read.outs["enabled"] is False
    assert provider.read("x", declare(service_id="srv-nosuchservice00000")).id == ""


def test_diff_replaces_for_another_service_and_makes_no_request(provider, spy):
    provider.sleep = provider.clock = lambda *a: pytest.fail("check/diff must not wait")
    olds = provider.check({}, declare()).inputs
    assert provider.diff("x", olds, olds).changes is False
    assert provider.diff("x", olds, {**olds, "service_id": "srv-other"}).replaces == ["service_id"]
    assert provider.diff("x", olds, {**olds, "enabled": False}).replaces == []
    assert spy.calls == []


def test_check_rejects_a_non_boolean_enabled():
    failures = loaded(MaintenanceProvider()).check({}, declare(enabled="yes")).failures
    assert [f.property for f in failures] == ["enabled"]


def test_new_triggers_set_the_page_again_as_an_update_not_a_replacement(provider, api):
    result = provider.create(provider.check({}, declare(triggers="window-1")).inputs)
    api.patch(f"/services/{SERVICE}", json={"serviceDetails": {"maintenanceMode": {"enabled": False, "uri": ""}}})
    news = provider.check(result.outs, declare(triggers="window-2")).inputs
    diff = provider.diff(result.id, result.outs, news)
    assert diff.changes is True and diff.replaces == []
    assert provider.update(result.id, result.outs, news).outs["triggers"] == "window-2"
    assert mode(api) == {"enabled": True, "uri": ""}
