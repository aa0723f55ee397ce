"""The import against a real PostgreSQL: values, keys, sequences, digests, and an untouched target on failure."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from migrate import load, sample, schema, verify
from migrate.errors import ConversionError, SchemaError, TargetError

from .conftest import apply_sql, fetch, insert, plan_for, run_import, seed_minimal, snapshot, task


ROOT = Path(__file__).resolve().parents[2]


def test_import_copies_every_row_rebuilds_the_exact_schema_and_hashes_what_it_sent(tmp_path, target_url):
    counts = sample.make_dataset(tmp_path / "s.db", 300, mixed_dates=True)
    before = snapshot(target_url)
    report = run_import(tmp_path / "s.db", target_url)
    after = snapshot(target_url)
    assert {t: len(rows) for t, rows in after["rows"].items() if t != "_prisma_migrations"} == counts
    assert {t.table: t.rows for t in report.tables} == counts
    assert after["constraints"] == before["constraints"] and after["indexes"] == before["indexes"]
    assert after["rows"]["_prisma_migrations"] == before["rows"]["_prisma_migrations"]
    _, plan = plan_for(tmp_path / "s.db", target_url)
    with psycopg.connect(target_url) as conn:
        for tp, tr in zip(plan.tables, report.tables):
            assert verify.pg_table_digest(conn, tp.target, tp.target_columns) == (tr.rows, tr.digest)
    assert report.rows == sum(counts.values()) and report.rows_per_s > 0 and not report.replaced


def test_sequences_continue_after_the_largest_id_and_restart_on_empty_tables(sqlite_path, target_url):
    seed_minimal(sqlite_path)
    insert(sqlite_path, "User", id=41, email="b@example.com", isAdmin=1, createdAt=0)
    report = run_import(sqlite_path, target_url)
    assert report.sequences["public.User_id_seq"] == 41 and report.sequences["public.Comment_id_seq"] is None
    seqs = snapshot(target_url)["sequences"]
    assert seqs["User_id_seq"] == (41, True) and seqs["Comment_id_seq"] == (1, False)
    assert fetch(target_url, """INSERT INTO "User" (email, "createdAt") VALUES ('c@x', now()) RETURNING id""") == [(42,)]


def test_every_prisma_storage_quirk_lands_as_the_right_postgres_value(sqlite_path, target_url):
    seed_minimal(sqlite_path)
    insert(sqlite_path, "User", id=2, email="blob@x", avatar=b"\x89PNG\x00\xff", isAdmin="true",
           createdAt="2025-01-07T16:07:00.123Z")
    rows = [  # dueAt, done, estimate, metadata (as stored in SQLite), status, viewCount
        (1736266020123, 0, 0.1, '{"a": [1, "x"]}', "TODO", 0),
        ("2025-01-07T16:07:00.123+00:00", 1, 12, "42", "IN_PROGRESS", 2**40),
        ("2025-01-07T17:07:00.123+01:00", 1, 1234.5678, "3.5", "DONE", -1),
        ("2025-01-07 16:07:00", 0, None, "null", "TODO", 0),
        (None, 0, None, None, "TODO", 0),
    ]
    for i, (due, done, estimate, meta, status, views) in enumerate(rows, 1):
        task(sqlite_path, i, dueAt=due, done=done, estimate=estimate, metadata=meta, status=status, viewCount=views)
    run_import(sqlite_path, target_url)
    got = fetch(target_url, 'SELECT "dueAt", done, estimate::text, metadata::text, metadata IS NULL, status::text, '
                            '"viewCount" FROM "Task" ORDER BY id')
    at = datetime(2025, 1, 7, 16, 7, 0, 123000)
    assert got == [
        (at, False, "0.100000000000000000000000000000", '{"a": [1, "x"]}', False, "TODO", 0),
        (at, True, "12.000000000000000000000000000000", "42", False, "IN_PROGRESS", 2**40),
        (at, True, "1234.567800000000000000000000000000", "3.5", False, "DONE", -1),
        (datetime(2025, 1, 7, 16, 7), False, None, "null", False, "TODO", 0),  # JsonNull ...
        (None, False, None, None, True, "TODO", 0),                             # ... is not SQL NULL
    ]
    assert fetch(target_url, 'SELECT avatar, "isAdmin", "createdAt" FROM "User" WHERE id = 2') == [
        (b"\x89PNG\x00\xff", True, at)]


def test_json_export_and_sqlite_file_of_the_same_data_import_identically(tmp_path, target_url, make_target):
    sample.make_dataset(tmp_path / "d.db", 80, seed=5)
    sample.make_json_export(tmp_path / "d.json", 80, seed=5)
    other = make_target()
    run_import(tmp_path / "d.db", target_url)
    run_import(tmp_path / "d.json", other)
    from_json, from_sqlite = snapshot(other)["rows"], snapshot(target_url)["rows"]
    del from_json["_prisma_migrations"], from_sqlite["_prisma_migrations"]  # applied at different times
    assert from_json == from_sqlite and len(from_json["Task"]) == 80


def test_timestamps_sent_in_wire_form_land_as_the_datetimes_would(tmp_path, target_url, make_target):
    # Without an in-stream hasher, DateTimes go as microseconds since 2000 (rows.WIRE_TYPES): same rows.
    sample.make_dataset(tmp_path / "d.db", 120, mixed_dates=True, seed=9)
    datetimes = make_target()
    run_import(tmp_path / "d.db", datetimes)  # small: hashed in-stream, so sent as datetimes
    run_import(tmp_path / "d.db", target_url, hashers=False)
    wire, plain = snapshot(target_url)["rows"], snapshot(datetimes)["rows"]
    del wire["_prisma_migrations"], plain["_prisma_migrations"]
    assert wire == plain and len(wire["Task"]) == 120


@pytest.mark.parametrize("wire", [False, True], ids=["datetimes", "wire-form"])
def test_every_timestamp_type_and_precision_takes_every_stored_form(tmp_path, pg_url, wire):
    apply_sql(pg_url, 'CREATE TABLE "_prisma_migrations" (id text); CREATE TABLE "T" (id int PRIMARY KEY, '
                      '"a" timestamp(3), "b" timestamp(0), "c" timestamptz(3), "d" timestamptz(1), "e" timestamp)')
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE "T" (id INTEGER PRIMARY KEY, a DATETIME, b DATETIME, c DATETIME, d DATETIME, '
                     'e DATETIME)')
        stored = [1736266020123, -5, 0, 1736266020999, "2025-01-07T16:07:00.5+05:30", "2025-01-07 16:07:00",
                  "1899-12-31T23:59:59.999Z", 4102444800000, None]  # ints inside and outside the fast range
        conn.executemany('INSERT INTO "T" VALUES (?, ?, ?, ?, ?, ?)', [(i, v, v, v, v, v) for i, v in enumerate(stored)])
    conn.close()
    run_import(db, pg_url, hashers=not wire)
    got = fetch(pg_url, 'SELECT a::text, b::text, c AT TIME ZONE \'UTC\', d AT TIME ZONE \'UTC\', e FROM "T" ORDER BY id')
    with psycopg.connect(pg_url) as conn:  # what PostgreSQL itself makes of the same instants
        want = conn.execute(
            "SELECT x::timestamp(3)::text, x::timestamp(0)::text, x::timestamptz(3) AT TIME ZONE 'UTC', "
            "x::timestamptz(1) AT TIME ZONE 'UTC', x FROM unnest(%s::timestamp[]) WITH ORDINALITY u(x, n) ORDER BY n",
            ([datetime(2025, 1, 7, 16, 7, 0, 123000), datetime(1969, 12, 31, 23, 59, 59, 995000),
              datetime(1970, 1, 1), datetime(2025, 1, 7, 16, 7, 0, 999000), datetime(2025, 1, 7, 10, 37, 0, 500000),
              datetime(2025, 1, 7, 16, 7), datetime(1899, 12, 31, 23, 59, 59, 999000), datetime(2100, 1, 1), None],)
        ).fetchall()
    assert got == want


@pytest.mark.parametrize("hashers", [True, False], ids=["verified", "unverified"])
def test_uuids_written_in_any_case_import_and_verify(tmp_path, pg_url, hashers):
    apply_sql(pg_url, 'CREATE TABLE "_prisma_migrations" (id text); CREATE TABLE "K" (id uuid PRIMARY KEY, n int)')
    db = tmp_path / "k.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE "K" (id TEXT PRIMARY KEY, n INTEGER)')
        conn.executemany('INSERT INTO "K" VALUES (?, ?)', [("0B9A7A60-4B1C-4A5E-9A55-8F2D0B1C9E11", 1),
                                                             ("{1b9a7a60-4b1c-4a5e-9a55-8f2d0b1c9e11}", 2)])
    conn.close()
    report = run_import(db, pg_url, hashers=hashers, verify=hashers)  # a difference would roll back
    assert fetch(pg_url, 'SELECT id::text FROM "K" ORDER BY n') == [
        ("0b9a7a60-4b1c-4a5e-9a55-8f2d0b1c9e11",), ("1b9a7a60-4b1c-4a5e-9a55-8f2d0b1c9e11",)]
    assert report.committed and (report.verification is None) != hashers


@pytest.fixture
def busy_target(target_url):
    """A target that already holds rows and has moved its sequences: the state a failed import must keep."""
    apply_sql(target_url, """
        INSERT INTO "User" (id, email, "createdAt") VALUES (7, 'old@example.com', '2020-01-01');
        INSERT INTO "Project" (id, name, "ownerId") VALUES (3, 'old', 7);
        INSERT INTO "Task" (id, title, "updatedAt", "projectId", metadata) VALUES (5, 'old', now(), 3, '{"k": 1}');
        SELECT setval('"User_id_seq"', 70); SELECT setval('"Task_id_seq"', 50); SELECT setval('"Tag_id_seq"', 9, false);
        """)
    return target_url


BAD_INPUTS = {
    "bad date text": (dict(dueAt="next tuesday"), ConversionError,
                      r"^table Task, row id=2, column dueAt: expected a DateTime .*found 'next tuesday'$"),
    "enum label": (dict(status="ARCHIVED"), ConversionError,
                   r"row id=2, column status: expected one of the enum labels DONE, IN_PROGRESS, TODO .*'ARCHIVED'"),
    "json text": (dict(metadata="{oops"), ConversionError, r"row id=2, column metadata: expected valid JSON text"),
    "int4 range": (dict(priority=2**31), ConversionError,
                   r"column priority: expected an integer in the int4 range \[-2147483648, 2147483647\], found 2147483648"),
    "nul byte": (dict(title="a\x00b"), ConversionError, r"column title: expected text without NUL bytes .*--strip-nul"),
    "foreign key": (dict(projectId=99), TargetError,
                    r'break Task_projectId_fkey on Task: .*Key \(projectId\)=\(99\) is not present in table "Project"'),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_with_a_named_error_and_leaves_the_target_as_it_was(sqlite_path, busy_target, case):
    values, error, message = BAD_INPUTS[case]
    seed_minimal(sqlite_path)
    task(sqlite_path, 1)
    task(sqlite_path, 2, **values)
    insert(sqlite_path, "Comment", id=1, body="c", createdAt=0, taskId=1)
    before = snapshot(busy_target)
    with pytest.raises(error, match=message) as err:
        run_import(sqlite_path, busy_target, replace=True)
    assert snapshot(busy_target) == before
    if error is ConversionError:
        assert (err.value.table, err.value.row_id) == ("Task", "id=2")


def test_a_duplicate_unique_key_fails_at_rebuild_and_leaves_the_target_as_it_was(sqlite_path, busy_target):
    seed_minimal(sqlite_path)
    insert(sqlite_path, "Tag", id=2, name="x")
    with psycopg.connect(busy_target):
        pass
    import sqlite3
    with sqlite3.connect(sqlite_path) as conn:  # the SQLite unique index would refuse the duplicate
        conn.execute('DROP INDEX "Tag_name_key"')
        conn.execute("INSERT INTO Tag (id, name) VALUES (3, 'x')")
    conn.close()
    before = snapshot(busy_target)
    with pytest.raises(TargetError, match=r'break Tag_name_key on Tag: .*Key \(name\)=\(x\) is duplicated'):
        run_import(sqlite_path, busy_target, replace=True)
    assert snapshot(busy_target) == before


def test_schema_problems_stop_the_import_before_it_touches_the_target(sqlite_path, busy_target):
    import sqlite3
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute('ALTER TABLE "Tag" ADD COLUMN "color" TEXT')
    conn.close()
    before = snapshot(busy_target)
    with pytest.raises(SchemaError, match="source column Tag.color has no column"):
        run_import(sqlite_path, busy_target, replace=True)
    assert snapshot(busy_target) == before


def test_a_non_empty_target_is_refused_unless_replace(sqlite_path, busy_target):
    seed_minimal(sqlite_path)
    before = snapshot(busy_target)
    with pytest.raises(TargetError, match=r"target is not empty \(Project, Task, User have rows\): pass --replace"):
        run_import(sqlite_path, busy_target)
    assert snapshot(busy_target) == before
    report = run_import(sqlite_path, busy_target, replace=True)
    assert report.replaced
    assert fetch(busy_target, 'SELECT id, email FROM "User"') == [(1, "a@example.com")]
    assert fetch(busy_target, 'SELECT count(*) FROM "Task"') == [(0,)]
    assert snapshot(busy_target)["sequences"]["Task_id_seq"] == (1, False)


def test_nul_bytes_are_stripped_and_counted_when_asked(sqlite_path, target_url):
    seed_minimal(sqlite_path)
    task(sqlite_path, 1, title="a\x00b\x00", description="\x00", metadata='{"k": "v\\u0000"}')
    report = run_import(sqlite_path, target_url, strip_nul=True)
    assert fetch(target_url, 'SELECT title, description, metadata::text FROM "Task"') == [("ab", "", '{"k": "v"}')]
    assert report.nul_stripped == 4 and {t.table: t.nul_stripped for t in report.tables}["Task"] == 4


def test_a_target_in_use_is_refused_after_the_lock_timeout(sqlite_path, target_url, monkeypatch):
    monkeypatch.setattr(load, "LOCK_TIMEOUT", "200ms")
    seed_minimal(sqlite_path)
    with psycopg.connect(target_url) as app:
        app.execute('SELECT * FROM "Tag"')  # an open transaction holding a lock, like a running app
        with pytest.raises(TargetError, match=r"target tables are in use \(no lock within 200ms\)"):
            run_import(sqlite_path, target_url)
    assert fetch(target_url, 'SELECT count(*) FROM "User"') == [(0,)]


KILLED_CHILD = """
import sys, time
from migrate.progress import Progress
from tests.migrate.conftest import run_import
import contextlib


