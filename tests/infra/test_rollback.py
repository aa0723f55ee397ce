"""Tests for infra/rollback.py: the emergency rollback, in process and as ``python -m``, against localrender (HTTP)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from infra.render.client import RenderClient
from infra.rollback import main
from localrender.seed import STG_DB_ID, TASKS_SERVICE_ID as SERVICE
from tests.conftest import ROOT
from tests.fix_localrender import _finish, _serve
from tests.infra.service_app import ask, set_build, start_command, write_app

OLD_URL = "postgresql://tasks:0ld-Pa55word-x1@dpg-old-a.oregon-postgres.render.com:5432/tasks_old"
NEW_URL = "postgresql://tasks:n3w-Pa55word-y2@dpg-new-a:5432/tasks_new?sslmode=require"
SECRETS = ("0ld-Pa55word-x1", "n3w-Pa55word-y2")
DEPLOYS = f"/services/{SERVICE}/deploys"


def quick(seconds: float) -> None:
    time.sleep(min(seconds, 0.02))


def run(server, key: str, *argv: str, **env: str):
    """``main`` in process, as an operator runs it: key and URL from the environment, no terminal."""
    out, err = io.StringIO(), io.StringIO()
    environ = {"RENDER_API_KEY": key, "RENDER_API_URL": server.base_url, **env}
    code = main(list(argv), environ=environ, stdout=out, stderr=err, stdin=io.StringIO(), sleep=quick)
    return code, out.getvalue(), err.getvalue()


def deploys(api) -> list[dict]:
    return sorted(api.iter_items(DEPLOYS, "deploy"), key=lambda d: d["createdAt"], reverse=True)


def env(api) -> dict[str, str]:
    return {e["key"]: e["value"] for e in api.iter_items(f"/services/{SERVICE}/env-vars", "envVar")}


def deploy_and_wait(api, expect: str = "live") -> dict:
    made = api.post(DEPLOYS, json={})
    deadline = time.monotonic() + 20
    while (status := api.get(f"{DEPLOYS}/{made['id']}")["status"]) != expect:
        assert time.monotonic() < deadline and status not in ("build_failed", "update_failed"), status
        time.sleep(0.02)
    return api.get(f"{DEPLOYS}/{made['id']}")


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


@pytest.fixture
def running(render_key, tmp_path):
    """localrender whose tasks service runs a real process per release, A live first, then B."""
    script = write_app(tmp_path)
    state = {"services": [{
        "id": SERVICE, "name": "tasks", "deploys": [],
        "envVars": [{"key": "DATABASE_URL", "value": OLD_URL}, {"key": "NODE_ENV", "value": "production"}],
        "x-localrender": {"startCommand": start_command(script, "A")},
    }]}
    server = _serve(render_key, state=state, log_dir=tmp_path / "logs")
    yield server, script
    _finish(server)


def test_previous_restores_database_url_first_and_the_service_runs_the_previous_release(running, render_key):
    server, script = running
    with RenderClient(render_key, server.base_url, sleep=quick) as api:
        release_a = deploy_and_wait(api)
        set_build(server, SERVICE, start_command(script, "B"))
        api.put(f"/services/{SERVICE}/env-vars/DATABASE_URL", json={"value": NEW_URL})
        release_b = deploy_and_wait(api)
        assert ask(server, SERVICE) | {"pid": 0} == {"release": "B", "database_url": NEW_URL, "pid": 0}
        before = env(api)

        code, out, err = run(server, render_key, "--service", SERVICE, "--previous",
                             "--restore-database-url-env", "PREV_DATABASE_URL", "--yes", PREV_DATABASE_URL=OLD_URL)

        assert code == 0, err
        newest, *older = deploys(api)
        assert newest["status"] == "live" and newest["trigger"] == "rollback"
        assert newest["commit"]["id"] == release_a["commit"]["id"]  # Render reuses the target's build
        assert {d["id"]: d["status"] for d in older} == {release_a["id"]: "deactivated",
                                                         release_b["id"]: "deactivated"}
        assert env(api) == {**before, "DATABASE_URL": OLD_URL}  # only DATABASE_URL changed
    # The restored value reached the process: it was written before the rollback deploy started it.
    assert ask(server, SERVICE) | {"pid": 0} == {"release": "A", "database_url": OLD_URL, "pid": 0}
    assert f"roll back to {release_a['id']}" in out and f"deploy {newest['id']} is live" in out
    assert "postgresql://tasks@dpg-old-a.oregon-postgres.render.com:5432/tasks_old" in out  # shown without password
    assert "auto-deploy is on" in out
    assert_no_secret(out, err)


def test_database_url_is_written_before_the_rollback_is_requested(localrender, render_key, api, spy):
    first = deploy_and_wait(api)
    deploy_and_wait(api)
    spy.clear()
    code, _, err = run(localrender, render_key, "--service", SERVICE, "--to-deploy", first["id"],
                       "--restore-database-url-env", "OLD", "--yes", OLD=OLD_URL)
    assert code == 0, err
    writes = [(m, p) for m, p in spy.calls if m in ("PUT", "POST")]
    assert writes == [("PUT", f"/v1/services/{SERVICE}/env-vars/DATABASE_URL"),
                      ("POST", f"/v1/services/{SERVICE}/rollback")]


def test_to_deploy_returns_to_that_deploy_and_leaves_env_vars_alone(localrender, render_key, api):
    first = deploy_and_wait(api)
    deploy_and_wait(api)
    deploy_and_wait(api)
    before = env(api)
    code, out, err = run(localrender, render_key, "--service", SERVICE, "--to-deploy", first["id"], "--yes")
    assert code == 0, err
    newest = deploys(api)[0]
    assert newest["trigger"] == "rollback" and newest["status"] == "live"
    assert newest["commit"]["id"] == first["commit"]["id"]
    assert env(api) == before and "DATABASE_URL" not in out


def test_restore_from_postgres_sets_that_databases_internal_url(localrender, render_key, api):
    deploy_and_wait(api)
    api.put(f"/services/{SERVICE}/env-vars/DATABASE_URL", json={"value": NEW_URL})
    code, out, err = run(localrender, render_key, "--service", SERVICE, "--previous",
                         "--restore-database-url-from-postgres", STG_DB_ID, "--yes")
    assert code == 0, err
    internal = api.get(f"/postgres/{STG_DB_ID}/connection-info")
    assert env(api)["DATABASE_URL"] == internal["internalConnectionString"]
    assert internal["password"] not in out + err and f"postgres {STG_DB_ID}" in out


def test_dry_run_prints_the_plan_and_changes_nothing(localrender, render_key, api, spy):
    first = deploy_and_wait(api)
    deploy_and_wait(api)
    before_env, before_deploys = env(api), deploys(api)
    spy.clear()
    code, out, err = run(localrender, render_key, "--service", SERVICE, "--previous",
                         "--restore-database-url-env", "OLD", "--dry-run", OLD=OLD_URL)
    assert code == 0, err
    assert spy.count("PUT") == spy.count("POST") == 0
    assert env(api) == before_env and deploys(api) == before_deploys
    assert f"roll back to {first['id']}" in out and "dry run: nothing was changed" in out
    assert_no_secret(out, err)


def test_without_yes_and_without_a_terminal_nothing_changes(localrender, render_key, api, spy):
    deploy_and_wait(api)
    spy.clear()
    code, _, err = run(localrender, render_key, "--service", SERVICE, "--previous")
    assert code == 1 and "without --yes" in err and spy.count("POST") == 0


@pytest.mark.parametrize("argv, message", [
    (["--service", "srv-nosuchservice0000", "--previous", "--yes"], "no service srv-nosuchservice0000"),
    (["--service", SERVICE, "--previous", "--yes"], f"service {SERVICE} has no previous deploy"),
    (["--service", SERVICE, "--to-deploy", "dep-nosuchdeploy000", "--yes"], "has no deploy dep-nosuchdeploy000"),
    (["--service", SERVICE, "--previous", "--restore-database-url-env", "UNSET_VAR", "--yes"],
     "environment variable UNSET_VAR is not set"),
])
def test_user_mistakes_are_one_line_errors(localrender, render_key, argv, message):
    code, out, err = run(localrender, render_key, *argv)  # the default workspace: one live deploy, never another
    assert code == 1 and err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_deploy_that_never_went_live_is_refused(localrender, render_key, api):
    localrender.faults.fail_deploy("build_failed", service_id=SERVICE)
    failed = deploy_and_wait(api, expect="build_failed")
    code, _, err = run(localrender, render_key, "--service", SERVICE, "--to-deploy", failed["id"], "--yes")
    assert code == 1 and "never went live (status 'build_failed')" in err


def test_a_failed_rollback_deploy_says_so_and_that_database_url_was_already_changed(localrender, render_key, api):
    deploy_and_wait(api)
    localrender.faults.add(deploy_failure="update_failed", method="POST", path=f"/v1{DEPLOYS[:-8]}/rollback")
    code, out, err = run(localrender, render_key, "--service", SERVICE, "--previous",
                         "--restore-database-url-env", "OLD", "--yes", OLD=OLD_URL)
    assert code == 1
    assert "ended with status 'update_failed'" in err and "DATABASE_URL was already set to" in err
    assert env(api)["DATABASE_URL"] == OLD_URL
    assert_no_secret(out, err)


@pytest.fixture
def image_service(render_key, tmp_path):
    state = {"services": [{"id": SERVICE, "name": "tasks", "imagePath": "ghcr.io/example/tasks:v1.4.3",
                           "deploys": [{"status": "live"}]}]}
    server = _serve(render_key, state=state, log_dir=tmp_path / "logs")
    yield server
    _finish(server)


def test_hook_deploys_the_image_tag_and_never_shows_the_key(image_service, render_key, monkeypatch):
    sent = []
    real_send = requests.Session.send
    monkeypatch.setattr(requests.Session, "send", lambda self, req, **kw: sent.append(req.url) or
                        real_send(self, req, **kw))
    hook = image_service.deploy_hook_url(SERVICE)
    code, out, err = run(image_service, render_key, "--service", SERVICE, "--hook-url-env", "HOOK",
                         "--image-tag", "v1.4.2", "--yes", HOOK=hook)
    assert code == 0, err
    [called] = [u for u in sent if "/deploy/" in u]
    assert parse_qs(urlsplit(called).query)["imgURL"] == ["ghcr.io/example/tasks:v1.4.2"]
    with RenderClient(render_key, image_service.base_url) as api:
        newest = deploys(api)[0]
    assert newest["trigger"] == "deploy_hook" and newest["status"] == "live"
    key = parse_qs(urlsplit(hook).query)["key"][0]
    assert key not in out + err and "ghcr.io/example/tasks:v1.4.2" in out


def test_a_hook_url_of_another_service_or_a_git_service_is_refused(localrender, render_key):
    other = localrender.deploy_hook_url(SERVICE).replace(SERVICE, "srv-someotherservice0")
    code, _, err = run(localrender, render_key, "--service", SERVICE, "--hook-url-env", "HOOK",
                       "--image-tag", "v1", "--yes", HOOK=other)
    key = parse_qs(urlsplit(other).query)["key"][0]
    assert code == 1 and "is not the deploy hook of" in err and "srv-someotherservice0" in err and key not in err
    code, _, err = run(localrender, render_key, "--service", SERVICE, "--hook-url-env", "HOOK",
                       "--image-tag", "v1", "--yes", HOOK=localrender.deploy_hook_url(SERVICE))
    assert code == 1 and "builds from a repository, not an image" in err


@pytest.mark.parametrize("argv, message", [
    (["--service", SERVICE, "--previous", "--restore-database-url-env", OLD_URL], "NAME, not its value"),
    (["--service", SERVICE, "--hook-url-env", "HOOK"], "go together"),
    (["--service", SERVICE, "--previous", "--to-deploy", "dep-abc"], "not allowed with"),
    (["--service", "tasks", "--previous"], "must be a Render service id"),
])
def test_usage_mistakes_exit_2_without_echoing_a_secret(argv, message, capsys):
    assert main(argv, environ={}) == 2
    err = capsys.readouterr().err
    assert message in err and SECRETS[0] not in err


def test_runs_as_a_module_and_reports_a_missing_key_in_one_line():
    environ = {k: v for k, v in os.environ.items() if k not in ("RENDER_API_KEY", "RENDER_API_URL")}
    done = subprocess.run([sys.executable, "-m", "infra.rollback", "--service", SERVICE, "--previous"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "error: RENDER_API_KEY is not set: export the Render API key to call the API\n"
