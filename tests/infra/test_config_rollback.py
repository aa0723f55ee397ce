"""Config rollback proved on the providers: Pulumi.prd.yaml's provision commit (A), the switch commit (B), then A
again (`git revert` of B), each `pulumi up` driven through the provider methods against localrender with real
databases and a running service."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg
import pytest
from psycopg import sql

from infra.render.deploy import DeployProvider
from infra.render.client import RenderClient
from infra.render.env_var import EnvVarProvider
from infra.render.maintenance import MaintenanceProvider
from infra.render.postgres import PostgresProvider
from localrender.seed import OWNER_ID, STG_DB_ID, TASKS_SERVICE_ID as SERVICE, default_workspace
from tests.fix_localrender import _finish, _serve
from tests.infra.fix_providers import _maker, short_sleep
from tests.infra.service_app import ask, start_command, write_app

PRD = {"name": "tasks-prd-db", "owner_id": OWNER_ID, "plan": "basic_1gb", "version": "15",
       "database_name": "tasks", "database_user": "tasks"}
KEEP = {"protect": True, "retain_on_delete": True}  # what Pulumi.prd.yaml declares


class EngineRefused(Exception):
    """What `pulumi preview`/`up` fails with; nothing has been applied."""


@dataclass
class Tracked:
    provider: Any
    id: str
    outs: dict
    protect: bool
    retain_on_delete: bool


@dataclass
class EngineModel:
    """The provider calls `pulumi up` makes for one stack, per the rules in the docstring of the first test.

    ``calls`` records ``(resource name, method)``; ``providers`` maps a provider class to a configured instance.
    """

    providers: dict
    state: dict[str, Tracked] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def up(self, program: Callable[[Callable[..., dict]], None]) -> None:
        declared: list[str] = []
        program(lambda name, *a, **k: declared.append(name) or _Unknown())  # the preview's view: names only
        for name in self.state:
            if name not in declared and self.state[name].protect:
                raise EngineRefused(f"resource {name!r} cannot be deleted because it is protected")
        pending: list[tuple[str, Tracked]] = []
        program(lambda *a, **k: self._register(pending, *a, **k))
        pending += [(name, self.state.pop(name)) for name in reversed(list(self.state)) if name not in declared]
        for name, old in pending:
            if not old.retain_on_delete:
                self.calls.append((name, "delete"))
                old.provider.delete(old.id, old.outs)

    def _register(self, pending: list, name: str, cls: type, news: dict, *, protect: bool = False,
                  retain_on_delete: bool = False) -> dict:
        provider, old = self.providers[cls], self.state.get(name)
        self.calls.append((name, "check"))
        checked = provider.check(old.outs if old else {}, news)
        assert checked.failures == [], [(f.property, f.reason) for f in checked.failures]
        inputs = checked.inputs
        if old is not None:
            self.calls.append((name, "diff"))
            diff = provider.diff(old.id, old.outs, inputs)
            if not diff.changes:
                return old.outs
            if not diff.replaces:
                self.calls.append((name, "update"))
                old.outs = provider.update(old.id, old.outs, inputs).outs
                return old.outs
            if old.protect:
                raise EngineRefused(f"unable to replace resource {name!r}: it is marked for protection")
            pending.append((name, old))  # delete-replaced, after the program
        self.calls.append((name, "create"))
        made = provider.create(inputs)
        self.state[name] = Tracked(provider, made.id, made.outs, protect, retain_on_delete)
        return made.outs


class _Unknown(dict):
    """An output during the name-only pass: every field reads as a placeholder."""

    def __missing__(self, key: str) -> str:
        return "<unknown>"


def digest(value) -> str:
    """steps.value_digest: the deploy's trigger, a digest of the value DATABASE_URL holds."""
    return "sha256:" + hashlib.sha256((value or "").encode()).hexdigest()


def prd_program(database_url: str) -> Callable:
    """What infra/__main__.py declares on prd for ``databaseUrl`` (the commands left out: they touch no Render
    resource): the protected database, the page around the window, DATABASE_URL, the deploy that follows it."""
    def program(register) -> None:
        db = register("db", PostgresProvider, dict(PRD), **KEEP)
        # steps.window_digest: the database (by its id there; stable either way), ..., and databaseUrl.
        window = digest(json.dumps([db["name"], database_url]))
        register("maintenance-on", MaintenanceProvider, {"service_id": SERVICE, "enabled": True, "triggers": window})
        env = {"service_id": SERVICE, "key": "DATABASE_URL"}
        if database_url == "stack":
            env["value"] = db["internal_connection_string"]
        else:
            env["restore_previous"] = True
        value = register("database-url", EnvVarProvider, env)["value"]
        deploy = register("deploy", DeployProvider, {"service_id": SERVICE, "triggers": [digest(value)]})
        register("maintenance-off", MaintenanceProvider, {"service_id": SERVICE, "enabled": False,
                                                          "triggers": [window, deploy["deploy_id"]]})
    return program


