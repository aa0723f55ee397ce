"""Tests for infra/guards.py: every guard rail refuses with its reason and fix, and lets the safe case through."""

from __future__ import annotations

import shutil

import pytest
import yaml

from infra.config import PROJECT, load_config
from tests.infra.fix_config import APP, ROOT, STG_DB_ID, only_problem, problems, source, stack_config  # noqa: F401

SWITCH = {"databaseUrl": "stack", "import": {"enabled": True}}  # the switch commit on top of Pulumi.prd.yaml


def test_prd_may_never_adopt_the_stg_database(stack_config):
    problem = only_problem(stack_config("prd", database={"adoptId": STG_DB_ID}), "prd")
    assert problem == (f"database.adoptId {STG_DB_ID} is the stg database (Pulumi.stg.yaml): prd must never adopt "
                       f"or point at it (stg data would leak into prd and stg would write prd's data); prd gets its "
                       f"own database; fix: pulumi config rm --path database.adoptId --stack prd")


def test_prd_may_not_use_the_stg_database_name(stack_config):
    problem = only_problem(stack_config("prd", database={"name": "test-codex-migration-stg-db"}), "prd")
    assert problem == ("database.name 'test-codex-migration-stg-db' is the stg database's name (Pulumi.stg.yaml): "
                       "the provider would take that database over instead of creating prd's own; "
                       "fix: pulumi config set --path database.name tasks-prd-db --stack prd")


def test_prd_may_not_deploy_to_the_stg_service_once_stg_has_set_it(stack_config, tmp_path):
    stg = yaml.safe_load((ROOT / "Pulumi.stg.yaml").read_text())
    stg["config"][f"{PROJECT}:serviceId"] = "srv-d4mdtasksstg0000000"
    (tmp_path / "Pulumi.stg.yaml").write_text(yaml.safe_dump(stg))
    values = stack_config("prd", serviceId="srv-d4mdtasksstg0000000")
    problem = only_problem(values, "prd", project_dir=tmp_path)
    assert problem == ("serviceId srv-d4mdtasksstg0000000 is the stg service (Pulumi.stg.yaml): prd's DATABASE_URL "
                       "and deploys belong on prd's own service; "
                       "fix: pulumi config set serviceId srv-xxxxxxxxxxxxxxxxxxxx --stack prd")


def test_prd_fails_closed_when_the_stg_file_is_missing(stack_config, tmp_path):
    problem = only_problem(stack_config("prd"), "prd", project_dir=tmp_path)
    assert problem == (f"cannot check that prd stays off the stg database: Pulumi.stg.yaml in {tmp_path} is "
                       f"unreadable (FileNotFoundError); fix: restore it (git checkout Pulumi.stg.yaml)")


def test_prd_checks_against_the_stg_file_next_to_pulumi_yaml(stack_config, tmp_path):
    # Another project dir whose stg adopts another database: the same prd config is then fine there.
    shutil.copy(ROOT / "Pulumi.stg.yaml", tmp_path / "Pulumi.stg.yaml")
    text = (tmp_path / "Pulumi.stg.yaml").read_text().replace(STG_DB_ID, "dpg-otherotherotherother0-a")
    (tmp_path / "Pulumi.stg.yaml").write_text(text)
    assert load_config(stack_config("prd", database={"adoptId": STG_DB_ID}), "prd", project_dir=tmp_path)


def test_shared_stg_refuses_migrate_deploy(stack_config):
    problem = only_problem(stack_config("stg", migrateDeploy=True, appDir=str(APP)), "stg")
    assert problem == ("migrateDeploy must be false: while sharedWithPrd is true, stg's database is also prd's live "
                       "database, so stg must not write to it (`prisma migrate deploy` would change prd's schema); "
                       "fix: pulumi config set migrateDeploy false --stack stg")


def test_shared_stg_refuses_an_import(stack_config, source):
    problem = only_problem(stack_config("stg", **{"import": {"enabled": True, "source": str(source)}}), "stg")
    assert problem == ("import.enabled must be false: while sharedWithPrd is true, stg's database is also prd's "
                       "live database, so stg must not write to it (an import would overwrite prd's data); "
                       "fix: pulumi config set --path import.enabled false --stack stg")


def test_shared_stg_keeps_its_database_protected(stack_config):
    problem = only_problem(stack_config("stg", database={"retainOnDelete": False}), "stg")
    assert problem == ("database.retainOnDelete must be true: while sharedWithPrd is true the database holds prd's "
                       "live data; fix: pulumi config set --path database.retainOnDelete true --stack stg")


def test_stg_may_write_once_it_no_longer_shares_its_database(stack_config, source):
    values = stack_config("stg", sharedWithPrd=False, migrateDeploy=True, appDir=str(APP),
                          **{"import": {"enabled": True, "source": str(source)}})
    config = load_config(values, "stg")
    assert config.migrate_deploy and config.data_import.enabled and not config.shared_with_prd


