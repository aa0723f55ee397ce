"""`python -m infra.rehearse`: the prd cutover and its rollback, for real, on this machine, run by the real program.

A throwaway PostgreSQL cluster, localrender on it (real databases; the tasks service runs the stand-in app
``python -m localrender.tasks_app``), a generated dataset, and the stg database that prd's service uses today
given the app's schema and a small dataset of its own. Then the prd stack (Pulumi.prd.yaml with the switch commit
applied, ``databaseUrl: stack`` and the import enabled, plus the keys a user sets, pointed at localrender) through
infra/local_engine.py: the database is created, the maintenance page goes on, the real Prisma CLI migrates it,
``python -m migrate import`` copies and verifies the data, DATABASE_URL is switched, the deploy restarts the app
on the new database, ``python -m migrate smoke`` checks it, the page goes off. Then the rollback, a second ``up``
on the same state with the switch commit reverted (``databaseUrl: previous``, no import): DATABASE_URL gets its
old value back (an update), a new deploy runs the app on the old database, the smoke checks it, and the new
database stays. Prints each step's time and operation, then checks the outcome through the API, the app and the
databases; everything is stopped at the end.
"""

from __future__ import annotations

import argparse
import secrets
import shlex
import sys
import tempfile
import textwrap
import time
from contextlib import ExitStack, contextmanager
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import requests

from infra import local_engine
from infra.config import PRODUCTION, PROJECT_DIR, read_stack_file
from localrender import LocalRender
from localrender.seed import OWNER_ID, PRIVATE, STG_DB_ID, TASKS_SERVICE_ID, default_workspace
from migrate.cluster import Cluster, free_port
from migrate.sample import make_dataset, make_json_export

FIXTURE_APP = PROJECT_DIR / "tests" / "fixtures" / "app"
# localrender answers at once; Render's polling pace (3 s, growing) would only add idle seconds here.
POLL_FIRST, POLL_MAX = 0.25, 1.0
OLD_TASKS = 37  # tasks in the database the service uses before the cutover: distinct from any --tasks


@dataclass
class Rehearsal:
    """Everything one rehearsal runs on; valid inside ``rehearsal(...)``."""

    workdir: Path
    cluster: Cluster
    render: LocalRender
    api_key: str
    source: Path
    counts: dict[str, int]
    app_dir: Path
    app_url: str
    old_counts: dict[str, int] = field(default_factory=dict)  # what the service's old database holds
    state: local_engine.State = field(default_factory=local_engine.State)  # the prd stack, across both ups

    def config(self, switch: bool = True) -> dict[str, Any]:
        """The prd stack config: the committed Pulumi.prd.yaml (the provision commit) plus what a user sets, aimed
        at localrender; with ``switch``, plus the switch commit (databaseUrl stack, the import enabled)."""
        committed = read_stack_file(PROJECT_DIR, PRODUCTION)
        database = dict(committed.get("tasks-cutover:database") or {})
        database["ipAllowList"] = [{"cidrBlock": "127.0.0.1/32", "description": "this machine (rehearsal)"}]
        data_import = {**(committed.get("tasks-cutover:import") or {}), "source": str(self.source)}
        user = {"renderApiKey": self.api_key, "renderApiUrl": self.render.base_url, "ownerId": OWNER_ID,
                "serviceId": TASKS_SERVICE_ID, "appUrl": self.app_url, "appDir": str(self.app_dir),
                "database": database, "import": data_import}
        if switch:
            user.update(databaseUrl="stack", **{"import": {**data_import, "enabled": True}})
        return {**committed, **{f"tasks-cutover:{key}": value for key, value in user.items()}}

    def up(self, echo: Callable[[str], None] = lambda line: None, switch: bool = True) -> local_engine.UpResult:
        """One ``up`` of the prd stack on this rehearsal's state: the switch commit, or (``switch`` false) its
        revert."""
        return local_engine.up(PROJECT_DIR, PRODUCTION, self.config(switch), tune=_poll_fast, echo=echo,
                               state=self.state)

    def get(self, path: str) -> Any:
        """One GET of localrender's API."""
        reply = requests.get(self.render.base_url + path, headers={"Authorization": f"Bearer {self.api_key}"},
                             timeout=10)
        reply.raise_for_status()
        return reply.json()


