"""Config rollback proved on the providers: config A, then B, then A again, against localrender with real databases."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg
import pytest
from psycopg import sql

from infra.render.deploy import DeployProvider
from infra.render.env_var import EnvVarProvider
from infra.render.postgres import PostgresProvider
from localrender.seed import OWNER_ID, STG_DB_ID, TASKS_SERVICE_ID as SERVICE, default_workspace
from tests.fix_localrender import _finish, _serve
from tests.infra.fix_providers import _maker
from tests.infra.service_app import ask, start_command, write_app

STG = {"name": "test-codex-migration-stg-db", "owner_id": OWNER_ID, "plan": "free", "version": "15",
       "adopt_id": STG_DB_ID}
PRD = {"name": "tasks-prd-db", "owner_id": OWNER_ID, "plan": "basic_1gb", "version": "15",
       "database_name": "tasks", "database_user": "tasks"}
KEEP = {"protect": True, "retain_on_delete": True}  # what Pulumi.prd.yaml / Pulumi.stg.yaml declare


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


def fingerprint(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def point_service_at(register, db: dict) -> None:
    url = db["internal_connection_string"]
    register("DATABASE_URL", EnvVarProvider, {"service_id": SERVICE, "key": "DATABASE_URL", "value": url})
    register("deploy", DeployProvider, {"service_id": SERVICE, "triggers": [fingerprint(url)]})


def config_a(register) -> None:
    point_service_at(register, register("stg-db", PostgresProvider, dict(STG), **KEEP))


def config_b(register) -> None:
    register("stg-db", PostgresProvider, dict(STG), **KEEP)
    point_service_at(register, register("prd-db", PostgresProvider, dict(PRD), **KEEP))


def config_a_keeping_prd_db(register) -> None:
    """A, as the revert must leave it: the protected prd database stays declared."""
    stg = register("stg-db", PostgresProvider, dict(STG), **KEEP)
    register("prd-db", PostgresProvider, dict(PRD), **KEEP)
    point_service_at(register, stg)


@pytest.fixture
def world(render_key, pg_cluster, tmp_path):
    """localrender in real-database mode whose tasks service runs a real process; the engine model over it."""
    state = default_workspace()
    state["services"][0].update(deploys=[], **{"x-localrender": {
        "startCommand": start_command(write_app(tmp_path), "tasks")}})
    server = _serve(render_key, state=state, pg_admin_url=pg_cluster.url(), log_dir=tmp_path / "logs")
    make = _maker(server, render_key)
    providers = {cls: make(cls, timeout=60.0) for cls in (PostgresProvider, EnvVarProvider, DeployProvider)}
    providers[DeployProvider].find_timeout = 10.0
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


def test_reverting_to_a_points_the_service_back_redeploys_and_keeps_every_database(world):
    """Reverting to A points DATABASE_URL back, deploys anew, and deletes no database.

    What `pulumi up` does with these resources is modelled by ``EngineModel`` (above), reduced to the provider calls the
    engine makes. The rules come from the engine's step generator and steps (pulumi/pulumi pkg/resource/deploy,
    ``step_generator.go`` and ``step.go``):

    - Resources register in program order. Each registration is ``check(olds, news)``, then for a new resource
      ``create``, for an existing one ``diff(id, old outputs, checked news)`` followed by nothing (no change),
      ``update``, or a replacement: the new one is created at once and the old one's ``delete`` (delete-replaced)
      waits until after the program has finished.
    - Resources the program no longer declares are deleted after every registration, newest first. A protected one
      is refused ("cannot be deleted because it is protected"), and the refusal already fails the preview, so
      `pulumi up` changes nothing. A ``retain_on_delete`` one leaves the state without its provider's ``delete``
      being called. A protected resource cannot be replaced either.

    Config A is prd before the cutover: the stg database, adopted (``protect``, ``retain_on_delete``), with the
    service's ``DATABASE_URL`` (a ServiceEnvVar) set to its internal URL, and a ServiceDeploy whose triggers hold a
    fingerprint of that URL. Config B adds the dedicated prd database (created; ``protect``, ``retain_on_delete``),
    points ``DATABASE_URL`` at it, and so changes the deploy's triggers.

    Reverting to A, step by step:

    - stg database: check + diff, no change: no other call.
    - prd database: because it is protected it can never leave the program (the engine would refuse the delete
      and fail the preview: ``test_a_revert_that_drops_the_protected_database_is_refused_before_anything_changes``).
      The reverted stack config must therefore keep declaring it; then it is check + diff, no change: its provider's
      ``delete`` is never called. (Were it only ``retain_on_delete``, the engine would drop it from the state,
      again without calling ``delete``.)
    - ServiceEnvVar: check + diff, a new value: ``update`` (one PUT of the key). The resource must stay declared:
      removed, it would be deleted (its previous value put back) only after the new deploy, which would then run
      with B's URL (``test_removing_the_env_var_resource_restores_the_url_only_after_the_new_deploy``).
    - ServiceDeploy: check + diff, new triggers: a replacement, so ``create`` (a new deploy, awaited until live)
      now and the old deploy's ``delete`` (a no-op) at the end.
    """
    server, engine = world
    table = f"rollback_proof_{secrets.token_hex(4)}"  # the stg database outlives this test on the session cluster

    engine.up(config_a)
    stg = engine.state["stg-db"].outs
    a_deploy = engine.state["deploy"].id
    fill(stg["external_connection_string"], table, 120)
    assert ask(server, SERVICE, "/db")["database"] == stg["database_name"]

    engine.up(config_b)
    prd = engine.state["prd-db"].outs
    b_deploy = engine.state["deploy"].id
    fill(prd["external_connection_string"], table, 75)
    assert env_value(server) == prd["internal_connection_string"]
    assert ask(server, SERVICE, "/db")["database"] == prd["database_name"]

    engine.calls.clear()
    engine.up(config_a_keeping_prd_db)

    assert engine.calls == [("stg-db", "check"), ("stg-db", "diff"), ("prd-db", "check"), ("prd-db", "diff"),
                            ("DATABASE_URL", "check"), ("DATABASE_URL", "diff"), ("DATABASE_URL", "update"),
                            ("deploy", "check"), ("deploy", "diff"), ("deploy", "create"), ("deploy", "delete")]
    assert env_value(server) == stg["internal_connection_string"]
    [live] = live_deploys(server)
    assert live["id"] == engine.state["deploy"].id not in (a_deploy, b_deploy)
    assert engine.state["deploy"].outs["previous_deploy_id"] == b_deploy
    assert ask(server, SERVICE, "/db")["database"] == stg["database_name"]  # the new release reaches stg again
    for name, rows in (("stg-db", 120), ("prd-db", 75)):
        db = engine.state[name]
        assert count(db.outs["external_connection_string"], table) == rows
        with server.ctx.store.lock:
            assert server.ctx.store.postgres(db.id)["status"] == "available"
    assert engine.state["stg-db"].id == STG_DB_ID


def test_a_revert_that_drops_the_protected_database_is_refused_before_anything_changes(world):
    server, engine = world
    engine.up(config_a)
    engine.up(config_b)
    url, deploys = env_value(server), live_deploys(server)
    engine.calls.clear()
    with pytest.raises(EngineRefused, match="'prd-db' cannot be deleted because it is protected"):
        engine.up(config_a)
    assert engine.calls == [] and env_value(server) == url and live_deploys(server) == deploys


def test_removing_the_env_var_resource_restores_the_url_only_after_the_new_deploy(world):
    server, engine = world
    original = env_value(server)  # set outside Pulumi: fromDatabase stg
    engine.up(config_b)
    prd = engine.state["prd-db"].outs

    def config_without_env_var(register):
        register("stg-db", PostgresProvider, dict(STG), **KEEP)
        register("prd-db", PostgresProvider, dict(PRD), **KEEP)
        register("deploy", DeployProvider, {"service_id": SERVICE, "triggers": ["rolled back"]})

    engine.up(config_without_env_var)
    assert env_value(server) == original  # the delete put the previous value back ...
    assert ask(server, SERVICE, "/db")["database"] == prd["database_name"]  # ... after the deploy had started
