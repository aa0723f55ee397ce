"""Tests for migrate/prisma.py against the real Prisma CLI of tests/fixtures/app, plus the fixture app's migrations."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import time

import psycopg
import pytest

from migrate.cluster import free_port
from migrate.errors import MigrateError, PrismaError
from migrate.prisma import migrate_deploy, migrate_status, scrub
from tests.conftest import FIXTURE_APP

PG_MIGRATION = FIXTURE_APP / "prisma" / "migrations" / "20251203_postgres_init" / "migration.sql"
SQLITE_APP = FIXTURE_APP / "sqlite"
APP_TABLES = {"User", "Project", "Task", "Comment", "Tag", "_TagToTask"}
PASSWORD = "S3cr@t-Pw_42"
URL_WITH_PASSWORD = f"postgresql://alice:{PASSWORD.replace('@', '%40')}@127.0.0.1:{{port}}/app"


@pytest.fixture
def app():
    """The fixture app with its real Prisma CLI; like PostgreSQL, missing under CI=true is a failure."""
    if not (FIXTURE_APP / "node_modules" / ".bin" / "prisma").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("tests/fixtures/app/node_modules is missing under CI=true; ./dev setup runs npm ci")
        pytest.skip("run `npm ci` in tests/fixtures/app first")
    return FIXTURE_APP


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {name for (name,) in rows}


def _copy_app(tmp_path, extra_migration: str):
    """The fixture app in tmp_path (sharing node_modules) with a second migration."""
    copy = tmp_path / "app"
    copy.mkdir()
    for name in ("package.json", "prisma.config.ts"):
        shutil.copy(FIXTURE_APP / name, copy / name)
    shutil.copytree(FIXTURE_APP / "prisma", copy / "prisma")
    (copy / "node_modules").symlink_to(FIXTURE_APP / "node_modules")
    folder = copy / "prisma" / "migrations" / "20251204_second"
    folder.mkdir()
    (folder / "migration.sql").write_text(extra_migration)
    return copy


def _fake_cli(tmp_path, script: str):
    """An app dir whose `prisma` is a shell script: for what the wrapper passes in and does with output."""
    binary = tmp_path / "fake" / "node_modules" / ".bin" / "prisma"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return tmp_path / "fake"


def test_migrate_deploy_applies_the_migration_and_records_it(app, pg_url):
    result = migrate_deploy(app, pg_url)

    assert "All migrations have been successfully applied." in result.output
    assert 0 < result.elapsed < 60
    assert _tables(pg_url) == APP_TABLES | {"_prisma_migrations"}
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT migration_name, checksum, applied_steps_count, finished_at IS NOT NULL"
                            " FROM _prisma_migrations").fetchall()
    assert rows == [("20251203_postgres_init", hashlib.sha256(PG_MIGRATION.read_bytes()).hexdigest(), 1, True)]


@pytest.mark.slow  # two or three real CLI runs
def test_migrate_status_reports_pending_then_up_to_date(app, pg_url):
    before = migrate_status(app, pg_url)
    migrate_deploy(app, pg_url)
    after = migrate_status(app, pg_url)

    assert (before.up_to_date, before.pending, before.failed) == (False, ["20251203_postgres_init"], [])
    assert (after.up_to_date, after.pending, after.returncode) == (True, [], 0)
    assert _tables(pg_url) == APP_TABLES | {"_prisma_migrations"}  # status itself never writes


@pytest.mark.slow  # two or three real CLI runs
def test_second_deploy_finds_nothing_to_apply(app, pg_url):
    migrate_deploy(app, pg_url)

    assert "No pending migrations to apply." in migrate_deploy(app, pg_url).output


@pytest.mark.slow  # two or three real CLI runs
def test_failed_migration_raises_with_prisma_error_text_and_leaves_no_partial_change(app, pg_url, tmp_path):
    copy = _copy_app(tmp_path, 'ALTER TABLE "Task" ADD COLUMN "note" TEXT;\nSELECT * FROM missing_table;\n')

    with pytest.raises(PrismaError) as caught:
        migrate_deploy(copy, pg_url)
    status = migrate_status(copy, pg_url)

    assert "missing_table" in str(caught.value) and "sql_schema_connector" not in str(caught.value)
    assert caught.value.returncode == 1 and isinstance(caught.value, MigrateError)
    assert (status.up_to_date, status.failed) == (False, ["20251204_second"])
    with psycopg.connect(pg_url) as conn:  # prisma.config.ts sends the script whole: it rolled back
        assert conn.execute("SELECT 1 FROM information_schema.columns WHERE column_name = 'note'").fetchall() == []


@pytest.mark.parametrize("command", [migrate_deploy, migrate_status])
def test_unreachable_database_raises_without_the_password(app, command):
    url = URL_WITH_PASSWORD.format(port=free_port())

    with pytest.raises(PrismaError) as caught:
        command(app, url, timeout=60)

    assert "Can't reach database server" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), caught.value.output):
        assert PASSWORD not in text and "S3cr%40t" not in text


def test_output_that_echoes_the_url_is_scrubbed(tmp_path):
    app = _fake_cli(tmp_path, 'echo "connecting to $DATABASE_URL" >&2\necho "Error: bad password S3cr@t-Pw_42"\n'
                              "exit 1\n")
    url = URL_WITH_PASSWORD.format(port=5432)

    with pytest.raises(PrismaError) as caught:
        migrate_deploy(app, url)

    assert "Error: bad password ***" in str(caught.value)
    assert "connecting to ***" in caught.value.output
    for text in (str(caught.value), caught.value.output):
        assert PASSWORD not in text and "S3cr%40t" not in text


def test_url_travels_only_in_the_environment_without_prisma_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("PRISMA_SCHEMA_ENGINE_BINARY", "/bin/true")
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone-else@h/db")
    app = _fake_cli(tmp_path, 'echo "argv=$*"\necho "url-length=${#DATABASE_URL}"\n'
                              'echo "prisma-vars=$(env | grep -c ^PRISMA_)"\necho "cwd=$(pwd)"\n')
    url = URL_WITH_PASSWORD.format(port=5432)

    output = migrate_deploy(app, url).output

    assert "argv=migrate deploy\n" in output
    assert f"url-length={len(url)}\n" in output
    assert "prisma-vars=0\n" in output
    assert f"cwd={app.resolve()}\n" in output


def test_timeout_kills_the_cli_and_its_children(tmp_path):
    app = _fake_cli(tmp_path, "sleep 30 &\nwait\n")
    started = time.monotonic()

    with pytest.raises(PrismaError, match="did not finish within 0.5 s"):
        migrate_deploy(app, "postgresql://u@h/db", timeout=0.5)

    assert time.monotonic() - started < 10  # the backgrounded sleep did not hold the pipes open


def test_missing_cli_says_to_run_npm_ci(tmp_path):
    with pytest.raises(PrismaError, match="run `npm ci` there"):
        migrate_deploy(tmp_path, "postgresql://u@h/db")


@pytest.mark.parametrize("url", ["mysql://u:pw@h/db", "file:./dev.db", "u:pw@h/db"])
def test_non_postgres_url_is_refused_before_running_prisma(tmp_path, url):
    app = _fake_cli(tmp_path, "echo ran; exit 0\n")

    with pytest.raises(PrismaError, match="must be a postgresql:// URL") as caught:
        migrate_status(app, url)

    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("text, expected", [
    ("x postgresql://alice:S3cr%40t-Pw_42@h:5432/app y", "x *** y"),
    ("password S3cr@t-Pw_42 and encoded S3cr%40t-Pw_42", "password *** and encoded ***"),
    ("other url postgres://bob:hunter2@db/x", "other url postgres://bob:***@db/x"),
    ("postgresql://app@h/db has no password", "postgresql://app@h/db has no password"),
])
def test_scrub_masks_the_url_its_password_and_other_url_passwords(text, expected):
    assert scrub(text, URL_WITH_PASSWORD.format(port=5432).replace("127.0.0.1:5432", "h:5432")) == expected


def _prisma_diff(schema, url: str) -> str:
    # The adapter in prisma.config.ts connects even for a diff between schema files, so it needs a server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRISMA_")}
    proc = subprocess.run([str(FIXTURE_APP / "node_modules" / ".bin" / "prisma"), "migrate", "diff", "--from-empty",
                           "--to-schema-datamodel", str(schema), "--script"], cwd=FIXTURE_APP,
                          env={**env, "DATABASE_URL": url, "CHECKPOINT_DISABLE": "1"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("schema, migration", [
    (FIXTURE_APP / "prisma" / "schema.prisma", PG_MIGRATION),
    (SQLITE_APP / "schema.prisma", SQLITE_APP / "migrations" / "20240301091500_init" / "migration.sql"),
])
def test_committed_migrations_are_what_prisma_generates_for_the_schemas(app, pg_url, schema, migration):
    assert _prisma_diff(schema, pg_url) == migration.read_text()


def test_sqlite_era_schema_has_the_same_models_as_the_postgres_schema():
    def body(path):
        text = path.read_text()
        return text[text.index("generator client"):].replace('"sqlite"', '"postgresql"').splitlines()

    pg, sqlite = body(FIXTURE_APP / "prisma" / "schema.prisma"), body(SQLITE_APP / "schema.prisma")
    differing = [(a, b) for a, b in zip(pg, sqlite) if a != b]

    assert len(pg) == len(sqlite)
    assert [b.split("//")[0] for _, b in differing] == [a.split("//")[0] for a, _ in differing]  # comments only
