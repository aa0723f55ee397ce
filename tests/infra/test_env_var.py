"""Tests for infra/render/env_var.py: one key, per-key endpoints only, the previous value restored on delete or on
``restore_previous``."""

from __future__ import annotations

import pytest
from pulumi.runtime.rpc import UNKNOWN

from infra.render._provider import ProviderError
from infra.render.env_var import SECRET_OUTPUTS, EnvVarProvider
from localrender.seed import TASKS_SERVICE_ID as SERVICE
from tests.infra.fix_providers import loaded

NEW_URL = "postgresql://tasks:n3wSecretPw@dpg-new-a/tasks_ab12"


def env(api) -> dict[str, str]:
    return {e["key"]: e["value"] for e in api.iter_items(f"/services/{SERVICE}/env-vars", "envVar")}


def declare(key="DATABASE_URL", value=NEW_URL, service=SERVICE) -> dict:
    return {"service_id": service, "key": key, "value": value}


def restoring(key="DATABASE_URL", service=SERVICE) -> dict:
    return {"service_id": service, "key": key, "restore_previous": True}


def others(values: dict[str, str], key: str = "DATABASE_URL") -> dict[str, str]:
    return {k: v for k, v in values.items() if k != key}


@pytest.fixture
def provider(make_provider):
    return make_provider(EnvVarProvider)


def test_create_records_the_replaced_value_and_touches_no_other_key(provider, api, spy):
    before = env(api)
    spy.clear()
    result = provider.create(provider.check({}, declare()).inputs)
    assert [m for m, _ in spy.calls] == ["GET", "PUT"]
    assert all(path.endswith("/env-vars/DATABASE_URL") for _, path in spy.calls), spy.calls
    after = env(api)
    assert result.id == f"{SERVICE}/DATABASE_URL"
    assert after["DATABASE_URL"] == NEW_URL and result.outs["value"] == NEW_URL
    assert result.outs["had_previous"] is True and result.outs["previous_value"] == before["DATABASE_URL"]
    assert {k: v for k, v in after.items() if k != "DATABASE_URL"} == \
        {k: v for k, v in before.items() if k != "DATABASE_URL"}


def test_delete_restores_the_previous_value(provider, api):
    before = env(api)
    result = provider.create(declare())
    provider.delete(result.id, result.outs)
    assert env(api) == before


def test_a_new_key_is_recorded_as_absent_and_delete_removes_it(provider, api):
    before = env(api)
    result = provider.create(declare(key="FEATURE_FLAG", value="on"))
    assert result.outs["had_previous"] is False and result.outs["previous_value"] is None
    assert env(api) == {**before, "FEATURE_FLAG": "on"}
    provider.delete(result.id, result.outs)
    assert env(api) == before
    provider.delete(result.id, result.outs)  # already gone: fine


def test_update_puts_the_new_value_and_keeps_the_original_previous_value(provider, api):
    before = env(api)
    created = provider.create(declare())
    updated = provider.update(created.id, created.outs, declare(value="postgresql://second"))
    assert env(api)["DATABASE_URL"] == "postgresql://second"
    assert updated.outs["previous_value"] == before["DATABASE_URL"]
    provider.delete(created.id, updated.outs)
    assert env(api) == before


def test_writes_survive_429_and_5xx(provider, localrender, api):
    localrender.faults.fail(429, method="PUT", times=2)
    localrender.faults.fail(503, method="GET", times=1)
    result = provider.create(declare())
    assert env(api)["DATABASE_URL"] == NEW_URL and result.outs["had_previous"] is True


def test_outputs_outside_the_secret_list_hold_no_value(provider):
    result = provider.create(declare())
    public = repr({k: v for k, v in result.outs.items() if k not in SECRET_OUTPUTS})
    assert NEW_URL not in public and "postgresql://" not in public


def test_unknown_service_fails_without_showing_the_value(provider, api):
    with pytest.raises(ProviderError) as error:
        provider.create(declare(service="srv-nosuchservice00000"))
    assert "srv-nosuchservice00000" in str(error.value) and "DATABASE_URL" in str(error.value)
    assert NEW_URL not in str(error.value) and "n3wSecretPw" not in repr(error.value)


def test_read_makes_one_get_and_sees_drift(provider, api, spy):
    result = provider.create(declare())
    api.put(f"/services/{SERVICE}/env-vars/DATABASE_URL", json={"value": "changed-by-hand"})
    spy.clear()
    read = provider.read(result.id, result.outs)
    assert spy.count() == spy.count("GET") == 1
    assert read.outs["value"] == "changed-by-hand" and read.outs["previous_value"] == result.outs["previous_value"]
    assert provider.diff(result.id, read.outs, declare()).changes is True


def test_read_of_a_removed_key_returns_a_blank_id(provider, api):
    result = provider.create(declare(key="FEATURE_FLAG", value="on"))
    api.delete(f"/services/{SERVICE}/env-vars/FEATURE_FLAG")
    assert provider.read(result.id, result.outs).id == ""


def test_diff_replaces_for_another_key_or_service_and_updates_for_a_new_value():
    provider = loaded(EnvVarProvider())  # not configured: no API
    olds = {**declare(), "previous_value": "x", "had_previous": True}
    assert provider.diff("id", olds, declare()).changes is False
    assert provider.diff("id", olds, declare(value="other")).replaces == []
    assert provider.diff("id", olds, declare(value="other")).changes is True
    assert provider.diff("id", olds, declare(key="OTHER")).replaces == ["key"]
    assert provider.diff("id", olds, declare(value=UNKNOWN)).changes is True