def test_shared_with_prd_means_nothing_on_prd(stack_config):
    problem = only_problem(stack_config("prd", sharedWithPrd=True), "prd")
    assert problem == ("sharedWithPrd is a flag of the stg stack (true while prd still points at the stg database) "
                       "and means nothing on prd; fix: pulumi config set sharedWithPrd false --stack prd")


def test_prd_import_requires_the_maintenance_window(stack_config):
    problem = only_problem(stack_config("prd", maintenanceWindow=False, **SWITCH), "prd")
    assert problem == ("import.enabled needs maintenanceWindow true on prd: the app must not write while its data "
                       "is copied; fix: pulumi config set maintenanceWindow true --stack prd")
    assert load_config(stack_config("prd", maintenanceWindow=False, **{"import": {"enabled": False}}), "prd")


# --- databaseUrl: the switch and its rollback ------------------------------------------------------------------

def test_prd_may_switch_only_together_with_the_import(stack_config):
    problem = only_problem(stack_config("prd", databaseUrl="stack"), "prd")
    assert problem.startswith("databaseUrl stack needs import.enabled true on prd: the new database holds no data "
                              "until the import copies it")
    assert problem.endswith("fix: pulumi config set --path import.enabled true --stack prd (or keep "
                            "pulumi config set databaseUrl previous --stack prd)")


def test_prd_may_import_only_together_with_the_switch(stack_config):
    problem = only_problem(stack_config("prd", **{"import": {"enabled": True}}), "prd")
    assert problem.startswith("import.enabled needs databaseUrl stack on prd: the import and the switch go in one "
                              "`pulumi up` (one maintenance window)")
    assert problem.endswith("fix: pulumi config set databaseUrl stack --stack prd (or "
                            "pulumi config set --path import.enabled false --stack prd)")


def test_prd_may_not_switch_to_a_database_without_its_schema(stack_config):
    problem = only_problem(stack_config("prd", migrateDeploy=False, **SWITCH), "prd")
    assert problem.startswith("databaseUrl stack needs migrateDeploy true: prd creates its database, and without "
                              "`prisma migrate deploy` the service would be pointed at a database without the app's "
                              "schema; fix: pulumi config set migrateDeploy true --stack prd")
    # Before the switch, prd may skip the migrations: nothing uses its database yet.
    assert load_config(stack_config("prd", migrateDeploy=False), "prd").database_url == "previous"


def test_the_switch_and_its_revert_both_load_on_prd(stack_config):
    assert load_config(stack_config("prd", **SWITCH), "prd").uses_stack_database
    assert not load_config(stack_config("prd"), "prd").uses_stack_database


def test_stg_may_point_at_its_adopted_database_without_migrations(stack_config):
    config = load_config(stack_config("stg"), "stg")
    assert config.uses_stack_database and not config.migrate_deploy and not config.data_import.enabled


def test_prd_database_must_be_on_a_paid_plan(stack_config):
    problem = only_problem(stack_config("prd", database={"plan": "free"}), "prd")
    assert problem == ("database.plan must be a paid plan on prd (Starter or better, e.g. basic_1gb), got 'free': "
                       "free databases expire and have no backups; "
                       "fix: pulumi config set --path database.plan basic_1gb --stack prd")


@pytest.mark.parametrize("key, field", [("protect", "protect"), ("retainOnDelete", "retainOnDelete")])
def test_prd_database_must_be_protected_and_retained(stack_config, key, field):
    problem = only_problem(stack_config("prd", database={key: False}), "prd")
    assert problem == (f"database.{field} must be true on prd: no `pulumi up` or `destroy` may delete prd's data; "
                       f"fix: pulumi config set --path database.{field} true --stack prd")


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "10.1.2.3/0"])
def test_prd_allow_list_is_never_the_whole_internet(stack_config, cidr):
    entries = [{"cidrBlock": "203.0.113.7/32"}, {"cidrBlock": cidr, "description": "everyone"}]
    problem = only_problem(stack_config("prd", database={"ipAllowList": entries}), "prd")
    assert problem == (f"database.ipAllowList[1].cidrBlock is {cidr}, which opens prd's database to the whole "
                       f"internet; list the addresses that need it instead; fix: pulumi config set --path "
                       f"'database.ipAllowList[1].cidrBlock' 203.0.113.7/32 --stack prd")


def test_prd_may_allow_render_private_network_only(stack_config):
    config = load_config(stack_config("prd", database={"ipAllowList": []}), "prd")
    assert config.database.ip_allow_list == ()


def test_stg_may_leave_its_allow_list_to_render(stack_config):
    assert load_config(stack_config("stg"), "stg").database.ip_allow_list is None
    assert load_config(stack_config("stg", database={"ipAllowList": [{"cidrBlock": "0.0.0.0/0"}]}), "stg")


def test_all_problems_are_reported_together(stack_config):
    values = stack_config("prd", ownerId="x", maintenanceWindow=False, **SWITCH,
                          database={"adoptId": STG_DB_ID, "plan": "free", "protect": False})
    found = problems(values, "prd")
    assert [p.split(" ", 1)[0] for p in found] == [
        "ownerId", "database.plan", "database.protect", "import.enabled", "database.adoptId"]