PROVISION, SWITCH = prd_program("previous"), prd_program("stack")


@pytest.fixture
def world(render_key, pg_cluster, tmp_path):
    """localrender in real-database mode whose tasks service runs a real process; the engine model over it."""
    state = default_workspace()
    state["services"][0].update(deploys=[], **{"x-localrender": {
        "startCommand": start_command(write_app(tmp_path), "tasks")}})
    server = _serve(render_key, state=state, pg_admin_url=pg_cluster.url(), log_dir=tmp_path / "logs")
    make = _maker(server, render_key)
    classes = (PostgresProvider, EnvVarProvider, DeployProvider, MaintenanceProvider)
    providers = {cls: make(cls, timeout=60.0) for cls in classes}
    providers[DeployProvider].find_timeout = 10.0
    # Render allows 10 deploys/PATCHes per service a minute; these tests run up to four `up`s within seconds.
    server.limits.set("service_action", 100, 60)
    server.key = render_key
    yield server, EngineModel(providers)
    _finish(server)
    assert server.request_violations == []


def env_value(server) -> str:
    with server.ctx.store.lock:
        [entry] = [e for e in server.ctx.store.service(SERVICE)["envVars"] if e["key"] == "DATABASE_URL"]
        return entry["value"]


def live_deploys(server) -> list[dict]:
    with server.ctx.store.lock:
        return [dict(d) for d in server.ctx.store.service(SERVICE)["deploys"] if d["status"] == "live"]


def fill(url: str, table: str, rows: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, title text)").format(sql.Identifier(table)))
        with conn.cursor().copy(sql.SQL("COPY {} (id, title) FROM STDIN").format(sql.Identifier(table))) as copy:
            for n in range(rows):
                copy.write_row((n, f"task {n}"))


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


def page_on(server) -> bool:
    with server.ctx.store.lock:
        return bool(server.ctx.store.service(SERVICE)["serviceDetails"]["maintenanceMode"]["enabled"])


def stg_external_url(server, key: str) -> str:
    with RenderClient(key, server.base_url, sleep=short_sleep) as api:
        return api.get(f"/postgres/{STG_DB_ID}/connection-info")["externalConnectionString"]


def calls_of(engine: EngineModel, since: int, name: str) -> list[str]:
    return [method for resource, method in engine.calls[since:] if resource == name]


