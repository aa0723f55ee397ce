"""`python -m infra.rehearse`: the prd cutover, for real, on this machine, run by the real Pulumi program.

A throwaway PostgreSQL cluster, localrender on it (real databases; the tasks service runs the stand-in app
``python -m localrender.tasks_app``), a generated dataset, then the prd stack (Pulumi.prd.yaml plus the keys a
user sets, pointed at localrender) through infra/local_engine.py: the database is created, the maintenance page
goes on, the real Prisma CLI migrates it, ``python -m migrate import`` copies and verifies the data, DATABASE_URL
is switched, the deploy restarts the app on the new database, ``python -m migrate smoke`` checks it, the page
goes off. Prints each step's time, then checks the outcome through the API and the app; everything is stopped
at the end. The local engine does one fresh create-only ``up`` (no state, no diffs): see its docstring.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import requests

from infra import local_engine
from infra.config import PRODUCTION, PROJECT_DIR, read_stack_file
from localrender import LocalRender
from localrender.seed import OWNER_ID, PRIVATE, TASKS_SERVICE_ID, default_workspace
from migrate.cluster import Cluster, free_port
from migrate.sample import make_dataset, make_json_export

FIXTURE_APP = PROJECT_DIR / "tests" / "fixtures" / "app"
# localrender answers at once; Render's polling pace (3 s, growing) would only add idle seconds here.
POLL_FIRST, POLL_MAX = 0.25, 1.0


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

    def config(self) -> dict[str, Any]:
        """The prd stack config: the committed Pulumi.prd.yaml plus what a user sets, aimed at localrender."""
        committed = read_stack_file(PROJECT_DIR, PRODUCTION)
        database = dict(committed.get("tasks-cutover:database") or {})
        database["ipAllowList"] = [{"cidrBlock": "127.0.0.1/32", "description": "this machine (rehearsal)"}]
        data_import = {**(committed.get("tasks-cutover:import") or {}), "source": str(self.source)}
        user = {"renderApiKey": self.api_key, "renderApiUrl": self.render.base_url, "ownerId": OWNER_ID,
                "serviceId": TASKS_SERVICE_ID, "appUrl": self.app_url, "appDir": str(self.app_dir),
                "database": database, "import": data_import}
        return {**committed, **{f"tasks-cutover:{key}": value for key, value in user.items()}}

    def up(self, echo: Callable[[str], None] = lambda line: None) -> local_engine.UpResult:
        return local_engine.up(PROJECT_DIR, PRODUCTION, self.config(), tune=_poll_fast, echo=echo)


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
        yield Rehearsal(workdir, cluster, render, key, source, counts, Path(app_dir).resolve(),
                        f"http://127.0.0.1:{port}")


def outcome(run: Rehearsal, result: local_engine.UpResult) -> list[tuple[str, bool, str]]:
    """What the cutover should have left behind, checked through the API and the app: (check, ok, detail)."""
    if not result.ok:
        return []
    headers = {"Authorization": f"Bearer {run.api_key}"}

    def get(path: str) -> Any:
        reply = requests.get(run.render.base_url + path, headers=headers, timeout=10)
        reply.raise_for_status()
        return reply.json()

    db_id = result.outputs["database_id"]
    wanted = get(f"/postgres/{db_id}/connection-info")["internalConnectionString"]
    current = get(f"/services/{TASKS_SERVICE_ID}/env-vars/DATABASE_URL")["value"]
    live = [d["deploy"]["id"] for d in get(f"/services/{TASKS_SERVICE_ID}/deploys?status=live")]
    served = requests.get(run.app_url + "/api/tasks?take=1", timeout=10)
    total = served.headers.get("X-Total-Count")
    page = get(f"/services/{TASKS_SERVICE_ID}")["serviceDetails"]["maintenanceMode"]
    return [
        ("DATABASE_URL points at the new database", current == wanted, f"database {db_id}"),
        ("the new deploy is the live one", live == [result.outputs["deploy_id"]], f"live: {', '.join(live)}"),
        ("the app serves every imported task", served.ok and total == str(run.counts["Task"]),
         f"/api/tasks -> {served.status_code}, X-Total-Count {total}, dataset {run.counts['Task']}"),
        ("the maintenance page is off", not page.get("enabled"), f"maintenanceMode {page}"),
    ]


def main(argv: Optional[list[str]] = None,
         inspect: Optional[Callable[[Rehearsal, local_engine.UpResult], None]] = None) -> int:
    """Run the rehearsal; ``inspect`` (tests) sees it while everything still runs. Exit 0 when all passed."""
    args = _parser().parse_args(argv)
    say = _say
    started = time.monotonic()
    say(f"starting PostgreSQL, localrender and a dataset of {args.tasks} tasks ({args.source_format})")
    with rehearsal(args.tasks, source_format=args.source_format, app_dir=args.app) as run:
        say(f"ready after {time.monotonic() - started:.1f}s; running the prd stack program")
        result = run.up(echo=lambda line: say(f"  {line}"))
        print(result.report())
        for step in result.steps:
            if step.stdout:
                print(f"{step.name} said:\n" + textwrap.indent(step.stdout, "  "))
        checks = outcome(run, result)
        for name, ok, detail in checks:
            print(f"check {'ok' if ok else 'FAILED'}: {name} ({detail})")
        if inspect is not None:
            inspect(run, result)
    passed = result.ok and all(ok for _, ok, _ in checks)
    say(f"{'passed' if passed else 'FAILED'} in {time.monotonic() - started:.1f}s; everything is stopped")
    return 0 if passed else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.rehearse", description=__doc__.splitlines()[0],
                                     epilog="example: python -m infra.rehearse --tasks 20000")
    parser.add_argument("--tasks", type=int, default=5000, help="tasks in the generated dataset (default: %(default)s)")
    parser.add_argument("--source-format", choices=("sqlite", "json"), default="sqlite",
                        help="import a Prisma SQLite snapshot or the older JSON export (default: %(default)s)")
    parser.add_argument("--app", type=Path, default=FIXTURE_APP,
                        help="the Prisma app whose migrations are applied (default: the sample app)")
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
