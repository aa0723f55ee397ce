"""Services that run: a live deploy (re)starts the service's local process with the service's env vars."""

from __future__ import annotations

import os

import pytest
import requests

from tests.infra import service_app
from tests.localrender.conftest import STG_DB, TASKS, new_postgres, wait_for

def _state(tmp_path, database_url) -> dict:
    script = service_app.write_app(tmp_path)
    return {"services": [{
        "id": TASKS, "name": "tasks", "envVars": [{"key": "DATABASE_URL", **database_url}],
        "deploys": [{"status": "live"}],
        "x-localrender": {"startCommand": service_app.start_command(script, "r1")},
    }]}


@pytest.fixture
def app_api(serve, tmp_path):
    return serve(state=_state(tmp_path, {"value": "postgresql://old"}))


def _app(api, path: str = "/api/health") -> dict:
    url = wait_for(lambda: api.server.service_url(TASKS))
    session = requests.Session()
    session.trust_env = False

    def answer():
        try:
            return session.get(f"{url}{path}", timeout=5).json()
        except requests.ConnectionError:
            return None

    return wait_for(answer)


def _deploy_and_wait(api, expect: str) -> dict:
    deploy = api.post(f"/services/{TASKS}/deploys", json={}).json()
    wait_for(lambda: api.get(f"/services/{TASKS}/deploys/{deploy['id']}").json()["status"] == expect)
    return deploy


def test_env_change_reaches_the_app_only_with_the_next_deploy(app_api):
    first = _app(app_api)
    assert first["database_url"] == "postgresql://old"
    app_api.put(f"/services/{TASKS}/env-vars/DATABASE_URL", json={"value": "postgresql://new"})
    assert _app(app_api) == first  # env writes do not redeploy
    _deploy_and_wait(app_api, "live")
    second = _app(app_api)
    assert second["database_url"] == "postgresql://new"
    assert second["pid"] != first["pid"]


def test_a_crashing_release_fails_and_the_previous_deploy_serves_again(app_api):
    first = _app(app_api)
    app_api.put(f"/services/{TASKS}/env-vars/CRASH", json={"value": "1"})
    _deploy_and_wait(app_api, "update_failed")
    restored = _app(app_api)
    assert restored["database_url"] == first["database_url"]
    assert restored["pid"] != first["pid"]
    assert len(app_api.get(f"/services/{TASKS}/deploys", params={"status": "live"}).json()) == 1


def test_processes_stop_with_the_server(app_api):
    _app(app_api)
    pid = app_api.server.runner.pid(TASKS)
    assert pid is not None
    app_api.server.stop()
    assert app_api.server.runner.pid(TASKS) is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_app_really_switches_to_a_new_database(serve, tmp_path, pg_cluster):
    state = _state(tmp_path, {"fromDatabase": {"id": STG_DB}})
    state["postgres"] = [{"id": STG_DB, "name": "test-codex-migration-stg-db", "databaseName": "runner_stg"}]
    api = serve(state=state, pg_admin_url=pg_cluster.url())
    assert _app(api, "/db")["database"] == "runner_stg"
    prd = new_postgres(api, databaseName="runner_prd")
    wait_for(lambda: api.get(f"/postgres/{prd['id']}").json()["status"] == "available")
    internal = api.get(f"/postgres/{prd['id']}/connection-info").json()["internalConnectionString"]
    api.put(f"/services/{TASKS}/env-vars/DATABASE_URL", json={"value": internal})
    _deploy_and_wait(api, "live")
    assert _app(api, "/db")["database"] == prd["databaseName"]
