"""End to end, for real: `python -m infra.rehearse` runs the prd stack program with every resource applied.

localrender provisions a real database on a throwaway cluster, the real Prisma CLI migrates it, `python -m migrate
import` copies and verifies a generated dataset, DATABASE_URL is switched, localrender's deploy restarts the
stand-in tasks app on the new database and `python -m migrate smoke` checks it. Then the switch commit is reverted
and the same stack is brought up again: DATABASE_URL returns to the old database, a new deploy runs the app there.
The checks below look at the result through the API, the app and the databases themselves, not through the
rehearsal's own report.
"""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import requests

from infra import rehearse
from localrender.seed import PRIVATE, STG_DB_ID, TASKS_SERVICE_ID

pytestmark = pytest.mark.slow
CHAIN = ["db", "maintenance-on", "migrate-deploy", "import", "database-url", "deploy", "smoke", "maintenance-off"]


class Api:
    def __init__(self, run: rehearse.Rehearsal):
        self.base, self.headers = run.render.base_url, {"Authorization": f"Bearer {run.api_key}"}

    def get(self, path: str, **params):
        reply = requests.get(self.base + path, headers=self.headers, params=params, timeout=10)
        reply.raise_for_status()
        return reply.json()


def observe(run: rehearse.Rehearsal, result) -> dict:
    """Everything the assertions need, read while the rehearsal still runs."""
    api = Api(run)
    db_id = result.outputs.get("database_id")
    info = api.get(f"/postgres/{db_id}/connection-info") if db_id else {}
    with psycopg.connect(info["externalConnectionString"]) as conn:
        rows = {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in run.counts}
        titles = [r[0] for r in conn.execute('SELECT title FROM "Task" ORDER BY id LIMIT 5')]
    with sqlite3.connect(run.source) as source:
        source_titles = [r[0] for r in source.execute('SELECT title FROM "Task" ORDER BY id LIMIT 5')]
    served = requests.get(run.app_url + "/api/tasks", params={"take": 5}, timeout=10)
    state = run.render.state
    return {
        "result": result, "counts": dict(run.counts), "rows": rows, "titles": titles,
        "source_titles": source_titles, "db_id": db_id, "internal": info["internalConnectionString"],
        "stg_internal": api.get(f"/postgres/{STG_DB_ID}/connection-info")["internalConnectionString"],
        "env_value": api.get(f"/services/{TASKS_SERVICE_ID}/env-vars/DATABASE_URL")["value"],
        "deploys": [d["deploy"] for d in api.get(f"/services/{TASKS_SERVICE_ID}/deploys", limit=20)],
        "service": api.get(f"/services/{TASKS_SERVICE_ID}"),
        "served": (served.status_code, served.headers.get("X-Total-Count"), [t["title"] for t in served.json()]),
        "secrets": [run.api_key] + [db[PRIVATE]["password"] for db in state["postgres"]],
        "logs": "".join(p.read_text(errors="replace") for p in (run.workdir / "logs").glob("*")),
    }


def observe_rollback(run: rehearse.Rehearsal, result) -> dict:
    """After the revert: where DATABASE_URL points, what the app serves, what the new database still holds."""
    api = Api(run)
    info = api.get(f"/postgres/{result.outputs['database_id']}/connection-info")
    with psycopg.connect(info["externalConnectionString"]) as conn:
        rows = conn.execute('SELECT count(*) FROM "Task"').fetchone()[0]
    served = requests.get(run.app_url + "/api/tasks", params={"take": 1}, timeout=10)
    return {
        "result": result, "new_db_rows": rows, "new_db": api.get(f"/postgres/{result.outputs['database_id']}"),
        "env_value": api.get(f"/services/{TASKS_SERVICE_ID}/env-vars/DATABASE_URL")["value"],
        "stg_internal": api.get(f"/postgres/{STG_DB_ID}/connection-info")["internalConnectionString"],
        "deploys": {d["deploy"]["id"]: d["deploy"] for d in api.get(f"/services/{TASKS_SERVICE_ID}/deploys", limit=20)},
        "served": (served.status_code, served.headers.get("X-Total-Count")), "old_tasks": run.old_counts["Task"],
        "page": api.get(f"/services/{TASKS_SERVICE_ID}")["serviceDetails"]["maintenanceMode"],
    }


@pytest.fixture(scope="module")
def rehearsal_run(tmp_path_factory) -> tuple[int, str, dict]:
    """One rehearsal as a user runs it (exit code, everything printed), observed while it runs: after the cutover
    (``seen``) and after the rollback (``seen["rollback"]``)."""
    import contextlib
    import io

    seen: dict = {}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = rehearse.main(["--tasks", "400"], inspect=lambda run, result: seen.update(observe(run, result)),
                             inspect_rollback=lambda run, result: seen.update(rollback=observe_rollback(run, result)))
    return code, out.getvalue() + err.getvalue(), seen