class Stall(Progress):
    @contextlib.contextmanager
    def table(self, name, total):
        def advance(n):
            if name == "Task":
                print("copying", flush=True)
                time.sleep(60)
        yield advance

run_import(sys.argv[1], sys.argv[2], replace=True, progress=Stall())
"""


def test_a_killed_import_leaves_the_target_as_it_was(tmp_path, busy_target):
    sample.make_dataset(tmp_path / "k.db", 3000)
    before = snapshot(busy_target)
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(tmp_path / "k.db"), busy_target],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline().strip() == "copying"  # mid-COPY of Task: User/Project already sent
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    _wait_for_other_backends_to_end(busy_target)
    assert snapshot(busy_target) == before


def _wait_for_other_backends_to_end(url: str) -> None:
    deadline = time.monotonic() + 20
    while fetch(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid()") != [(0,)]:
        assert time.monotonic() < deadline, "the killed client's backend did not end"
        time.sleep(0.05)


def test_a_json_export_with_an_empty_table_imports(tmp_path, target_url):
    (tmp_path / "export.json").write_text('{"User": [{"id": 3, "email": "j@x", "isAdmin": true, '
                                          '"createdAt": "2024-03-01T09:15:00.250Z"}], "Tag": []}')
    report = run_import(tmp_path / "export.json", target_url)
    assert {t.table: t.rows for t in report.tables} == {"User": 1, "Tag": 0}
    assert fetch(target_url, 'SELECT id, "isAdmin", name FROM "User"') == [(3, True, None)]
    assert report.sequences["public.User_id_seq"] == 3


def test_a_target_refusing_for_other_reasons_is_a_target_error_and_unchanged(sqlite_path, busy_target):
    seed_minimal(sqlite_path)
    role = "reader_" + busy_target.rsplit("/", 1)[1]  # roles are cluster-wide: one per test database
    apply_sql(busy_target, f"CREATE ROLE {role} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    before = snapshot(busy_target)
    limited = busy_target.replace("postgres@", f"{role}@")
    with pytest.raises(TargetError, match="the import failed and was rolled back: permission denied"):
        run_import(sqlite_path, limited, replace=True)
    assert snapshot(busy_target) == before


@pytest.mark.slow
def test_import_into_a_schema_made_by_the_real_prisma_cli(tmp_path, pg_url):
    from migrate import prisma
    prisma.migrate_deploy(ROOT / "tests" / "fixtures" / "app", pg_url)
    counts = sample.make_dataset(tmp_path / "p.db", 50, mixed_dates=True)
    report = run_import(tmp_path / "p.db", pg_url)
    assert {t.table: t.rows for t in report.tables} == counts
    assert fetch(pg_url, "SELECT migration_name FROM _prisma_migrations") == [("20251203_postgres_init",)]


def test_progress_sees_every_table_with_its_total_and_all_its_rows(tmp_path, target_url):
    import contextlib
    from migrate.progress import Progress
    seen, statuses = {}, []

    class Recording(Progress):
        @contextlib.contextmanager
        def table(self, name, total):
            seen[name] = [total, 0]
            yield lambda n: seen[name].__setitem__(1, seen[name][1] + n)

        def status(self, message):
            statuses.append(message)

    counts = sample.make_dataset(tmp_path / "s.db", 40)
    run_import(tmp_path / "s.db", target_url, progress=Recording())
    assert seen == {t: [n, n] for t, n in counts.items()}
    assert statuses == ["rebuilding 20 constraints and indexes", "analyzing the imported tables"]


def test_a_sequence_whose_table_holds_only_ids_below_its_range_just_restarts(sqlite_path, target_url):
    insert(sqlite_path, "Tag", id=-3, name="negative")
    report = run_import(sqlite_path, target_url)
    assert report.sequences["public.Tag_id_seq"] is None
    assert snapshot(target_url)["sequences"]["Tag_id_seq"] == (1, False)


def test_a_role_statement_timeout_does_not_cut_the_import_short(tmp_path, target_url):
    sample.make_dataset(tmp_path / "s.db", 30000)  # Task's COPY alone takes well over 50 ms
    database = target_url.rsplit("/", 1)[1]
    apply_sql(target_url, f"ALTER ROLE postgres IN DATABASE {database} SET statement_timeout = '50ms'")
    report = run_import(tmp_path / "s.db", target_url)
    assert report.rows > 90000


def _corrupt_prisma_migrations(path):
    """Scribble over the page of a table that the import never reads: only the integrity check can tell."""
    with sqlite3.connect(path) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = '_prisma_migrations'").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page + 8:(root - 1) * page + 64] = b"\xa5" * 56
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("in_helper", [True, False], ids=["checked-by-the-helper", "checked-first"])
def test_a_source_opened_unchecked_is_checked_by_the_import_and_a_corrupt_one_changes_nothing(
        tmp_path, busy_target, monkeypatch, in_helper):
    from migrate.errors import SourceError
    from migrate.source import open_source
    path = tmp_path / "s.db"
    sample.make_dataset(path, 200)
    _corrupt_prisma_migrations(path)
    monkeypatch.setattr(load, "BACKGROUND_HASH_ROWS", 1 if in_helper else 10**9)
    before = snapshot(busy_target)
    with open_source(path, check=False) as source, psycopg.connect(busy_target) as conn:  # as `migrate import`
        plan = schema.plan(source, schema.read_target(conn))
        assert sum(len(b) for tp in plan.tables for b in source.batches(tp.source, tp.source_columns)) > 0
        with pytest.raises(SourceError, match=r"is corrupt \(PRAGMA quick_check\)"):
            load.import_data(source, busy_target, plan, replace=True, verify=True)
    assert snapshot(busy_target) == before
