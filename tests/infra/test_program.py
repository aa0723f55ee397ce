"""The program (infra/__main__.py + infra/steps.py) under pulumi mocks, once per committed stack file.

Each stack's runs happen in a process of their own (tests/infra/program_mocked.py): the committed Pulumi.<stack>.yaml
plus the keys a user sets, and the refusals (missing config, guard rails) on top of the same file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import steps
from tests.infra.fix_config import APP, ROOT, STG_DB_ID, full, merge, read_stack_file, user_keys

COMMAND = "command:local:Command"
DYNAMIC = "pulumi-python:dynamic/render:"
PRD_CHAIN = ["db", "maintenance-on", "migrate-deploy", "import", "database-url", "deploy", "smoke", "maintenance-off"]
PROVISION_CHAIN = [name for name in PRD_CHAIN if name != "import"]
MOCK_INTERNAL = "postgresql://tasks:MockPassw0rd@dpg-mocked0000-a/tasks_ab12"  # program_mocked.FAKE_OUTPUTS
MOCK_PREVIOUS = "postgresql://old:OldPassw0rd@old/db"  # program_mocked.FAKE_OUTPUTS: what DATABASE_URL held before
SWITCH = dict(databaseUrl="stack", **{"import": {"enabled": True}})  # the switch commit on top of Pulumi.prd.yaml


def config(stack: str, source: Path, *, user: bool = True, **overrides) -> dict:
    values = read_stack_file(ROOT, stack)
    if user:
        values = merge(values, user_keys(stack, source))
    return merge(values, full(overrides))


def run_mocked(runs: list[dict]) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "tests.infra.program_mocked"], cwd=ROOT, input=json.dumps(runs),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


REFUSALS = {
    "stg": {
        "bare": dict(user=False),
        # Any existing file as the source: the refusal comes before anything reads it.
        "writes while shared": dict(migrateDeploy=True, appDir=str(APP),
                                    **{"import": {"enabled": True, "source": "Pulumi.yaml"}}),
        "bad formats": dict(serviceId="tasks", appUrl="not a url", ownerId="me"),
    },
    "prd": {
        "bare": dict(user=False),
        "adopts stg": dict(database={"adoptId": STG_DB_ID}),
        "stg's name": dict(database={"name": "test-codex-migration-stg-db"}),
        "import without window": dict(SWITCH, maintenanceWindow=False),
        "switch without import": dict(databaseUrl="stack"),
        "import without switch": {"import": {"enabled": True}},
        "switch without schema": dict(SWITCH, migrateDeploy=False),
        "unknown databaseUrl": dict(databaseUrl="new"),
        "free plan": dict(database={"plan": "free"}),
        "unprotected": dict(database={"protect": False, "retainOnDelete": False}),
        "open to the internet": dict(database={"ipAllowList": [{"cidrBlock": "0.0.0.0/0"}]}),
        "shared flag": dict(sharedWithPrd=True),
    },
}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("import") / "tasks.db"
    path.write_bytes(b"a SQLite snapshot stand-in: only its digest matters here")
    return path


def _runs(stack: str, source: Path) -> dict:
    """The committed stack (+ user keys), the stg after the split, then every refusal: one process."""
    named = {"committed": config(stack, source)}
    if stack == "prd":
        named["switch"] = config(stack, source, **SWITCH)
    if stack == "stg":
        named["after the split"] = config(stack, source, sharedWithPrd=False, migrateDeploy=True, appDir=str(APP))
    for name, overrides in REFUSALS[stack].items():
        named[name] = config(stack, source, **overrides)
    results = run_mocked([{"stack": stack, "config": values} for values in named.values()])
    return dict(zip(named, results))


@pytest.fixture(scope="module")
def stg(source) -> dict:
    return _runs("stg", source)


@pytest.fixture(scope="module")
def prd(source) -> dict:
    return _runs("prd", source)


def by_name(run: dict) -> dict:
    assert run["error"] is None, run["error"]
    return {r["name"]: r for r in run["resources"]}


def test_prd_switch_declares_the_whole_chain_with_its_types(prd):
    run = prd["switch"]
    assert [r["name"] for r in run["resources"]] == PRD_CHAIN  # registration order: each waited for the last
    assert run["outputs"]["cutover_chain"] == PRD_CHAIN
    types = {name: r["type"] for name, r in by_name(run).items()}
    assert types == {"db": DYNAMIC + "Postgres", "maintenance-on": DYNAMIC + "MaintenanceMode",
                     "migrate-deploy": COMMAND, "import": COMMAND, "database-url": DYNAMIC + "ServiceEnvVar",
                     "deploy": DYNAMIC + "ServiceDeploy", "smoke": COMMAND,
                     "maintenance-off": DYNAMIC + "MaintenanceMode"}


def test_committed_prd_provisions_without_import_and_keeps_the_previous_database_url(prd):
    run = prd["committed"]
    resources = by_name(run)
    assert list(resources) == run["outputs"]["cutover_chain"] == PROVISION_CHAIN
    env = resources["database-url"]
    assert env["inputs"]["restore_previous"] is True and env["inputs"].get("value") is None
    assert env["secret_inputs"] == ["__provider"]
    assert set(env["additional_secret_outputs"]) >= {"value", "previous_value"}
    assert run["outputs"]["database_url_mode"] == "previous"
    # The deploy follows the value the key keeps (the recorded previous one), by its digest.
    assert resources["deploy"]["inputs"]["triggers"] == ["sha256:" + hashlib.sha256(MOCK_PREVIOUS.encode()).hexdigest()]
    assert "previous_database_url" in run["secret_outputs"]


def test_the_switch_is_the_same_resources_with_another_env_value_not_new_ones(prd):
    provision, switch = by_name(prd["committed"]), by_name(prd["switch"])
    assert set(provision) == set(switch) - {"import"}
    assert switch["database-url"]["inputs"]["restore_previous"] is False
    for name in ("db", "database-url", "deploy", "maintenance-on", "maintenance-off"):
        assert (provision[name]["type"], provision[name]["protect"]) == (switch[name]["type"], switch[name]["protect"])
    assert provision["db"]["inputs"] == switch["db"]["inputs"]  # the protected database: nothing to replace
    # A switch (or its revert) opens a maintenance window of its own.
    assert provision["maintenance-on"]["inputs"]["triggers"] != switch["maintenance-on"]["inputs"]["triggers"]
    assert provision["deploy"]["inputs"]["triggers"] != switch["deploy"]["inputs"]["triggers"]


def test_the_smoke_compares_counts_only_with_the_database_the_service_uses(prd):
    provision = by_name(prd["committed"])["smoke"]
    assert provision["inputs"]["environment"] == {"DATABASE_URL": ""} and provision["secret_inputs"] == []
    switch = by_name(prd["switch"])["smoke"]
    assert switch["secret_inputs"] == ["environment"]
    assert "MockPassw0rd" in switch["inputs"]["environment"]["DATABASE_URL"]


@pytest.mark.parametrize("stack, case", [("stg", "committed"), ("prd", "committed"), ("prd", "switch")])
def test_each_step_depends_on_the_one_before(stack, case, request):
    run = request.getfixturevalue(stack)[case]
    chain = run["outputs"]["cutover_chain"]
    resources = by_name(run)
    for before, step in zip(chain, chain[1:]):
        assert before in resources[step]["dependencies"], (step, resources[step]["dependencies"])


def test_stg_shared_with_prd_declares_no_write_steps_and_no_window(stg):
    resources = by_name(stg["committed"])
    assert list(resources) == ["db", "database-url", "deploy", "smoke"]
    assert [n for n, r in resources.items() if r["type"] == COMMAND] == ["smoke"]


def test_stg_after_the_split_migrates_its_own_database_but_imports_nothing(stg):
    resources = by_name(stg["after the split"])
    assert list(resources) == ["db", "migrate-deploy", "database-url", "deploy", "smoke"]
    assert "migrate-deploy" in resources["database-url"]["dependencies"]


def test_prd_database_is_protected_and_retained_and_stg_is_adopted_and_kept(prd, stg):
    db = by_name(prd["committed"])["db"]
    assert db["protect"] and db["retain_on_delete"]
    assert db["inputs"]["name"] == "tasks-prd-db" and db["inputs"]["plan"] == "basic_1gb"
    assert not db["inputs"].get("adopt_id")
    stg_db = by_name(stg["committed"])["db"]
    assert stg_db["inputs"]["adopt_id"] == STG_DB_ID and stg_db["protect"] and stg_db["retain_on_delete"]


def test_connection_strings_and_the_env_value_are_secret(prd):
    run = prd["switch"]
    resources = by_name(run)
    assert set(resources["db"]["additional_secret_outputs"]) >= {"internal_connection_string",
                                                                 "external_connection_string"}
    env = resources["database-url"]
    assert "value" in env["secret_inputs"] and env["inputs"]["value"] == MOCK_INTERNAL
    assert set(env["additional_secret_outputs"]) >= {"value", "previous_value"}
    assert set(run["secret_outputs"]) == {"database_internal_url", "database_external_url", "previous_database_url"}
    assert run["outputs"]["database_id"] == "db-id" and run["outputs"]["deploy_id"] == "dep-mocked"
    assert run["outputs"]["service_url"] == "https://tasks-prd.onrender.com"


@pytest.mark.parametrize("stack, case", [("stg", "committed"), ("prd", "committed"), ("prd", "switch")])
def test_commands_get_credentials_only_through_a_secret_environment_and_log_nothing(stack, case, request):
    commands = [r for r in request.getfixturevalue(stack)[case]["resources"] if r["type"] == COMMAND]
    assert commands
    for command in commands:
        inputs = command["inputs"]
        assert "DATABASE_URL" in inputs["environment"]
        assert command["secret_inputs"] == (["environment"] if inputs["environment"]["DATABASE_URL"] else [])
        assert inputs["logging"] == "none" and inputs["addPreviousOutputInEnv"] is False
        assert command["additional_secret_outputs"] == ["stdout", "stderr"]
        assert "MockPassw0rd" not in inputs["create"] and "postgresql://" not in inputs["create"]
        assert inputs["create"].split()[0].startswith("/") and inputs["dir"].startswith("/")
        assert inputs["update"] == steps.NOTHING_TO_REDO  # only triggers re-run a step
        assert command["replace_on_changes"] == ["triggers[*]"]


def test_python_steps_use_the_projects_interpreter(prd):
    resources = by_name(prd["switch"])
    for name in ("import", "smoke"):
        assert resources[name]["inputs"]["create"].startswith(f"{sys.executable} -m migrate {name} ")
        assert resources[name]["inputs"]["dir"] == str(ROOT)
    assert resources["migrate-deploy"]["inputs"]["create"] == f"{APP}/node_modules/.bin/prisma migrate deploy"
    assert resources["migrate-deploy"]["inputs"]["dir"] == str(APP)


def test_each_step_is_triggered_by_its_real_inputs_only(prd, source):
    resources = by_name(prd["switch"])
    trigger = {name: r["inputs"].get("triggers") for name, r in resources.items()}
    assert trigger["migrate-deploy"] == ["db-id", steps.migrations_digest(APP)]
    assert trigger["import"] == ["db-id", "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()]
    assert trigger["smoke"] == ["https://tasks-prd.onrender.com", "dep-mocked"]
    # The deploy follows the env value by its digest: the value itself never reaches the triggers.
    assert trigger["deploy"] == ["sha256:" + hashlib.sha256(MOCK_INTERNAL.encode()).hexdigest()]
    assert resources["deploy"]["secret_inputs"] == ["__provider"]
    window = trigger["maintenance-on"]
    assert window.startswith("sha256:") and trigger["maintenance-off"] == [window, "smoke-id"]


@pytest.mark.parametrize("case", ["committed", "switch"])
def test_the_window_turns_the_page_on_before_the_writes_and_off_after_the_smoke(prd, case):
    resources = by_name(prd[case])
    assert resources["maintenance-on"]["inputs"]["enabled"] is True
    assert resources["maintenance-off"]["inputs"]["enabled"] is False
    assert "maintenance-on" in resources["migrate-deploy"]["dependencies"]
    assert "smoke" in resources["maintenance-off"]["dependencies"]


STG_BARE = [
    "renderApiKey is missing: a Render API key, kept encrypted in the stack file; "
    "fix: pulumi config set --secret renderApiKey --stack stg",
    "ownerId is missing: a Render owner id (tea-... for a team, usr-... for a user); "
    "fix: pulumi config set ownerId tea-xxxxxxxxxxxxxxxxxxxx --stack stg",
    "serviceId is missing: a Render service id (srv-...); fix: pulumi config set serviceId srv-xxxxxxxxxxxxxxxxxxxx "
    "--stack stg",
    "appUrl is missing: an http(s) URL; fix: pulumi config set appUrl https://tasks.onrender.com --stack stg",
]
PRD_BARE_EXTRA = [
    "appDir is missing: the Prisma app directory, needed because migrateDeploy is true; "
    "fix: pulumi config set appDir ../tasks-app --stack prd",
    "database.ipAllowList is missing: prd must declare who may connect from outside Render",
]
REFUSED = {
    ("stg", "writes while shared"): [
        "migrateDeploy must be false: while sharedWithPrd is true, stg's database is also prd's live database, so "
        "stg must not write to it (`prisma migrate deploy` would change prd's schema); "
        "fix: pulumi config set migrateDeploy false --stack stg",
        "import.enabled must be false: while sharedWithPrd is true, stg's database is also prd's live database, so "
        "stg must not write to it (an import would overwrite prd's data); "
        "fix: pulumi config set --path import.enabled false --stack stg"],
    ("stg", "bad formats"): [
        "ownerId must be a Render owner id (tea-... for a team, usr-... for a user), got 'me'",
        "serviceId must be a Render service id (srv-...), got 'tasks'",
        "appUrl must be an http(s) URL, got 'not a url'"],
    ("prd", "adopts stg"): [
        f"database.adoptId {STG_DB_ID} is the stg database (Pulumi.stg.yaml): prd must never adopt or point at it "
        "(stg data would leak into prd and stg would write prd's data); prd gets its own database; "
        "fix: pulumi config rm --path database.adoptId --stack prd"],
    ("prd", "stg's name"): [
        "database.name 'test-codex-migration-stg-db' is the stg database's name (Pulumi.stg.yaml): the provider "
        "would take that database over instead of creating prd's own; "
        "fix: pulumi config set --path database.name tasks-prd-db --stack prd"],
    ("prd", "import without window"): [
        "import.enabled needs maintenanceWindow true on prd: the app must not write while its data is copied; "
        "fix: pulumi config set maintenanceWindow true --stack prd"],
    ("prd", "switch without import"): [
        "databaseUrl stack needs import.enabled true on prd: the new database holds no data until the import copies "
        "it, so the app would serve an empty database; the import and the switch go in one commit; "
        "fix: pulumi config set --path import.enabled true --stack prd (or keep "
        "pulumi config set databaseUrl previous --stack prd)"],
    ("prd", "import without switch"): [
        "import.enabled needs databaseUrl stack on prd: the import and the switch go in one `pulumi up` (one "
        "maintenance window), or every write the app makes on its old database before a later switch would be "
        "missing from the new one; fix: pulumi config set databaseUrl stack --stack prd (or "
        "pulumi config set --path import.enabled false --stack prd)"],
    ("prd", "switch without schema"): [
        "databaseUrl stack needs migrateDeploy true: prd creates its database, and without `prisma migrate deploy` "
        "the service would be pointed at a database without the app's schema; "
        "fix: pulumi config set migrateDeploy true --stack prd (or keep "
        "pulumi config set databaseUrl previous --stack prd)"],
    ("prd", "unknown databaseUrl"): [
        "databaseUrl must be one of stack, previous, got 'new'; fix: pulumi config set databaseUrl stack --stack prd"],
    ("prd", "free plan"): [
        "database.plan must be a paid plan on prd (Starter or better, e.g. basic_1gb), got 'free': free databases "
        "expire and have no backups; fix: pulumi config set --path database.plan basic_1gb --stack prd"],
    ("prd", "unprotected"): [
        "database.protect must be true on prd: no `pulumi up` or `destroy` may delete prd's data; "
        "fix: pulumi config set --path database.protect true --stack prd",
        "database.retainOnDelete must be true on prd: no `pulumi up` or `destroy` may delete prd's data; "
        "fix: pulumi config set --path database.retainOnDelete true --stack prd"],
    ("prd", "open to the internet"): [
        "database.ipAllowList[0].cidrBlock is 0.0.0.0/0, which opens prd's database to the whole internet; list the "
        "addresses that need it instead; fix: pulumi config set --path 'database.ipAllowList[0].cidrBlock' "
        "203.0.113.7/32 --stack prd"],
    ("prd", "shared flag"): [
        "sharedWithPrd is a flag of the stg stack (true while prd still points at the stg database) and means "
        "nothing on prd; fix: pulumi config set sharedWithPrd false --stack prd"],
}


def problem_lines(run: dict, stack: str) -> list[str]:
    """The program's refusal: a ConfigError listing its problems, with no resource declared."""
    assert run["error"] is not None and run["error"]["type"] == "ConfigError", run["error"]
    assert run["resources"] == []
    head, *lines = run["error"]["message"].splitlines()
    assert head.startswith(f"stack {stack!r}: the configuration has ") and head.endswith("; nothing was changed:")
    assert all(line.startswith("  - ") for line in lines)
    return [line[4:] for line in lines]


