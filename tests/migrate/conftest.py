"""Fixtures for the migrate tests: a Prisma-created PostgreSQL target, a Prisma-style SQLite source, snapshots."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from migrate import sample, schema, sourcehash
from migrate.load import import_data
from migrate.errors import TargetError
from migrate.pg import connect
from migrate.source import open_source

APP = Path(__file__).resolve().parents[1] / "fixtures" / "app" / "prisma"
POSTGRES_INIT = APP / "migrations" / "20251203_postgres_init" / "migration.sql"
# What Prisma's schema engine creates on PostgreSQL before applying the first migration.
PRISMA_MIGRATIONS_PG = """CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"));
INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count)
VALUES ('00000000-0000-4000-8000-000000000000', 'x', '20251203_postgres_init', now(), 1);
"""
PRISMA_MIGRATIONS_SQLITE = """CREATE TABLE "_prisma_migrations" (
    "id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT NOT NULL, "finished_at" DATETIME,
    "migration_name" TEXT NOT NULL, "logs" TEXT, "rolled_back_at" DATETIME,
    "started_at" DATETIME NOT NULL DEFAULT current_timestamp, "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0);
"""


def require_compiled():
    """The compiled row digests, or a skip (a failure under CI=true, where ./dev setup must have built them)."""
    if sourcehash._rowdigest is None:
        if os.environ.get("CI") == "true":
            pytest.fail("migrate/_rowdigest.c is not built under CI=true; ./dev setup must build it")
        pytest.skip("the compiled row digests are not built (./dev setup builds them)")
    return sourcehash._rowdigest


@pytest.fixture(params=["compiled", "python"])
def hashing(request, monkeypatch):
    """Run the test once with the compiled source digests and once in pure Python (MIGRATE_PURE_PYTHON,
    which the hashing helper process inherits)."""
    if request.param == "compiled":
        require_compiled()
        monkeypatch.delenv("MIGRATE_PURE_PYTHON", raising=False)
    else:
        monkeypatch.setenv("MIGRATE_PURE_PYTHON", "1")
    assert sourcehash.compiled() == (request.param == "compiled")
    return request.param


def apply_sql(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text)


@pytest.fixture
def target_url(pg_url):
    """An empty database with the app's schema, as `prisma migrate deploy` leaves it."""
    apply_sql(pg_url, PRISMA_MIGRATIONS_PG + POSTGRES_INIT.read_text())
    return pg_url


@pytest.fixture
def sqlite_path(tmp_path):
    """An empty Prisma-style SQLite database of the app (tables, indexes, _prisma_migrations)."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(PRISMA_MIGRATIONS_SQLITE + sample.sqlite_ddl())
        conn.execute("INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ('m', 'c', 'init')")
    conn.close()
    return path


def insert(path: Path, table: str, **values) -> None:
    """Insert one row into a SQLite table, values stored as given (SQLite affinity still applies)."""
    cols = ", ".join(f'"{c}"' for c in values)
    with sqlite3.connect(path) as conn:
        conn.execute(f'INSERT INTO "{table}" ({cols}) VALUES ({", ".join("?" * len(values))})', list(values.values()))
    conn.close()


def seed_minimal(path: Path) -> None:
    """One user, one project, one tag: what a Task row needs for its foreign keys."""
    insert(path, "User", id=1, email="a@example.com", isAdmin=0, createdAt=1700000000000)
    insert(path, "Project", id=1, name="P", archived=0, createdAt=1700000000000, ownerId=1)
    insert(path, "Tag", id=1, name="t")


def task(path: Path, id: int, **values) -> None:
    row = dict(id=id, title=f"task {id}", status="TODO", done=0, priority=0, viewCount=0,
               createdAt=1700000000000, updatedAt=1700000000000, projectId=1)
    row.update(values)
    insert(path, "Task", **row)


def plan_for(source_path, url):
    source = open_source(source_path)
    with connect(url) as conn:
        target = schema.read_target(conn)
    return source, schema.plan(source, target)


def run_import(source_path, url, **kwargs):
    source, plan = plan_for(source_path, url)
    with source:
        return import_data(source, url, plan, **kwargs)


def fetch(url: str, query: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def snapshot(url: str) -> dict:
    """Everything an import may touch: rows of every table, constraints, indexes, sequence states."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")]
        snap = {"rows": {t: sorted(r[0] for r in conn.execute(f'SELECT x::text FROM "{t}" x')) for t in tables}}
        snap["constraints"] = sorted(conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace").fetchall())
        snap["indexes"] = sorted(conn.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "JOIN pg_class c ON c.oid = indrelid WHERE c.relnamespace = 'public'::regnamespace").fetchall())
        seqs = [r[0] for r in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")]
        snap["sequences"] = {s: conn.execute(f'SELECT last_value, is_called FROM "{s}"').fetchone() for s in seqs}
    return snap


@pytest.fixture
def make_target(pg_cluster):
    """A factory of further empty databases with the app's schema (for comparing two imports)."""
    made = []

    def make() -> str:
        url = pg_cluster.create_database(f"{Path(pg_cluster.url()).name}_{len(made)}_{id(made)}")
        apply_sql(url, PRISMA_MIGRATIONS_PG + POSTGRES_INIT.read_text())
        made.append(url)
        return url
    return make


def sleeping_digest(conn, table, columns, **kwargs):
    """Stands in for pg_table_digest: a query that runs for 30 s unless it is cancelled."""
    try:
        conn.execute("SELECT pg_sleep(30)")
    except psycopg.Error as exc:
        raise TargetError(f"cannot hash table {table} on the target: {exc}", table) from exc
    return 0, 0


def wait_for_sleeping_query(url: str) -> None:
    """Wait until :func:`sleeping_digest`'s query runs in the database of ``url``."""
    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as conn:
        while not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND query LIKE 'SELECT pg_sleep%'").fetchone()[0]:
            assert time.monotonic() < deadline, "the query never started"
            time.sleep(0.05)
