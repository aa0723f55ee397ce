"""Tests for infra/config.py: the committed stack files load, and missing or malformed config fails clearly."""

from __future__ import annotations

import asyncio
import contextvars
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra.config import DEFAULTS, PROJECT, ConfigError, StackConfig, fix, load_config, read_stack_file
from infra.render import _postgres_rules as rules
from infra.render.postgres import PostgresArgs
from tests.infra.fix_config import (API_KEY, APP, ROOT, STG_DB_ID, merge, only_problem, problems,  # noqa: F401
                                    source, stack_config, user_keys)


# --- the committed stack files -------------------------------------------------------------------------------

def test_committed_stg_file_loads_and_adopts_the_existing_database(stack_config):
    config = load_config(stack_config("stg"), "stg")
    db = config.database
    assert (db.name, db.adopt_id, db.plan, db.version, db.region) == (
        "test-codex-migration-stg-db", STG_DB_ID, "free", "15", "oregon")
    assert config.shared_with_prd and not config.migrate_deploy and not config.data_import.enabled
    assert db.protect and db.retain_on_delete and not config.is_production
    assert config.app_dir is None  # not needed: stg runs no migrations while it shares the database


def test_committed_prd_file_loads_with_its_own_protected_paid_database(stack_config, source):
    config = load_config(stack_config("prd"), "prd")
    db = config.database
    assert config.is_production and config.maintenance_window and config.migrate_deploy
    assert db.adopt_id is None and db.name != "test-codex-migration-stg-db"
    assert db.plan in rules.PLANS and db.plan != "free" and (db.version, db.region) == ("15", "oregon")
    assert db.protect and db.retain_on_delete
    assert db.ip_allow_list == ({"cidr_block": "203.0.113.7/32", "description": "ops runner"},)
    assert config.app_dir == APP and config.service_id == "srv-d4mdtasksprd0000000"
    assert config.render_api_url is None
    # As committed, prd is the provision commit: its database exists, the service stays on its old one.
    assert config.database_url == "previous" and not config.uses_stack_database
    assert not config.data_import.enabled and config.data_import.source == source


def test_the_switch_commit_on_top_of_the_committed_prd_file_loads(stack_config, source):
    config = load_config(stack_config("prd", databaseUrl="stack", **{"import": {"enabled": True}}), "prd")
    assert config.uses_stack_database and config.data_import.enabled and config.data_import.source == source


def test_database_url_defaults_to_the_stacks_own_database(stack_config):
    config = load_config(stack_config("stg"), "stg")
    assert f"{PROJECT}:databaseUrl" not in stack_config("stg") and config.database_url == "stack"
    assert config.uses_stack_database
    assert load_config(stack_config("stg", databaseUrl="previous"), "stg").database_url == "previous"


@pytest.mark.parametrize("value", ["Stack", "old", "", True])
def test_database_url_is_one_of_stack_or_previous(stack_config, value):
    problem = only_problem(stack_config("stg", databaseUrl=value), "stg")
    assert problem.startswith("databaseUrl ") and problem.endswith(
        "fix: pulumi config set databaseUrl stack --stack stg")
    assert "one of stack, previous" in problem


def test_postgres_args_and_options_carry_the_declared_database(stack_config):
    config = load_config(stack_config("prd"), "prd")
    args = config.postgres_args()
    assert isinstance(args, PostgresArgs)
    assert (args.name, args.owner_id, args.plan, args.version, args.database_name, args.adopt_id) == (
        "tasks-prd-db", "tea-d4mdlocalrenderteam0", "basic_1gb", "15", "tasks", None)
    assert args.ip_allow_list == [{"cidr_block": "203.0.113.7/32", "description": "ops runner"}]
    assert not rules.field_errors(rules.normalize({f.name: getattr(args, f.name) for f in fields(args)}))
    opts = config.database.resource_options()
    assert opts.protect is True and opts.retain_on_delete is True


def test_pulumi_yaml_schema_matches_the_loader_defaults_and_marks_the_api_key_secret():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT and project["main"] == "infra/"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    schema = project["config"]
    assert {k: v["default"] for k, v in schema.items() if "default" in v} == DEFAULTS
    assert [k for k, v in schema.items() if v.get("secret")] == ["renderApiKey"]
    assert "default" not in schema["renderApiKey"]  # a secret with a default fails the CLI's "must be encrypted"
    assert all(v["type"] in ("string", "boolean", "integer", "array") and v.get("description")
               for v in schema.values())


def test_stack_files_commit_no_secrets_and_none_of_the_unknown_values():
    for stack in ("stg", "prd"):
        config = read_stack_file(ROOT, stack)
        for key in ("renderApiKey", "ownerId", "serviceId", "appUrl"):
            assert f"{PROJECT}:{key}" not in config, (stack, key)


# --- missing config ------------------------------------------------------------------------------------------

