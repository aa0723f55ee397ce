"""Smoke checks against the real stand-in tasks app (a process on a free port) and a real database."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from migrate.errors import SmokeFailed
from migrate.progress import Progress
from migrate.smoke import run_smoke
from tests.localrender.tasks_helpers import AppProcess, FakeTime, tasks_database

PASSWORD = "Sm0ke-s3cret-pw"


class Lines(Progress):
    """Collects the status lines the checks print."""

    def __init__(self):
        self.lines: list[str] = []

    def status(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def app_process(tmp_path):
    """A factory of stand-in app processes, all stopped at teardown."""
    made: list[AppProcess] = []

    def make(database_url: str, after: float = 0.0, wait: bool = True) -> AppProcess:
        app = AppProcess(database_url, tmp_path / f"app{len(made)}.log")
        made.append(app)
        app.start(after)
        return app.wait_listening() if wait and not after else app

    yield make
    for app in made:
        app.stop()


@pytest.fixture
def fake_app():
    """A tiny real HTTP server answering each path with a fixed (status, body, headers)."""
    servers = []

    def serve(routes: dict) -> str:
        def wsgi(environ, start_response):
            status, body, headers = routes.get(environ["PATH_INFO"], (404, "not found", {}))
            text = body if isinstance(body, str) else json.dumps(body)
            reply = Response(text, status=status, headers=headers, mimetype="application/json")
            return reply(environ, start_response)

        server = make_server("127.0.0.1", 0, wsgi, threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()


def with_password(url: str) -> str:
    """The same database URL with a password (the test cluster trusts local connections and ignores it)."""
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def test_a_healthy_app_with_matching_counts_passes(app_process, pg_url):
    app = app_process(tasks_database(pg_url, 3))
    progress = Lines()
    report = run_smoke(app.url, database_url=pg_url, timeout=10, progress=progress)
    assert report.ok and report.attempts == 1
    assert [(c.name, c.ok) for c in report.checks] == [("health", True), ("tasks", True), ("count", True)]
    assert report.checks[1].detail == "200, 3 task(s) on the first page, 3 in all (X-Total-Count)"
    assert report.checks[2].detail == "3 task(s) in the API and in the database"
    assert json.loads(json.dumps(report.to_dict()))["ok"] is True
    assert progress.lines == [f"smoke {app.url} ... ok (health, tasks, count in 1 attempt(s), {report.seconds:.1f} s)"]


def test_without_a_database_only_the_api_is_checked(app_process, pg_url):
    app = app_process(tasks_database(pg_url, 3))
    report = run_smoke(app.url + "/", timeout=10)
    assert [c.name for c in report.checks] == ["health", "tasks"]


def test_a_count_mismatch_fails_with_both_numbers(app_process, pg_url, pg_cluster):
    app = app_process(tasks_database(pg_url, 3))
    other = tasks_database(pg_cluster.create_database(pg_url.rsplit("/", 1)[1] + "_other"), 4)
    time = FakeTime()
    with pytest.raises(SmokeFailed) as caught:
        run_smoke(app.url, database_url=other, timeout=3, sleep=time.sleep, clock=time.clock)
    assert "count: the API reports 3 task(s) (X-Total-Count), the database holds 4" in str(caught.value)
    assert caught.value.report.attempts == 3 and time.sleeps == [0.5, 1.0]  # a 2 s wait would pass 3 s


def test_an_app_that_comes_up_during_the_warm_up_passes(app_process, pg_url):
    app = app_process(tasks_database(pg_url, 2), after=0.6)
    progress = Lines()
    report = run_smoke(app.url, database_url=pg_url, timeout=30, progress=progress)
    assert report.ok and report.attempts > 1
    assert "cannot connect" in progress.lines[0] and "retrying in 0.5 s" in progress.lines[0]
    assert report.seconds >= 0.6


def test_an_app_down_longer_than_the_timeout_fails(app_process, pg_url):
    app = app_process(pg_url, after=3600)  # never starts within the test
    time = FakeTime()
    with pytest.raises(SmokeFailed) as caught:
        run_smoke(app.url, timeout=10, sleep=time.sleep, clock=time.clock)
    message = str(caught.value)
    assert message.startswith(f"smoke checks against {app.url} still failing after 5 attempt(s) in 7.5 s: ")
    assert "health: GET /api/health: cannot connect ([Errno 111] Connection refused" in message
    assert time.sleeps == [0.5, 1.0, 2.0, 4.0]  # the next (capped) 5 s would end past the 10 s


def test_the_report_reaches_the_error(app_process, pg_url):
    app = app_process(pg_url, after=3600)
    with pytest.raises(SmokeFailed) as caught:
        run_smoke(app.url, timeout=0)
    report = caught.value.report.to_dict()
    assert report["ok"] is False and report["attempts"] == 1
    assert [c["name"] for c in report["checks"]] == ["health", "tasks"]


def test_an_unhealthy_app_fails_with_a_body_excerpt(app_process, pg_url):
    app = app_process(pg_url)  # an empty database: no Prisma tables
    with pytest.raises(SmokeFailed) as caught:
        run_smoke(app.url, database_url=pg_url, timeout=0)
    message = str(caught.value)
    assert 'health: GET /api/health -> 503: {"status":"error","database":"missing tables"' in message
    assert 'tasks: GET /api/tasks?take=50 -> 500: {"error":"cannot read the tasks: the Prisma tables' in message
    assert "count:" not in message  # nothing to compare without a list


def test_a_200_with_an_unhealthy_body_fails(fake_app):
    url = fake_app({"/api/health": (200, {"status": "degraded", "database": "down"}, {}),
                    "/api/tasks": (200, {"tasks": []}, {})})
    with pytest.raises(SmokeFailed) as caught:
        run_smoke(url, timeout=0)
    message = str(caught.value)
    assert 'health: GET /api/health -> 200 but the body is not healthy: {"status": "degraded"' in message
    assert 'tasks: GET /api/tasks?take=50 -> 200 but the body is not a JSON list: {"tasks": []}' in message


def test_a_long_body_is_cut_to_an_excerpt(fake_app):
    url = fake_app({"/api/health": (500, "<html>" + "x" * 5000 + "</html>", {})})
    with pytest.raises(SmokeFailed) as caught:
        run_smoke(url, timeout=0)
    assert f"GET /api/health -> 500: <html>{'x' * 194}..." in str(caught.value)
    assert len(str(caught.value)) < 600


@pytest.mark.parametrize("listed, header, in_db, ok, detail", [
    (3, None, 3, True, "3 task(s) in the API and in the database"),  # a short list is the whole table
    (3, None, 4, False, "the API reports 3 task(s) (the list's length), the database holds 4"),
    (50, None, 60, True, "the API reports no total (no X-Total-Count header and a full page of 50): "
                         "checked only that the database holds at least 50 task(s); it holds 60"),
    (50, None, 49, False, "the API reports no total (no X-Total-Count header and a full page of 50): "
                          "checked only that the database holds at least 50 task(s); it holds 49"),
    (60, None, 60, True, "60 task(s) in the API and in the database"),  # `take` ignored: the list is all of it
    (3, "59", 60, False, "the API reports 59 task(s) (X-Total-Count), the database holds 60"),
])
def test_the_count_falls_back_when_the_header_is_absent(fake_app, pg_url, listed, header, in_db, ok, detail):
    database = tasks_database(pg_url, in_db)
    headers = {"X-Total-Count": header} if header else {}
    url = fake_app({"/api/health": (200, {"ok": True}, {}),
                    "/api/tasks": (200, [{"id": i} for i in range(listed)], headers)})
    try:
        report = run_smoke(url, database_url=database, timeout=0)
    except SmokeFailed as exc:
        report = exc.report
    assert (report.checks[2].ok, report.checks[2].detail) == (ok, detail)


def test_the_database_password_never_appears(app_process, pg_url, pg_cluster, fake_app):
    app = app_process(with_password(tasks_database(pg_url, 3)))
    other = with_password(tasks_database(pg_cluster.create_database(pg_url.rsplit("/", 1)[1] + "_pw"), 4))
    missing = other.rsplit("/", 1)[0] + "/no_such_database"
    leaky = fake_app({"/api/health": (500, {"error": f"cannot reach {other}"}, {})})
    expected = {(app.url, other): "the database holds 4",
                (app.url, missing): 'cannot read the task count from the database: cannot connect to the target',
                (leaky, other): "cannot reach postgresql://postgres:***@127.0.0.1"}
    for (url, database), found in expected.items():
        progress, time = Lines(), FakeTime()
        with pytest.raises(SmokeFailed) as caught:
            run_smoke(url, database_url=database, timeout=1, progress=progress, sleep=time.sleep, clock=time.clock)
        shown = "\n".join([str(caught.value), json.dumps(caught.value.report.to_dict()), *progress.lines])
        assert found in str(caught.value)
        assert PASSWORD not in shown


@pytest.mark.parametrize("url", ["tasks.onrender.com", "ftp://tasks.onrender.com", "https://"])
def test_a_url_that_is_not_http_fails_at_once(url):
    with pytest.raises(SmokeFailed, match="the app URL must look like https://host, got ") as caught:
        run_smoke(url, sleep=pytest.fail)
    assert caught.value.report is None