def test_reverting_the_switch_points_the_service_back_redeploys_and_keeps_both_databases(world):
    """`git revert` of the switch commit, then `pulumi up`: DATABASE_URL has its old value, a new deploy runs with
    it, the page wraps it, and no database is deleted.

    What `pulumi up` does with these resources is modelled by ``EngineModel`` (above), reduced to the provider
    calls the engine makes. The rules come from the engine's step generator and steps (pulumi/pulumi
    pkg/resource/deploy, ``step_generator.go`` and ``step.go``):

    - Resources register in program order. Each registration is ``check(olds, news)``, then for a new resource
      ``create``, for an existing one ``diff(id, old outputs, checked news)`` followed by nothing (no change),
      ``update``, or a replacement: the new one is created at once and the old one's ``delete`` (delete-replaced)
      waits until after the program has finished.
    - Resources the program no longer declares are deleted after every registration, newest first. A protected one
      is refused ("cannot be deleted because it is protected"), and the refusal already fails the preview, so
      `pulumi up` changes nothing. A protected resource cannot be replaced either.

    Both commits declare the same resources (``prd_program``); only ``databaseUrl`` differs. So the revert is:

    - database: check + diff, no change. Declared in both commits, it is never deleted or replaced.
    - maintenance-on: the window digest holds ``databaseUrl``: an update, the page goes on first.
    - database-url: ``restore_previous`` true again: an *update* (one PUT of the recorded previous value), in
      program order, before the deploy. (A removed resource would be deleted only after the program, i.e. after
      the new deploy: ``test_removing_the_env_var_resource_restores_the_url_only_after_the_new_deploy``.)
    - deploy: its trigger is a digest of the value the key now holds, so it changed: a replacement, i.e. a new
      deploy (awaited until live) now and the old one's ``delete`` (a no-op) at the end.
    - maintenance-off: its triggers hold the new deploy: an update, the page goes off last.
    """
    server, engine = world
    original = env_value(server)  # set outside Pulumi: prd's service still runs on the stg database
    stg_url = stg_external_url(server, server.key)
    table = f"rollback_proof_{secrets.token_hex(4)}"  # the stg database outlives this test on the session cluster
    fill(stg_url, table, 120)

    engine.up(PROVISION)  # commit A: the database is made, DATABASE_URL is only recorded
    prd = engine.state["db"].outs
    assert calls_of(engine, 0, "database-url") == ["check", "create"]
    assert env_value(server) == original and engine.state["database-url"].outs["previous_value"] == original
    a_deploy = engine.state["deploy"].id
    assert ask(server, SERVICE, "/db")["database"] != prd["database_name"] and not page_on(server)

    engine.up(SWITCH)  # commit B
    b_deploy = engine.state["deploy"].id
    fill(prd["external_connection_string"], table, 75)
    assert env_value(server) == prd["internal_connection_string"]
    assert ask(server, SERVICE, "/db")["database"] == prd["database_name"]

    revert = len(engine.calls)
    engine.up(PROVISION)  # `git revert` of B: A again

    assert engine.calls[revert:] == [
        ("db", "check"), ("db", "diff"),
        ("maintenance-on", "check"), ("maintenance-on", "diff"), ("maintenance-on", "update"),
        ("database-url", "check"), ("database-url", "diff"), ("database-url", "update"),
        ("deploy", "check"), ("deploy", "diff"), ("deploy", "create"),
        ("maintenance-off", "check"), ("maintenance-off", "diff"), ("maintenance-off", "update"),
        ("deploy", "delete")]
    assert env_value(server) == original and not page_on(server)
    [live] = live_deploys(server)
    assert live["id"] == engine.state["deploy"].id not in (a_deploy, b_deploy)
    assert engine.state["deploy"].outs["previous_deploy_id"] == b_deploy
    # The running process (a new one, started by the new deploy) really reaches the old database again.
    answer = ask(server, SERVICE, "/db")
    assert answer["database_url"] == original and answer["database"] != prd["database_name"]
    assert count(stg_url, table) == 120 and count(prd["external_connection_string"], table) == 75
    with server.ctx.store.lock:
        assert server.ctx.store.postgres(engine.state["db"].id)["status"] == "available"
        assert server.ctx.store.postgres(STG_DB_ID)["status"] == "available"
    assert calls_of(engine, 0, "db").count("delete") == 0 and calls_of(engine, 0, "db").count("create") == 1

    engine.up(SWITCH)  # and forward again: the recorded previous value is still the one from before the stack
    assert env_value(server) == prd["internal_connection_string"]
    assert engine.state["database-url"].outs["previous_value"] == original
    assert ask(server, SERVICE, "/db")["database"] == prd["database_name"]


def test_the_page_is_on_while_the_revert_changes_the_env_var_and_deploys(world):
    server, engine = world
    engine.up(PROVISION)
    engine.up(SWITCH)
    seen = []
    for cls in (EnvVarProvider, DeployProvider):
        provider = engine.providers[cls]
        for method in ("update", "create"):
            real = getattr(provider, method)

            def watched(*args, _real=real, _name=f"{cls.__name__}.{method}"):
                seen.append((_name, page_on(server)))
                return _real(*args)

            setattr(provider, method, watched)
    engine.up(PROVISION)
    assert seen == [("EnvVarProvider.update", True), ("DeployProvider.create", True)]
    assert not page_on(server)


def test_reverting_the_provision_commit_is_refused_before_anything_changes(world):
    """The provision commit is never reverted: its database is protected, so the preview already fails."""
    server, engine = world
    engine.up(PROVISION)
    url, deploys = env_value(server), live_deploys(server)
    engine.calls.clear()

    def before_provision(register):
        register("database-url", EnvVarProvider, {"service_id": SERVICE, "key": "DATABASE_URL",
                                                  "restore_previous": True})

    with pytest.raises(EngineRefused, match="'db' cannot be deleted because it is protected"):
        engine.up(before_provision)
    assert engine.calls == [] and env_value(server) == url and live_deploys(server) == deploys


def test_removing_the_env_var_resource_restores_the_url_only_after_the_new_deploy(world):
    """Why the rollback is an update of DATABASE_URL and not the removal of the resource: a removed resource is
    deleted (its previous value put back) at the end of the `up`, after the new deploy has started with B's URL."""
    server, engine = world
    original = env_value(server)
    engine.up(PROVISION)
    engine.up(SWITCH)
    prd = engine.state["db"].outs

    def switch_without_env_var(register):
        register("db", PostgresProvider, dict(PRD), **KEEP)
        register("deploy", DeployProvider, {"service_id": SERVICE, "triggers": ["rolled back"]})

    engine.up(switch_without_env_var)
    assert env_value(server) == original  # the delete put the previous value back ...
    assert ask(server, SERVICE, "/db")["database"] == prd["database_name"]  # ... after the deploy had started