def test_committed_stg_file_alone_names_each_missing_key_with_its_fix():
    found = problems(read_stack_file(ROOT, "stg"), "stg")
    assert found == [
        "renderApiKey is missing: a Render API key, kept encrypted in the stack file; "
        "fix: pulumi config set --secret renderApiKey --stack stg",
        "ownerId is missing: a Render owner id (tea-... for a team, usr-... for a user); "
        "fix: pulumi config set ownerId tea-xxxxxxxxxxxxxxxxxxxx --stack stg",
        "serviceId is missing: a Render service id (srv-...); "
        "fix: pulumi config set serviceId srv-xxxxxxxxxxxxxxxxxxxx --stack stg",
        "appUrl is missing: an http(s) URL; fix: pulumi config set appUrl https://tasks.onrender.com --stack stg",
    ]


def test_committed_prd_file_alone_also_asks_for_app_dir_and_allow_list():
    with pytest.raises(ConfigError) as caught:
        load_config(read_stack_file(ROOT, "prd"), "prd")
    message = str(caught.value)
    assert message.startswith("stack 'prd': the configuration has 6 problems; nothing was changed:\n  - ")
    for command in ("pulumi config set --secret renderApiKey --stack prd",
                    "pulumi config set ownerId tea-xxxxxxxxxxxxxxxxxxxx --stack prd",
                    "pulumi config set serviceId srv-xxxxxxxxxxxxxxxxxxxx --stack prd",
                    "pulumi config set appUrl https://tasks.onrender.com --stack prd",
                    "pulumi config set appDir ../tasks-app --stack prd",
                    "pulumi config set --path 'database.ipAllowList[0].cidrBlock' 203.0.113.7/32 --stack prd"):
        assert command in message
    # import.source is asked for by the switch commit, which enables the import.
    switch = {**read_stack_file(ROOT, "prd"), f"{PROJECT}:databaseUrl": "stack",
              f"{PROJECT}:import": {"enabled": True}}
    with pytest.raises(ConfigError) as caught:
        load_config(switch, "prd")
    assert "fix: pulumi config set --path import.source backups/tasks.db --stack prd" in str(caught.value)


def test_an_empty_config_names_the_database_fields_with_path_commands():
    found = problems({}, "stg")
    assert ("database.name is missing: the database's name in Render; "
            "fix: pulumi config set --path database.name tasks-db --stack stg") in found
    assert any(p.startswith("database.plan is missing: a Render Postgres plan (free, starter,") and
               p.endswith("fix: pulumi config set --path database.plan basic_1gb --stack stg") for p in found)
    assert ("appDir is missing: the Prisma app directory, needed because migrateDeploy is true; "
            "fix: pulumi config set appDir ../tasks-app --stack stg") in found


def test_no_message_or_repr_ever_contains_the_api_key(stack_config):
    values = stack_config("prd", ownerId="nope", database={"plan": "free", "protect": False})
    with pytest.raises(ConfigError) as caught:
        load_config(values, "prd")
    assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)
    assert API_KEY not in repr(load_config(stack_config("prd"), "prd"))


# --- formats and enums ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, expected", [
    ({"ownerId": "team-123"}, "ownerId must be a Render owner id (tea-... for a team, usr-... for a user), got "
                              "'team-123'; fix: pulumi config set ownerId tea-xxxxxxxxxxxxxxxxxxxx --stack stg"),
    ({"serviceId": "dpg-abcdef"}, "serviceId must be a Render service id (srv-...), got 'dpg-abcdef'; "
                                  "fix: pulumi config set serviceId srv-xxxxxxxxxxxxxxxxxxxx --stack stg"),
    ({"appUrl": "tasks.onrender.com"}, "appUrl must be an http(s) URL, got 'tasks.onrender.com'; "
                                       "fix: pulumi config set appUrl https://tasks.onrender.com --stack stg"),
    ({"renderApiUrl": "ftp://x"}, "renderApiUrl must be an http(s) URL, got 'ftp://x'; "
                                  "fix: pulumi config set renderApiUrl https://api.render.com/v1 --stack stg"),
    ({"database": {"adoptId": "dpg-d4mdlojuibrs738gqn00"}},
     "database.adoptId must be a Render Postgres id (dpg-...-a), got 'dpg-d4mdlojuibrs738gqn00'; "
     "fix: pulumi config set --path database.adoptId dpg-xxxxxxxxxxxxxxxxxxxx-a --stack stg"),
    ({"database": {"region": "mars"}}, "database.region must be a Render region (frankfurt, oregon, ohio, "
                                       "singapore, virginia), got 'mars'; "
                                       "fix: pulumi config set --path database.region oregon --stack stg"),
    ({"database": {"version": 10}}, "database.version must be a PostgreSQL version (11, 12, 13, 14, 15, 16, 17), "
                                    "got '10'; fix: pulumi config set --path database.version 15 --stack stg"),
    ({"database": {"diskSizeGb": 7}}, "database.diskSizeGb must be 1 or a multiple of 5 (GB), got 7; "
                                      "fix: pulumi config set --path database.diskSizeGb 15 --stack stg"),
    ({"database": {"ipAllowList": [{"cidrBlock": "10.0.0.300/8"}]}},
     "database.ipAllowList[0].cidrBlock must be a CIDR block like 203.0.113.7/32, got '10.0.0.300/8'; "
     "fix: pulumi config set --path 'database.ipAllowList[0].cidrBlock' 203.0.113.7/32 --stack stg"),
    ({"database": {"databaseUser": "Tasks-User"}},
     "database.databaseUser must be a PostgreSQL name (lowercase letters, digits, underscores), got "
     "'Tasks-User'; fix: pulumi config set --path database.databaseUser tasks --stack stg"),
    ({"migrateDeploy": "yes"}, "migrateDeploy must be true or false, got 'yes'; "
                               "fix: pulumi config set migrateDeploy true --stack stg"),
])
def test_bad_values_are_refused_with_the_key_and_its_fix(stack_config, overrides, expected):
    assert only_problem(stack_config("stg", **overrides), "stg") == expected


