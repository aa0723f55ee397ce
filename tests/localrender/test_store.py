"""Seeded state from YAML/JSON, saved back on every change so a rehearsal survives a restart."""

from __future__ import annotations

import json
import stat

import pytest
import yaml

from localrender import LocalRender
from localrender.store import StateError, Store
from tests.localrender.conftest import Api, OWNER, STG_DB, TASKS, wait_for

SEED = """
owners:
  - {id: tea-seededworkspace00000, name: Seeded, email: ops@example.com, type: team}
postgres:
  - id: dpg-d4mdlojuibrs738gqn00-a
    name: test-codex-migration-stg-db
    plan: free
    version: "15"
    databaseName: tasks_stg_ab12
services:
  - id: srv-seededservice0000000
    name: tasks
    envVars:
      - {key: NODE_ENV, value: production}
      - {key: DATABASE_URL, fromDatabase: {id: dpg-d4mdlojuibrs738gqn00-a, property: externalConnectionString}}
    deploys:
      - {id: dep-seededold00000000000, status: deactivated, createdAt: "2026-01-01T00:00:00Z"}
      - {id: dep-seededlive0000000000, status: live, createdAt: "2026-02-01T00:00:00Z"}
"""


def test_seed_file_fills_in_renders_defaults(tmp_path, render_key):
    path = tmp_path / "render.yaml"
    path.write_text(SEED)
    with LocalRender(render_key, state=path) as server:
        api = Api(server, render_key)
        service = api.get("/services/srv-seededservice0000000").json()
        assert service["ownerId"] == "tea-seededworkspace00000" and service["type"] == "web_service"
        deploys = [d["deploy"] for d in api.get("/services/srv-seededservice0000000/deploys").json()]
        assert [(d["id"], d["status"]) for d in deploys] == [("dep-seededlive0000000000", "live"),
                                                            ("dep-seededold00000000000", "deactivated")]
        stg = api.get(f"/postgres/{STG_DB}").json()
        assert stg["databaseName"] == "tasks_stg_ab12" and stg["region"] == "oregon"
        env = api.get("/services/srv-seededservice0000000/env-vars/DATABASE_URL").json()["value"]
        assert env == api.get(f"/postgres/{STG_DB}/connection-info").json()["externalConnectionString"]


def test_changes_are_saved_and_survive_a_restart(tmp_path, render_key):
    path = tmp_path / "state.yaml"
    with LocalRender(render_key, state=path) as server:
        api = Api(server, render_key)
        made = api.post("/postgres", json={"name": "prd", "ownerId": OWNER, "plan": "basic_1gb",
                                           "version": "15"}).json()
        api.put(f"/services/{TASKS}/env-vars/DATABASE_URL", json={"value": "postgresql://prd"})
        wait_for(lambda: api.get(f"/postgres/{made['id']}").json()["status"] == "available")
        password = api.get(f"/postgres/{made['id']}/connection-info").json()["password"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with LocalRender(render_key, state=path) as again:
        api = Api(again, render_key)
        restored = api.get(f"/postgres/{made['id']}").json()
        assert (restored["status"], restored["databaseName"]) == ("available", made["databaseName"])
        assert api.get(f"/postgres/{made['id']}/connection-info").json()["password"] == password
        assert api.get(f"/services/{TASKS}/env-vars/DATABASE_URL").json()["value"] == "postgresql://prd"


def test_json_state_files_work_too(tmp_path, render_key):
    path = tmp_path / "state.json"
    with LocalRender(render_key, state=path) as server:
        Api(server, render_key).put(f"/services/{TASKS}/env-vars/A", json={"value": "1"})
    saved = json.loads(path.read_text())
    assert {"key": "A", "value": "1"} in saved["services"][0]["envVars"]


def test_a_missing_state_file_starts_from_the_default_workspace(tmp_path):
    store = Store(tmp_path / "new.yaml")
    assert [r["id"] for r in store.data["postgres"]] == [STG_DB]
    store.save()
    assert yaml.safe_load((tmp_path / "new.yaml").read_text())["services"][0]["id"] == TASKS


@pytest.mark.parametrize("text, fragment", [
    ("owners: [unclosed", "not valid YAML"),
    ("- just a list", "must hold a mapping"),
    ("postgres: 5", "'postgres' must be a list"),
    ("services: [{deploys: 3}]", "malformed record"),
])
def test_bad_state_files_name_the_file_and_the_problem(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(StateError) as caught:
        Store(path)
    assert fragment in str(caught.value) and str(path) in str(caught.value)


def test_env_link_to_a_missing_database_is_a_clear_error(render_key):
    state = {"services": [{"id": TASKS, "envVars": [{"key": "DATABASE_URL", "fromDatabase": {"id": "dpg-x-a"}}]}]}
    with pytest.raises(StateError, match="dpg-x-a"):
        LocalRender(render_key, state=state)