@contextmanager
def rehearsal(tasks: int, *, source_format: str = "sqlite", app_dir: Path = FIXTURE_APP,
              cluster: Optional[Cluster] = None, workdir: Optional[Path] = None) -> Iterator[Rehearsal]:
    """Start what a rehearsal needs (a cluster unless given, localrender, a dataset of ``tasks`` tasks) and
    stop all of it on exit."""
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rehearse-")))
        if cluster is None:
            cluster = stack.enter_context(Cluster())
        source = workdir / ("tasks.json" if source_format == "json" else "tasks.db")
        counts = (make_json_export if source_format == "json" else make_dataset)(source, tasks)
        port, key = free_port(), "rnd_" + secrets.token_urlsafe(24)
        render = LocalRender(key, state=_workspace(port), pg_admin_url=cluster.url(), log_dir=workdir / "logs")
        stack.enter_context(render)
        run = Rehearsal(workdir, cluster, render, key, source, counts, Path(app_dir).resolve(),
                        f"http://127.0.0.1:{port}")
        run.old_counts = _seed_old_database(run)
        yield run


def _seed_old_database(run: Rehearsal) -> dict[str, int]:
    """Give the stg database (prd's database today) the app's schema and a small dataset of its own, as the real
    one has; the counts it then holds."""
    url = run.get(f"/postgres/{STG_DB_ID}/connection-info")["externalConnectionString"]
    env = {**os.environ, "DATABASE_URL": url, "NO_COLOR": "1", "CHECKPOINT_DISABLE": "1"}
    source = run.workdir / "old-tasks.db"
    counts = make_dataset(source, OLD_TASKS, seed=7)
    for argv, cwd in (([str(run.app_dir / "node_modules" / ".bin" / "prisma"), "migrate", "deploy"], run.app_dir),
                      ([sys.executable, "-m", "migrate", "import", "--source", str(source), "-q"], PROJECT_DIR)):
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:  # the URL's password is this throwaway cluster's; still, show no output
            raise RuntimeError(f"preparing the old database failed: {argv[-3:]} exited with {done.returncode}")
    return counts


def outcome(run: Rehearsal, result: local_engine.UpResult) -> list[tuple[str, bool, str]]:
    """What the cutover should have left behind, checked through the API and the app: (check, ok, detail)."""
    if not result.ok:
        return []
    db_id = result.outputs["database_id"]
    wanted = run.get(f"/postgres/{db_id}/connection-info")["internalConnectionString"]
    current, live, served, total, page = _observe(run)
    return [
        ("DATABASE_URL points at the new database", current == wanted, f"database {db_id}"),
        ("the new deploy is the live one", live == [result.outputs["deploy_id"]], f"live: {', '.join(live)}"),
        ("the app serves every imported task", served.ok and total == str(run.counts["Task"]),
         f"/api/tasks -> {served.status_code}, X-Total-Count {total}, dataset {run.counts['Task']}"),
        ("the maintenance page is off", not page.get("enabled"), f"maintenanceMode {page}"),
    ]


def rollback_outcome(run: Rehearsal, cutover: local_engine.UpResult,
                     result: local_engine.UpResult) -> list[tuple[str, bool, str]]:
    """What reverting the switch commit should have left behind: (check, ok, detail)."""
    if not result.ok:
        return []
    db_id = cutover.outputs["database_id"]
    old_url = run.get(f"/postgres/{STG_DB_ID}/connection-info")["internalConnectionString"]
    current, live, served, total, page = _observe(run)
    kept = run.get(f"/postgres/{db_id}")["status"]
    ops = {s.name: s.op for s in result.steps if s.op != "delete"}
    deleted = sorted(s.name for s in result.steps if s.op == "delete")
    # The import left the program; the old deploy and smoke were replaced (their deletes touch nothing).
    wanted_ops = {"db": "same", "database-url": "update", "deploy": "replace", "smoke": "replace"}
    return [
        ("DATABASE_URL is back to its previous value", current == old_url, f"database {STG_DB_ID}"),
        ("a new deploy is the live one", live == [result.outputs["deploy_id"]] != [cutover.outputs["deploy_id"]],
         f"live: {', '.join(live)}"),
        ("the app serves the old database's tasks", served.ok and total == str(run.old_counts["Task"]),
         f"/api/tasks -> {served.status_code}, X-Total-Count {total}, old database {run.old_counts['Task']}"),
        ("the new database is kept", kept == "available" and ops.get("db") == "same", f"database {db_id}: {kept}"),
        ("the revert updated, replaced and deleted only what it should",
         {name: ops.get(name) for name in wanted_ops} == wanted_ops and deleted == ["deploy", "import", "smoke"],
         f"operations {ops}, deleted {deleted}"),
        ("the maintenance page is off", not page.get("enabled"), f"maintenanceMode {page}"),
    ]