def test_an_unknown_plan_lists_the_plans_render_accepts(stack_config):
    problem = only_problem(stack_config("stg", database={"plan": "basic_2gb"}), "stg")
    assert problem.startswith("database.plan must be a Render Postgres plan (free, starter, standard,")
    assert "basic_1gb" in problem and problem.endswith(
        "got 'basic_2gb'; fix: pulumi config set --path database.plan basic_1gb --stack stg")


def test_database_must_be_a_mapping(stack_config):
    found = problems({**stack_config("stg"), f"{PROJECT}:database": "test-codex-migration-stg-db"}, "stg")
    assert found[0] == ("database must be an object (a YAML mapping), got str; "
                           "fix: edit tasks-cutover:database in Pulumi.stg.yaml")


def test_app_dir_must_hold_prisma_migrations(stack_config, tmp_path):
    problem = only_problem(stack_config("prd", appDir=str(tmp_path)), "prd")
    assert problem == (f"appDir must be a Prisma app directory with prisma/migrations; {tmp_path} has none; "
                       f"fix: pulumi config set appDir ../tasks-app --stack prd")


def test_import_source_must_exist(stack_config, tmp_path):
    missing = tmp_path / "gone.db"
    problem = only_problem(stack_config("prd", **{"import": {"source": str(missing)}}), "prd")
    assert problem == (f"import.source does not exist: {missing}; "
                       f"fix: pulumi config set --path import.source backups/tasks.db --stack prd")


# --- pulumi.Config, as in the program ------------------------------------------------------------------------

def _engine_config(values: dict[str, Any]) -> dict[str, str]:
    """Config as the engine hands it to the program: every value a string, structured ones as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def _load_in_engine_context(values: dict[str, Any], stack: str) -> tuple[StackConfig, bool, str]:
    """load_config(pulumi.Config(...)) in a copied context, so the global config of other tests is untouched."""
    def run() -> tuple[StackConfig, bool, str]:
        pulumi.runtime.set_all_config(_engine_config(values), [f"{PROJECT}:renderApiKey"])

        async def load() -> tuple[StackConfig, bool, str]:
            config = load_config(pulumi.Config(PROJECT), stack)
            return config, await config.render_api_key.is_secret(), await config.render_api_key.future()
        return asyncio.run(load())
    return contextvars.copy_context().run(run)


def test_pulumi_config_loads_like_the_stack_file_and_keeps_the_key_secret(stack_config):
    config, secret, key = _load_in_engine_context(stack_config("prd"), "prd")
    assert secret and key == API_KEY
    assert config.database == load_config(stack_config("prd"), "prd").database
    assert config.maintenance_window is True and config.migrate_deploy is True


def test_pulumi_config_reports_the_same_guard_rails(stack_config):
    with pytest.raises(ConfigError) as caught:
        _load_in_engine_context(stack_config("stg", migrateDeploy="true", appDir=str(APP)), "stg")
    assert [p.split(":", 1)[0] for p in caught.value.problems] == ["migrateDeploy must be false"]


def test_fix_quotes_paths_and_values_for_the_shell():
    assert fix("appDir", "my app", "prd") == "pulumi config set appDir 'my app' --stack prd"
    assert fix("database.ipAllowList[0].cidrBlock", "1.2.3.4/32", "prd") == (
        "pulumi config set --path 'database.ipAllowList[0].cidrBlock' 1.2.3.4/32 --stack prd")
    assert fix("renderApiKey", "ignored", "stg", secret=True) == "pulumi config set --secret renderApiKey --stack stg"


def test_a_misspelt_field_is_refused_rather_than_ignored(stack_config):
    values = read_stack_file(ROOT, "stg")
    values[f"{PROJECT}:database"]["adoptID"] = values[f"{PROJECT}:database"].pop("adoptId")
    found = problems(merge(values, user_keys("stg", Path("unused"))), "stg")
    assert found == [
        "database.adoptID is not a field of database (known: name, plan, version, region, databaseName, "
        "databaseUser, diskSizeGb, highAvailability, ipAllowList, adoptId, allowReplace, protect, "
        "retainOnDelete); fix: pulumi config rm --path database.adoptID --stack stg"]
