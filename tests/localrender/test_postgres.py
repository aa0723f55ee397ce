"""Postgres endpoints without a real cluster: lifecycle, filters, pagination, the up-only rules, suspend."""

from __future__ import annotations

import re
import time

import pytest

from tests.localrender.conftest import OWNER, STG_DB, new_postgres, wait_for


def test_create_answers_unknown_then_creating_then_available_after_the_delay(serve):
    api = serve(postgres_ready_after=0.6)
    started = time.monotonic()
    created = new_postgres(api, databaseName="tasks_prd")
    assert created["status"] == "unknown"
    assert api.get(f"/postgres/{created['id']}").json()["status"] == "creating"
    wait_for(lambda: api.get(f"/postgres/{created['id']}").json()["status"] == "available")
    assert time.monotonic() - started >= 0.6


def test_create_appends_a_random_suffix_to_database_name_and_keeps_the_user(api):
    first = new_postgres(api, databaseName="tasks_prd", databaseUser="tasks")
    second = new_postgres(api, databaseName="tasks_prd", databaseUser="tasks2")
    assert re.fullmatch(r"tasks_prd_[a-z0-9]{4}", first["databaseName"])
    assert first["databaseName"] != second["databaseName"]
    assert first["databaseUser"] == "tasks"
    assert re.fullmatch(r"dpg-[a-z0-9]{20}-a", first["id"])


def test_create_rejects_missing_fields_bad_enums_and_unknown_owner(api):
    assert api.post("/postgres", json={"name": "x", "plan": "basic_1gb", "version": "15"}).status_code == 400
    bad_plan = api.post("/postgres", json={"name": "x", "ownerId": OWNER, "plan": "huge", "version": "15"})
    assert bad_plan.status_code == 400 and "plan" in bad_plan.json()["message"]
    assert api.post("/postgres", json={"name": "x", "ownerId": OWNER, "plan": "basic_1gb",
                                       "version": "9"}).status_code == 400
    assert api.post("/postgres", json={"name": "x", "ownerId": "tea-nobody", "plan": "basic_1gb",
                                       "version": "15"}).status_code == 404
    assert api.post("/postgres", data="{not json").status_code == 400


def test_second_free_database_in_a_workspace_is_refused(api):
    reply = api.post("/postgres", json={"name": "x", "ownerId": OWNER, "plan": "free", "version": "15"})
    assert reply.status_code == 400
    assert STG_DB in reply.json()["message"]


def test_default_workspace_holds_the_stg_database(api):
    stg = api.get(f"/postgres/{STG_DB}").json()
    assert (stg["name"], stg["plan"], stg["version"], stg["region"], stg["status"]) == (
        "test-codex-migration-stg-db", "free", "15", "oregon", "available")
    assert stg["owner"]["id"] == OWNER
    assert "expiresAt" in stg


def test_list_filters_by_name_and_owner(api):
    made = new_postgres(api, name="findme")
    new_postgres(api, name="other")
    by_name = api.get("/postgres", params={"name": "findme"}).json()
    assert [item["postgres"]["id"] for item in by_name] == [made["id"]]
    both = api.get("/postgres", params=[("name", "findme"), ("name", "other")]).json()
    assert len(both) == 2
    assert api.get("/postgres", params={"ownerId": "tea-elsewhere"}).json() == []
    assert len(api.get("/postgres", params={"ownerId": OWNER}).json()) == 3