def _observe(run: Rehearsal) -> tuple[str, list[str], requests.Response, Optional[str], dict]:
    """What both outcomes check: the service's DATABASE_URL, the live deploys' ids, the app's first page of
    tasks and its X-Total-Count, the service's maintenance setting."""
    current = run.get(f"/services/{TASKS_SERVICE_ID}/env-vars/DATABASE_URL")["value"]
    live = [d["deploy"]["id"] for d in run.get(f"/services/{TASKS_SERVICE_ID}/deploys?status=live")]
    served = requests.get(run.app_url + "/api/tasks?take=1", timeout=10)
    page = run.get(f"/services/{TASKS_SERVICE_ID}")["serviceDetails"]["maintenanceMode"]
    return current, live, served, served.headers.get("X-Total-Count"), page


Inspect = Callable[[Rehearsal, local_engine.UpResult], None]


def main(argv: Optional[list[str]] = None, inspect: Optional[Inspect] = None,
         inspect_rollback: Optional[Inspect] = None) -> int:
    """Run the rehearsal; ``inspect`` (after the cutover) and ``inspect_rollback`` (after the rollback) let tests
    see it while everything still runs. Exit 0 when all passed."""
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    _say(f"starting PostgreSQL, localrender and a dataset of {args.tasks} tasks ({args.source_format})")
    with rehearsal(args.tasks, source_format=args.source_format, app_dir=args.app) as run:
        _say(f"ready after {time.monotonic() - started:.1f}s; running the prd stack program (the switch commit)")
        result = run.up(echo=lambda line: _say(f"  {line}"))
        passed = _show(result, outcome(run, result))
        if inspect is not None:
            inspect(run, result)
        if passed and args.rollback:
            _say("rolling back: the same stack with the switch commit reverted (databaseUrl previous)")
            rollback = run.up(echo=lambda line: _say(f"  {line}"), switch=False)
            passed = _show(rollback, rollback_outcome(run, result, rollback))
            if inspect_rollback is not None:
                inspect_rollback(run, rollback)
    _say(f"{'passed' if passed else 'FAILED'} in {time.monotonic() - started:.1f}s; everything is stopped")
    return 0 if passed else 1


def _show(result: local_engine.UpResult, checks: list[tuple[str, bool, str]]) -> bool:
    """Print an ``up``'s report, what its steps said and the checks; True when all passed."""
    print(result.report())
    for step in result.steps:
        if step.stdout:
            print(f"{step.name} said:\n" + textwrap.indent(step.stdout, "  "))
    for name, ok, detail in checks:
        print(f"check {'ok' if ok else 'FAILED'}: {name} ({detail})")
    return result.ok and bool(checks) and all(ok for _, ok, _ in checks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.rehearse", description=__doc__.splitlines()[0],
                                     epilog="example: python -m infra.rehearse --tasks 20000")
    parser.add_argument("--tasks", type=int, default=5000, help="tasks in the generated dataset (default: %(default)s)")
    parser.add_argument("--source-format", choices=("sqlite", "json"), default="sqlite",
                        help="import a Prisma SQLite snapshot or the older JSON export (default: %(default)s)")
    parser.add_argument("--app", type=Path, default=FIXTURE_APP,
                        help="the Prisma app whose migrations are applied (default: the sample app)")
    parser.add_argument("--no-rollback", dest="rollback", action="store_false",
                        help="stop after the cutover instead of also reverting the switch commit")
    return parser


def _workspace(port: int) -> dict:
    """localrender's default workspace, with the tasks service running the stand-in app on ``port``."""
    state = default_workspace()
    service = next(s for s in state["services"] if s["id"] == TASKS_SERVICE_ID)
    service[PRIVATE] = {"startCommand": f"{shlex.quote(sys.executable)} -m localrender.tasks_app",
                        "cwd": str(PROJECT_DIR), "port": port}
    return state


def _poll_fast(provider: Any) -> None:
    provider.poll_first, provider.poll_max = POLL_FIRST, POLL_MAX


def _say(line: str) -> None:
    print(f"rehearse: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
