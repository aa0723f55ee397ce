"""Tests for infra/render/postgres.py: the provider's contract against localrender over real HTTP, after a dill trip."""

from __future__ import annotations

import pytest
from pulumi.runtime.rpc import UNKNOWN

from infra.render._provider import ProviderError, StatusFailed, WaitTimeout
from infra.render.errors import RenderAuthError
from infra.render.postgres import INPUTS, SECRET_OUTPUTS, PostgresProvider
from localrender.seed import OWNER_ID, STG_DB_ID
from tests.infra.fix_providers import loaded

STG_NAME = "test-codex-migration-stg-db"


def declare(**over) -> dict:
    return {"name": "tasks-prd-db", "owner_id": OWNER_ID, "plan": "basic_1gb", "version": "15",
            "database_name": "tasks", **over}


def checked(provider, news, olds=None) -> dict:
    result = provider.check(olds or {}, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def named(api, name: str) -> list[dict]:
    return [db for db in api.iter_items("/postgres", "postgres", name=[name]) if db["name"] == name]


def secrets_of(api, db_id: str) -> list[str]:
    info = api.get(f"/postgres/{db_id}/connection-info")
    return [info["password"], info["internalConnectionString"], info["externalConnectionString"]]


@pytest.fixture
def provider(make_provider):
    return make_provider(PostgresProvider, timeout=10.0)


@pytest.fixture
def created(provider):
    result = provider.create(checked(provider, declare()))
    return result.id, result.outs


# -- create ----------------------------------------------------------------------------------------

def test_create_waits_through_slow_creation_and_returns_inputs_and_outputs(provider, localrender, api, spy):
    localrender.ctx.postgres_ready_after = 0.4
    result = provider.create(checked(provider, declare(ip_allow_list=[{"cidr_block": "10.0.0.0/8"}])))
    outs = result.outs
    assert result.id.startswith("dpg-") and outs["status"] == "available"
    assert set(INPUTS) <= set(outs) and outs["plan"] == "basic_1gb" and outs["region"] == "oregon"
    assert outs["database_name"].startswith("tasks_") and outs["adopted"] is False
    assert outs["dashboard_url"].endswith(result.id)
    assert outs["ip_allow_list"] == [{"cidr_block": "10.0.0.0/8", "description": ""}]
    assert outs["internal_connection_string"].startswith("postgresql://")
    assert outs["external_connection_string"].startswith("postgresql://")
    assert [db["id"] for db in named(api, "tasks-prd-db")] == [result.id]
    assert spy.count("GET") > 3  # it polled while the database was creating


def test_outputs_outside_the_secret_list_hold_no_secret(created, api):
    db_id, outs = created
    public = repr({k: v for k, v in outs.items() if k not in SECRET_OUTPUTS})
    for secret in secrets_of(api, db_id):
        assert secret not in public


def test_create_timeout_names_the_id_the_last_status_and_the_dashboard(provider, localrender, api):
    localrender.faults.stuck_creating()
    provider.timeout = 0.3
    with pytest.raises(WaitTimeout) as error:
        provider.create(checked(provider, declare()))
    [db] = named(api, "tasks-prd-db")
    message = str(error.value)
    assert db["id"] in message and "'creating'" in message and f"dashboard.render.com/d/{db['id']}" in message
    assert not any(s in message for s in secrets_of(api, db["id"]))


def test_create_after_a_failed_run_takes_over_the_database_it_made(make_provider, localrender, api):
    localrender.ctx.postgres_ready_after = 1.0
    with pytest.raises(WaitTimeout):
        make_provider(PostgresProvider, timeout=0.1).create(checked(make_provider(PostgresProvider), declare()))
    again = make_provider(PostgresProvider, timeout=10.0)
    result = again.create(checked(again, declare()))
    assert [db["id"] for db in named(api, "tasks-prd-db")] == [result.id]
    assert result.outs["status"] == "available"


@pytest.mark.parametrize("mode", ["close", "500", "timeout"])
def test_create_whose_reply_is_lost_makes_exactly_one_database(provider, localrender, api, mode):
    localrender.faults.lose_reply(mode, hold=0.2)
    result = provider.create(checked(provider, declare()))
    assert [db["id"] for db in named(api, "tasks-prd-db")] == [result.id]
    assert result.outs["status"] == "available"


def test_create_survives_429_bursts_and_5xx(provider, localrender, api, spy):
    localrender.faults.fail(429, method="POST", path="/v1/postgres", times=2)
    localrender.faults.fail(429, method="GET", path="/v1/postgres*", times=3)
    localrender.faults.fail(503, method="GET", path="/v1/postgres/*", times=2)
    result = provider.create(checked(provider, declare()))
    assert [db["id"] for db in named(api, "tasks-prd-db")] == [result.id]
    assert spy.count("POST") == 3  # two refused, one made


def test_create_refuses_a_same_named_database_that_does_not_match(provider, api, spy):
    other = api.post("/postgres", json={"name": "tasks-prd-db", "ownerId": OWNER_ID, "plan": "basic_1gb",
                                        "version": "14"})
    spy.clear()
    with pytest.raises(ProviderError) as error:
        provider.create(checked(provider, declare()))
    assert other["id"] in str(error.value) and "version is '14', declared '15'" in str(error.value)
    assert spy.count("POST") == 0 and len(named(api, "tasks-prd-db")) == 1


# -- adoption --------------------------------------------------------------------------------------

def adopt_stg(**over) -> dict:
    return {"name": STG_NAME, "owner_id": OWNER_ID, "plan": "free", "version": "15", "adopt_id": STG_DB_ID, **over}


def test_adoption_takes_over_stg_without_writing_and_delete_keeps_it(provider, api, spy):
    before = api.get(f"/postgres/{STG_DB_ID}")
    result = provider.create(checked(provider, adopt_stg(database_name="test_codex_migration_stg_db")))
    assert result.id == STG_DB_ID and result.outs["adopted"] is True
    assert result.outs["database_name"] == before["databaseName"]
    provider.delete(result.id, result.outs)
    assert {m for m, _ in spy.calls} == {"GET"}
    assert api.get(f"/postgres/{STG_DB_ID}")["updatedAt"] == before["updatedAt"]


def test_adoption_mismatch_names_every_field_and_writes_nothing(provider, spy):
    with pytest.raises(ProviderError) as error:
        provider.create(checked(provider, adopt_stg(region="ohio", plan="basic_1gb", database_name="tasks")))
    message = str(error.value)
    assert f"cannot adopt {STG_DB_ID}" in message
    for part in ("region is 'oregon', declared 'ohio'", "plan is 'free', declared 'basic_1gb'",
                 "database_name is 'test_codex_migration_stg_db_x8qa', declared 'tasks'",
                 "region, database_name cannot change without a new database", "never changes it"):
        assert part in message
    assert {m for m, _ in spy.calls} == {"GET"}


def test_adopting_an_unknown_id_fails_clearly(provider):
    with pytest.raises(ProviderError, match="cannot adopt dpg-nosuchdatabase0000-a: no such database"):
        provider.create(checked(provider, adopt_stg(adopt_id="dpg-nosuchdatabase0000-a")))


def test_delete_of_an_adopted_database_makes_no_request(provider, spy):
    provider.delete(STG_DB_ID, {"adopted": True, **adopt_stg()})
    assert spy.calls == []


# -- check and diff (no API) -----------------------------------------------------------------------

def test_check_refuses_downgrades_and_replacements_naming_field_old_new_and_the_data():
    provider = loaded(PostgresProvider())  # not even configured: check must not need the API
    olds = checked(provider, declare(plan="basic_4gb", disk_size_gb=20))
    result = provider.check(olds, {**olds, "plan": "basic_1gb", "disk_size_gb": 15, "region": "ohio"})
    reasons = {f.property: f.reason for f in result.failures}
    assert set(reasons) == {"plan", "disk_size_gb", "region"}
    assert "'basic_4gb' to 'basic_1gb'" in reasons["plan"] and "from 20 to 15" in reasons["disk_size_gb"]
    assert "from 'oregon' to 'ohio'" in reasons["region"] and "data would have to move" in reasons["region"]


def test_check_accepts_a_replacement_with_allow_replace_and_a_new_name():
    provider = loaded(PostgresProvider())
    olds = checked(provider, declare())
    assert provider.check(olds, {**olds, "version": "16", "allow_replace": True, "name": "tasks-prd-16"}).failures == []


def test_diff_compares_database_name_by_prefix_and_reports_updates(created):
    db_id, outs = created
    provider = loaded(PostgresProvider())
    assert provider.diff(db_id, outs, declare()).changes is False
    upgrade = provider.diff(db_id, outs, declare(plan="basic_4gb", ip_allow_list=[]))
    assert upgrade.changes is True and upgrade.replaces == []


def test_diff_reports_replacements_only_with_allow_replace(created):
    db_id, outs = created
    provider = loaded(PostgresProvider())
    result = provider.diff(db_id, outs, declare(region="ohio", database_name="other", allow_replace=True))
    assert result.changes is True and result.replaces == ["region", "database_name"]
    with pytest.raises(ProviderError, match="changing database_user .* data would have to move"):
        provider.diff(db_id, outs, declare(database_user="someone_else"))


def test_diff_never_replaces_on_an_unknown_value(created):
    db_id, outs = created
    result = loaded(PostgresProvider()).diff(db_id, outs, declare(owner_id=UNKNOWN, plan=UNKNOWN))
    assert result.changes is True and result.replaces == []


def test_check_and_diff_make_no_request_and_never_wait(provider, created, spy):
    db_id, outs = created
    spy.clear()
    provider.sleep = provider.clock = lambda *a: pytest.fail("check/diff must not wait")
    inputs = checked(provider, declare(plan="pro_4gb"), olds=declare())
    provider.diff(db_id, outs, inputs)
    provider.diff(db_id, outs, declare(region="ohio", allow_replace=True, name="x"))
    assert spy.calls == []


# -- update, read, delete --------------------------------------------------------------------------

def test_update_patches_upgrades_and_waits_until_available(provider, created, localrender, api):
    db_id, outs = created
    localrender.ctx.postgres_ready_after = 0.3  # a plan change sends the database back to creating
    news = checked(provider, declare(plan="basic_4gb", disk_size_gb=15,
                                     ip_allow_list=[{"cidr_block": "203.0.113.0/24", "description": "office"}]),
                   olds=declare())
    result = provider.update(db_id, outs, news)
    live = api.get(f"/postgres/{db_id}")
    assert live["plan"] == result.outs["plan"] == "basic_4gb" and live["diskSizeGB"] == 15
    assert live["ipAllowList"] == [{"cidrBlock": "203.0.113.0/24", "description": "office"}]
    assert result.outs["status"] == "available" and result.outs["adopted"] is False


def test_update_survives_429_and_5xx(provider, created, localrender, api):
    db_id, outs = created
    localrender.faults.fail(429, method="PATCH", times=2)
    localrender.faults.fail(500, method="PATCH", times=1)
    provider.update(db_id, outs, checked(provider, declare(plan="pro_4gb"), olds=declare()))
    assert api.get(f"/postgres/{db_id}")["plan"] == "pro_4gb"


def test_read_refreshes_with_at_most_two_gets(provider, created, api, spy):
    db_id, outs = created
    api.patch(f"/postgres/{db_id}", json={"plan": "pro_8gb"})  # changed in the dashboard
    spy.clear()
    result = provider.read(db_id, outs)
    assert spy.count() == spy.count("GET") <= 2
    assert result.id == db_id and result.outs["plan"] == result.inputs["plan"] == "pro_8gb"
    # The next check judges the declared plan against the refreshed one: now a downgrade.
    refused = provider.check(result.inputs, {**result.inputs, "plan": "basic_1gb"}).failures
    assert [f.property for f in refused] == ["plan"]


def test_read_of_a_gone_database_returns_a_blank_id(provider, created, api):
    db_id, outs = created
    api.delete(f"/postgres/{db_id}")
    assert provider.read(db_id, outs).id == ""


def test_delete_removes_the_database_and_a_second_delete_is_fine(provider, created, api):
    db_id, outs = created
    provider.delete(db_id, outs)
    assert named(api, "tasks-prd-db") == []
    provider.delete(db_id, outs)  # 404: already gone


def test_a_suspended_database_fails_the_wait_at_once(provider, created, api):
    db_id, outs = created
    api.post(f"/postgres/{db_id}/suspend")
    with pytest.raises(StatusFailed, match=f"postgres {db_id} ended with status 'suspended'"):
        provider.update(db_id, outs, checked(provider, declare(plan="basic_4gb"), olds=declare()))


def test_a_wrong_key_fails_without_showing_it(make_provider, localrender):
    provider = make_provider(PostgresProvider)
    provider._api_key = "rnd_wrongKeyThatMustStayHidden"
    with pytest.raises(RenderAuthError) as error:
        provider.create(checked(provider, declare()))
    assert "rnd_wrongKeyThatMustStayHidden" not in str(error.value) + repr(error.value)


def test_the_connection_string_output_reaches_the_real_database(make_provider_pg):
    import psycopg

    provider = make_provider_pg(PostgresProvider, timeout=10.0)
    result = provider.create(checked(provider, declare()))
    with psycopg.connect(result.outs["external_connection_string"], connect_timeout=5) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == result.outs["database_name"]
    provider.delete(result.id, result.outs)