def test_a_bare_stg_stack_names_each_missing_key_with_its_fix(stg):
    assert problem_lines(stg["bare"], "stg") == STG_BARE


def test_a_bare_prd_stack_names_each_missing_key_with_its_fix(prd):
    lines = problem_lines(prd["bare"], "prd")
    assert lines[:4] == [line.replace("--stack stg", "--stack prd") for line in STG_BARE]
    assert lines[4] == PRD_BARE_EXTRA[0] and lines[5].startswith(PRD_BARE_EXTRA[1]) and len(lines) == 6
    assert lines[5].endswith("fix: pulumi config set --path 'database.ipAllowList[0].cidrBlock' 203.0.113.7/32 "
                             "--stack prd")


@pytest.mark.parametrize("stack, case", sorted(REFUSED))
def test_the_program_refuses_a_broken_guard_rail_before_declaring_anything(stack, case, request):
    lines = problem_lines(request.getfixturevalue(stack)[case], stack)
    assert [line[:len(want)] for line, want in zip(lines, REFUSED[stack, case])] == REFUSED[stack, case]
    assert len(lines) == len(REFUSED[stack, case])


def test_refusals_never_show_the_api_key(stg, prd):
    for run in [*stg.values(), *prd.values()]:
        assert "rnd_Sup3rSecretTestKey0000" not in json.dumps(run.get("error"))


def test_the_program_finds_its_packages_when_run_as_pulumi_runs_it(tmp_path):
    # The language host runs `runpy.run_path("infra/")` from the project dir with only infra/ on sys.path;
    # -P keeps the current directory off sys.path too, so the program must add the project root itself.
    script = (
        "import runpy, pulumi\n"
        "class M(pulumi.runtime.Mocks):\n"
        "    def new_resource(self, args): return 'id', {}\n"
        "    def call(self, args): return {}\n"
        "pulumi.runtime.set_mocks(M(), project='tasks-cutover', stack='prd', preview=False)\n"
        "try:\n"
        "    runpy.run_path('infra', run_name='__main__')\n"
        "except pulumi.RunError as exc:\n"
        "    print(type(exc).__name__, str(exc).splitlines()[0])\n")
    done = subprocess.run([sys.executable, "-P", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    # No config at all: the program got as far as its config check, so every import worked.
    assert done.stdout.startswith("ConfigError stack 'prd': the configuration has "), done.stdout
