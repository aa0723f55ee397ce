"""The plan: every source table and column matched to the target, every problem listed."""

from __future__ import annotations

import sqlite3

import pytest

from migrate import sample, schema
from migrate.errors import SchemaError
from migrate.source import open_source

from .conftest import apply_sql, plan_for
from .test_schema import read


def test_plan_of_the_sample_app_has_no_problems(tmp_path, target_url):
    sample.make_dataset(tmp_path / "s.db", 5)
    source, plan = plan_for(tmp_path / "s.db", target_url)
    plan.check()
    assert [t.target for t in plan.tables] == ["User", "Project", "Task", "Comment", "Tag", "_TagToTask"]
    tag_task = plan.tables[-1]
    assert tag_task.key == [0, 1] and tag_task.row_id((3, 9), 1) == "A=3, B=9"
    assert plan.tables[2].row_id((42,), 7) == "id=42"
    assert plan.untouched == []
    assert "  status -> status \"TaskStatus\" (text)" in plan.describe()
    source.close()


def test_plan_lists_every_problem_it_can_see(sqlite_path, target_url):
    with sqlite3.connect(sqlite_path) as conn:
        conn.executescript('CREATE TABLE "Extra" (id INTEGER); CREATE TABLE "Legacy" (id INTEGER);'
                           'ALTER TABLE "Task" ADD COLUMN "legacy" TEXT; ALTER TABLE "Task" DROP COLUMN "updatedAt";'
                           'ALTER TABLE "Tag" ADD COLUMN "addr" TEXT;')
    conn.close()
    apply_sql(target_url, 'ALTER TABLE "Tag" ADD COLUMN addr inet; CREATE TABLE legacy (id int)')
    source, plan = plan_for(sqlite_path, target_url)
    messages = [str(p) for p in plan.problems]
    assert "source table 'Extra' has no table in the target schema 'public'" in messages
    assert "source table 'Legacy' has no table in the target schema 'public' (did you mean 'legacy'?)" in messages
    assert "source column Task.legacy has no column in target table 'Task'" in messages
    assert ("target column Task.updatedAt is NOT NULL without a default, but the source table has no such column"
            in messages)
    assert "target column Tag.addr has type inet, which the import does not support" in messages
    assert len(messages) == 5
    with pytest.raises(SchemaError, match=r"^5 schema problem\(s\): source column Task.legacy") as err:
        plan.check()
    assert (err.value.table, err.value.column) == ("Task", "legacy") and len(err.value.problems) == 5
    source.close()


def test_a_target_without_tables_needs_prisma_migrate_deploy(sqlite_path, pg_url):
    with open_source(sqlite_path) as source:
        with pytest.raises(SchemaError, match=r"no Prisma schema \(no tables\): run `prisma migrate deploy`"):
            schema.plan(source, read(pg_url))


def test_a_target_without_prisma_migrations_needs_prisma_migrate_deploy(sqlite_path, pg_url):
    apply_sql(pg_url, 'CREATE TABLE "Tag" (id int)')
    with open_source(sqlite_path) as source:
        with pytest.raises(SchemaError, match="no _prisma_migrations table"):
            schema.plan(source, read(pg_url))


def test_target_tables_without_source_stay_empty_and_are_reported(sqlite_path, target_url):
    apply_sql(target_url, 'CREATE TABLE "Audit" (id serial PRIMARY KEY, note text)')
    source, plan = plan_for(sqlite_path, target_url)
    assert plan.problems == [] and plan.untouched == ["Audit"]
    assert "Audit: no source table, stays empty" in plan.describe()
    source.close()