def test_check_rejects_missing_fields_without_echoing_the_value():
    failures = loaded(EnvVarProvider()).check({}, {"service_id": "", "key": "K", "value": 12345}).failures
    assert [f.property for f in failures] == ["service_id", "value"]
    assert all("12345" not in f.reason for f in failures)


def test_check_and_diff_make_no_request(provider, spy):
    provider.sleep = provider.clock = lambda *a: pytest.fail("check/diff must not wait")
    provider.check({}, declare())
    provider.diff("id", declare(), declare(value="new"))
    assert spy.calls == []


# --- restore_previous: the rollback of a config switch, as an update ------------------------------------------

def test_create_with_restore_previous_records_the_value_and_changes_nothing(provider, api, spy):
    before = env(api)
    spy.clear()
    result = provider.create(provider.check({}, restoring()).inputs)
    assert [m for m, _ in spy.calls] == ["GET"]
    assert env(api) == before
    assert result.outs["restore_previous"] is True and result.outs["had_previous"] is True
    assert result.outs["previous_value"] == result.outs["value"] == before["DATABASE_URL"]


def test_switching_to_the_stack_value_and_back_restores_the_recorded_value_both_ways(provider, api, spy):
    before = env(api)
    created = provider.create(provider.check({}, restoring()).inputs)
    switched = provider.update(created.id, created.outs, provider.check(created.outs, declare()).inputs)
    assert env(api) == {**before, "DATABASE_URL": NEW_URL} and switched.outs["value"] == NEW_URL
    spy.clear()
    back = provider.update(created.id, switched.outs, provider.check(switched.outs, restoring()).inputs)
    assert spy.calls == [("PUT", f"/v1/services/{SERVICE}/env-vars/DATABASE_URL")]
    assert env(api) == before and back.outs["value"] == before["DATABASE_URL"]
    again = provider.update(created.id, back.outs, declare(value="postgresql://third"))
    assert env(api)["DATABASE_URL"] == "postgresql://third"
    # Recorded once, at create: no update ever overwrites it (not even with a value this resource set).
    for outs in (switched.outs, back.outs, again.outs):
        assert (outs["previous_value"], outs["had_previous"]) == (before["DATABASE_URL"], True)


def test_restoring_a_key_that_was_absent_removes_it_and_keeps_the_resource_on_refresh(provider, api):
    before = env(api)
    created = provider.create(declare(key="FEATURE_FLAG", value="on"))
    restored = provider.update(created.id, created.outs, provider.check(created.outs, restoring("FEATURE_FLAG")).inputs)
    assert env(api) == before and restored.outs["value"] is None
    provider.update(created.id, restored.outs, restoring("FEATURE_FLAG"))  # absent already: fine
    read = provider.read(created.id, restored.outs)
    assert read.id == created.id and read.outs["value"] is None  # absent is what it declares, not gone
    assert provider.diff(created.id, read.outs, restoring("FEATURE_FLAG")).changes is False


def test_an_update_from_state_written_before_restore_previous_existed_still_restores(provider, api):
    before = env(api)
    created = provider.create(declare())
    legacy = {k: v for k, v in created.outs.items() if k != "restore_previous"}
    provider.update(created.id, legacy, provider.check(legacy, restoring()).inputs)
    assert env(api) == before


def test_a_restored_key_that_drifted_shows_as_an_update_and_is_restored_again(provider, api):
    before = env(api)
    created = provider.create(restoring())
    api.put(f"/services/{SERVICE}/env-vars/DATABASE_URL", json={"value": "changed-by-hand"})
    read = provider.read(created.id, created.outs)
    assert provider.diff(created.id, read.outs, restoring()).changes is True
    provider.update(created.id, read.outs, restoring())
    assert env(api) == before


def test_restore_mode_touches_no_other_key(provider, api, spy):
    before = env(api)
    spy.clear()
    created = provider.create(declare())
    provider.update(created.id, created.outs, restoring())
    provider.delete(created.id, {**created.outs, "restore_previous": True})
    assert all(path.endswith("/env-vars/DATABASE_URL") for _, path in spy.calls), spy.calls
    assert others(env(api)) == others(before) and env(api) == before


def test_diff_switching_restore_previous_is_an_update_never_a_replacement():
    provider = loaded(EnvVarProvider())
    stack = {**declare(), "restore_previous": False, "previous_value": "old", "had_previous": True}
    restored = {**restoring(), "value": "old", "previous_value": "old", "had_previous": True}
    for olds, news in ((stack, restoring()), (restored, declare()), (restored, declare(value="old"))):
        diff = provider.diff("id", olds, provider.check(olds, news).inputs)
        assert diff.changes is True and diff.replaces == [] and diff.delete_before_replace is False
    assert provider.diff("id", restored, provider.check(restored, restoring()).inputs).changes is False
    assert provider.diff("id", stack, provider.check(stack, declare()).inputs).changes is False
    assert provider.diff("id", stack, {**restoring(), "restore_previous": UNKNOWN}).changes is True


def test_check_refuses_a_value_together_with_restore_previous_and_a_non_boolean_flag():
    provider = loaded(EnvVarProvider())
    both = provider.check({}, {**restoring(), "value": NEW_URL}).failures
    assert [f.property for f in both] == ["value"] and NEW_URL not in both[0].reason
    assert [f.property for f in provider.check({}, {**restoring(), "restore_previous": "yes"}).failures] == \
        ["restore_previous"]
    assert provider.check({}, restoring()).failures == []
    assert provider.check({}, declare()).inputs["restore_previous"] is False