def test_list_pages_with_the_last_cursor_until_an_empty_page(api):
    made = {new_postgres(api, name=f"db{i}")["id"] for i in range(5)}
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        items = api.get("/postgres", params=params).json()
        if not items:
            break
        pages += 1
        assert len(items) <= 2
        seen += [item["postgres"]["id"] for item in items]
        cursor = items[-1]["cursor"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 6
    assert made <= set(seen)


def test_list_clamps_the_limit_and_ends_at_a_foreign_cursor(api):
    for i in range(3):
        new_postgres(api, name=f"db{i}")
    assert len(api.get("/postgres", params={"limit": 1000}).json()) == 4
    assert len(api.get("/postgres", params={"limit": 0}).json()) == 1
    assert api.get("/postgres", params={"limit": "ten"}).status_code == 400
    assert api.get("/postgres", params={"cursor": "!!!"}).json() == []


def test_patch_allows_upgrades_and_refuses_downgrades(api):
    db = new_postgres(api, plan="basic_1gb", diskSizeGB=10)
    wait_for(lambda: api.get(f"/postgres/{db['id']}").json()["status"] == "available")
    down = api.patch(f"/postgres/{db['id']}", json={"plan": "basic_256mb"})
    assert down.status_code == 400 and "downgrade" in down.json()["message"]
    shrink = api.patch(f"/postgres/{db['id']}", json={"diskSizeGB": 5})
    assert shrink.status_code == 400
    grow = api.patch(f"/postgres/{db['id']}", json={"diskSizeGB": 15, "name": "renamed"})
    assert grow.status_code == 200
    assert (grow.json()["diskSizeGB"], grow.json()["name"]) == (15, "renamed")
    up = api.patch(f"/postgres/{db['id']}", json={"plan": "pro_4gb"})
    assert up.status_code == 200 and up.json()["plan"] == "pro_4gb"


def test_patch_refuses_fields_that_force_a_replacement(api):
    db = new_postgres(api)
    wait_for(lambda: api.get(f"/postgres/{db['id']}").json()["status"] == "available")
    for field, value in (("region", "ohio"), ("version", "16"), ("databaseName", "x"), ("databaseUser", "y")):
        assert api.patch(f"/postgres/{db['id']}", json={field: value}).status_code == 400, field


def test_plan_change_goes_back_to_creating(serve):
    api = serve(postgres_ready_after=0.3)
    db = new_postgres(api)
    wait_for(lambda: api.get(f"/postgres/{db['id']}").json()["status"] == "available")
    assert api.patch(f"/postgres/{db['id']}", json={"plan": "basic_4gb"}).json()["status"] == "creating"
    wait_for(lambda: api.get(f"/postgres/{db['id']}").json()["status"] == "available")


def test_patch_while_creating_is_a_conflict(serve):
    api = serve(postgres_ready_after=30)
    db = new_postgres(api)
    assert api.patch(f"/postgres/{db['id']}", json={"plan": "basic_4gb"}).status_code == 409


def test_high_availability_needs_a_pro_plan(api):
    db = new_postgres(api)
    wait_for(lambda: api.get(f"/postgres/{db['id']}").json()["status"] == "available")
    assert api.patch(f"/postgres/{db['id']}", json={"enableHighAvailability": True}).status_code == 400
    reply = api.patch(f"/postgres/{db['id']}", json={"plan": "pro_4gb", "enableHighAvailability": True})
    assert reply.status_code == 200 and reply.json()["highAvailabilityEnabled"] is True


def test_delete_answers_204_then_404(api):
    db = new_postgres(api)
    assert api.delete(f"/postgres/{db['id']}").status_code == 204
    gone = api.get(f"/postgres/{db['id']}")
    assert gone.status_code == 404 and gone.json() == {"message": f"not found: {db['id']}"}
    assert api.delete(f"/postgres/{db['id']}").status_code == 404


def test_suspend_and_resume_answer_202_and_flip_the_status(api):
    assert api.post(f"/postgres/{STG_DB}/suspend").status_code == 202
    stg = api.get(f"/postgres/{STG_DB}").json()
    assert (stg["suspended"], stg["suspenders"], stg["status"]) == ("suspended", ["user"], "suspended")
    assert [i["postgres"]["id"] for i in api.get("/postgres", params={"suspended": "suspended"}).json()] == [STG_DB]
    assert api.post(f"/postgres/{STG_DB}/resume").status_code == 202
    assert api.get(f"/postgres/{STG_DB}").json()["status"] == "available"


def test_connection_info_has_render_shaped_urls_without_a_cluster(api):
    info = api.get(f"/postgres/{STG_DB}/connection-info").json()
    user, password = "test_codex_migration_stg_db_user", info["password"]
    assert info["internalConnectionString"] == (
        f"postgresql://{user}:{password}@{STG_DB}/test_codex_migration_stg_db_x8qa")
    assert info["externalConnectionString"].startswith(
        f"postgresql://{user}:{password}@{STG_DB}.oregon-postgres.render.com:5432/")
    assert info["psqlCommand"].startswith(f"PGPASSWORD={password} psql -h {STG_DB}.oregon-postgres.render.com")


@pytest.mark.parametrize("path", ["/postgres/dpg-nope-a", "/postgres/dpg-nope-a/connection-info"])
def test_unknown_postgres_is_404(api, path):
    assert api.get(path).status_code == 404