def test_the_rehearsal_passes_and_reports_each_step_with_its_time(rehearsal_run):
    code, printed, seen = rehearsal_run
    assert code == 0, printed
    steps = seen["result"].steps
    assert [s.name for s in steps] == CHAIN and all(s.ok for s in steps)
    for step in steps:
        assert f"{step.name} " in printed and f"{step.seconds:.2f}" in printed
    for before, after in zip(steps, steps[1:]):  # the chain ran in order, one step after the other
        assert after.started >= before.started + before.seconds


def test_the_import_moved_every_row_into_the_new_database(rehearsal_run):
    _, _, seen = rehearsal_run
    assert seen["rows"] == seen["counts"] and seen["counts"]["Task"] == 400
    assert seen["titles"] == seen["source_titles"]


def test_database_url_now_points_at_the_new_database(rehearsal_run):
    _, _, seen = rehearsal_run
    assert seen["db_id"] != STG_DB_ID and seen["db_id"].startswith("dpg-")
    assert seen["env_value"] == seen["internal"] != seen["stg_internal"]


def test_a_new_deploy_is_live_and_the_app_serves_the_imported_tasks(rehearsal_run):
    _, _, seen = rehearsal_run
    outputs = seen["result"].outputs
    by_id = {d["id"]: d for d in seen["deploys"]}
    assert by_id[outputs["deploy_id"]]["status"] == "live"
    assert by_id[outputs["previous_deploy_id"]]["status"] == "deactivated"
    assert seen["served"] == (200, str(seen["counts"]["Task"]), seen["source_titles"])
    assert seen["service"]["serviceDetails"]["maintenanceMode"]["enabled"] is False


def test_no_secret_reaches_the_output_or_the_logs(rehearsal_run):
    _, printed, seen = rehearsal_run
    assert len(seen["secrets"]) >= 3 and all(len(s) >= 16 for s in seen["secrets"])
    for secret in seen["secrets"]:
        assert secret not in printed and secret not in seen["logs"]
    assert "output database_internal_url: [secret]" in printed


def test_a_json_export_source_takes_the_same_path(capsys):
    seen = {}

    def inspect(run, result):
        served = requests.get(run.app_url + "/api/tasks", params={"take": 1}, timeout=10)
        seen.update(total=served.headers.get("X-Total-Count"), tasks=run.counts["Task"], source=run.source.name)

    assert rehearse.main(["--tasks", "150", "--source-format", "json", "--no-rollback"], inspect=inspect) == 0
    assert seen == {"total": "150", "tasks": 150, "source": "tasks.json"}
    printed = capsys.readouterr()
    assert "import  " in printed.out and "rolling back" not in printed.err


def test_reverting_the_switch_points_the_service_back_at_its_old_database_and_keeps_the_new_one(rehearsal_run):
    code, _, seen = rehearsal_run
    assert code == 0
    after, cutover = seen["rollback"], seen["result"]
    assert after["env_value"] == after["stg_internal"] == seen["stg_internal"]
    rollback_deploy = after["result"].outputs["deploy_id"]
    assert after["deploys"][rollback_deploy]["status"] == "live"
    assert after["deploys"][cutover.outputs["deploy_id"]]["status"] == "deactivated"
    assert after["result"].outputs["previous_deploy_id"] == cutover.outputs["deploy_id"]
    assert after["served"] == (200, str(after["old_tasks"])) and after["old_tasks"] != seen["counts"]["Task"]
    # No database is deleted by the rollback: the new one is there, with every imported row.
    assert after["result"].outputs["database_id"] == seen["db_id"] and after["new_db"]["status"] == "available"
    assert after["new_db_rows"] == seen["counts"]["Task"]
    assert after["page"]["enabled"] is False


def test_the_rollback_changes_only_what_it_must_inside_the_maintenance_window(rehearsal_run):
    _, printed, seen = rehearsal_run
    steps = seen["rollback"]["result"].steps
    applied = [(s.name, s.op) for s in steps if s.op != "delete"]
    assert applied == [("db", "same"), ("maintenance-on", "update"), ("migrate-deploy", "same"),
                       ("database-url", "update"), ("deploy", "replace"), ("smoke", "replace"),
                       ("maintenance-off", "update")]
    assert sorted(s.name for s in steps if s.op == "delete") == ["deploy", "import", "smoke"]
    for before, after in zip(steps, steps[1:]):  # in order: the page on first, off last, the deletes after
        assert after.started >= before.started + before.seconds
    assert "check FAILED" not in printed and printed.count("check ok: ") == 10
