"""The stand-in tasks app: its two routes on a real database, and localrender running it as a service."""

from __future__ import annotations

import datetime as dt
import json
import sys

import psycopg
import pytest
import requests
from werkzeug.test import Client

from localrender.seed import default_workspace
from localrender.tasks_app import application
from migrate.cluster import free_port
from migrate.errors import SmokeFailed
from migrate.smoke import run_smoke
from tests.localrender.conftest import TASKS, new_postgres, wait_for
from tests.localrender.tasks_helpers import ROOT, add_tasks, migrate_schema, tasks_database


@pytest.fixture
def client(monkeypatch):
    """The WSGI app in-process, reading DATABASE_URL from the environment like the process does."""
    def serve(database_url: str) -> Client:
        monkeypatch.setenv("DATABASE_URL", database_url)
        return Client(application)
    return serve


def test_health_is_ok_on_a_migrated_database(client, pg_url):
    reply = client(tasks_database(pg_url)).get("/api/health")
    assert reply.status_code == 200
    assert reply.json == {"status": "ok", "database": "up"}


def test_health_is_503_when_the_prisma_tables_are_missing(client, pg_url):
    reply = client(pg_url).get("/api/health")
    assert reply.status_code == 503
    assert reply.json["database"] == "missing tables"
    assert "Task" in reply.json["error"] and "prisma migrate deploy" in reply.json["error"]


def test_health_is_503_without_the_password_when_the_database_is_unreachable(client):
    reply = client(f"postgresql://app:Pa55-unreachable@127.0.0.1:{free_port()}/tasks").get("/api/health")
    assert reply.status_code == 503
    assert reply.json["status"] == "error" and reply.json["database"] == "down"
    assert "Pa55-unreachable" not in reply.get_data(as_text=True)


def test_health_is_503_when_database_url_is_unset(client):
    reply = client("").get("/api/health")
    assert reply.status_code == 503
    assert reply.json["error"] == "DATABASE_URL is not set"


def test_tasks_come_as_prisma_serialises_them(client, pg_url):
    migrate_schema(pg_url)
    add_tasks(pg_url, 1)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("""UPDATE "Task" SET "createdAt" = '2024-03-01 09:15:00.5', estimate = 2.5,
                        "viewCount" = 9007199254740993, metadata = '{"a": [1, 2]}', status = 'DONE', done = true""")
    reply = client(pg_url).get("/api/tasks")
    assert reply.status_code == 200
    assert reply.headers["X-Total-Count"] == "1"
    [task] = reply.json
    assert task["id"] == 1 and task["title"] == "task 1" and task["projectId"] == 1
    assert task["status"] == "DONE" and task["done"] is True
    assert task["createdAt"] == "2024-03-01T09:15:00.500Z"
    assert task["estimate"] == "2.5" and task["viewCount"] == "9007199254740993"
    assert task["metadata"] == {"a": [1, 2]} and task["dueAt"] is None and task["assigneeId"] is None
    dt.datetime.fromisoformat(task["updatedAt"])  # ISO 8601, as JavaScript's Date#toJSON writes it


def test_tasks_are_paginated_like_find_many_take_skip(client, pg_url):
    app = client(tasks_database(pg_url, 60))
    first = app.get("/api/tasks")
    assert [t["id"] for t in first.json] == list(range(1, 51))  # take defaults to 50
    assert first.headers["X-Total-Count"] == "60"
    page = app.get("/api/tasks?take=2&skip=58")
    assert [t["id"] for t in page.json] == [59, 60]
    assert app.get("/api/tasks?skip=60").json == []


@pytest.mark.parametrize("query, message", [
    ("take=0", "take must be an integer between 1 and 1000, got '0'"),
    ("take=1001", "take must be an integer between 1 and 1000, got '1001'"),
    ("take=ten", "take must be an integer between 1 and 1000, got 'ten'"),
    ("skip=-1", "skip must be an integer at least 0, got '-1'"),
])
def test_bad_pagination_is_a_400_naming_the_parameter(client, pg_url, query, message):
    reply = client(tasks_database(pg_url)).get(f"/api/tasks?{query}")
    assert reply.status_code == 400
    assert reply.json == {"error": message}


def test_tasks_is_a_500_when_the_tables_are_missing(client, pg_url):
    reply = client(pg_url).get("/api/tasks")
    assert reply.status_code == 500
    assert "Prisma tables are missing" in reply.json["error"]


def test_unknown_paths_and_methods_are_refused(client, pg_url):
    app = client(pg_url)
    assert app.get("/api/users").status_code == 404
    reply = app.post("/api/tasks")
    assert reply.status_code == 405 and reply.headers["Allow"] == "GET, HEAD"


def test_localrender_runs_the_app_as_a_service_and_smoke_passes_after_a_deploy(serve, pg_cluster):
    # The default workspace (the tasks service on the stg database) with a start command, so a
    # deploy really (re)starts the stand-in app with the service's env vars and PORT.
    state = default_workspace()
    state["services"][0]["x-localrender"] = {"startCommand": f"{sys.executable} -m localrender.tasks_app",
                                             "cwd": str(ROOT)}
    api = serve(state=state, pg_admin_url=pg_cluster.url())
    before = wait_for(lambda: api.server.service_url(TASKS))
    # The stg database has no Prisma tables: the app runs but is not healthy.
    wait_for(lambda: _answers(before))
    with pytest.raises(SmokeFailed, match="503.*missing tables"):
        run_smoke(before, timeout=0)

    prd = new_postgres(api, databaseName="smoke_prd")
    wait_for(lambda: api.get(f"/postgres/{prd['id']}").json()["status"] == "available")
    info = api.get(f"/postgres/{prd['id']}/connection-info").json()
    tasks_database(info["externalConnectionString"], 7)
    api.put(f"/services/{TASKS}/env-vars/DATABASE_URL", json={"value": info["internalConnectionString"]})
    deploy = api.post(f"/services/{TASKS}/deploys", json={}).json()
    wait_for(lambda: api.get(f"/services/{TASKS}/deploys/{deploy['id']}").json()["status"] == "live", timeout=40)

    report = run_smoke(api.server.service_url(TASKS), database_url=info["externalConnectionString"], timeout=30)
    assert report.ok and [c.name for c in report.checks] == ["health", "tasks", "count"]
    assert report.checks[2].detail == "7 task(s) in the API and in the database"
    password = info["externalConnectionString"].split(":")[2].split("@")[0]
    assert password not in json.dumps(report.to_dict())


def _answers(url: str) -> bool:
    try:
        requests.get(url + "/api/health", timeout=5)
        return True
    except requests.ConnectionError:
        return False
