"""Source digests from stored rows: the fused fast paths equal convert-then-canonicalise, and the helper process."""

from __future__ import annotations

import dataclasses
import sqlite3
from decimal import Decimal

import psycopg
import pytest

from migrate import load, sample, verify
from migrate.canonical import row_text_function
from migrate.errors import ConversionError, SourceError
from migrate.plan import ColumnMap, TablePlan
from migrate.progress import Progress
from migrate.rows import RowConverter
from migrate.schema import Column
from migrate.sourcehash import BackgroundDigests, file_digests, raw_row_text_function, table_digest

from .conftest import plan_for, run_import, seed_minimal, snapshot, task


def column(name, kind, base, **extra) -> Column:
    return Column(name, base, base, kind, base, **extra)


# One column per storage rule, each with values as SQLite may hold them (None is added to each).
STORED = [
    (column("i4", "int", "int4"), [0, -7, 2**31 - 1, 3.0, "12"]),
    (column("i8", "int", "int8"), [2**62, -2**63]),
    (column("f8", "float", "float8"), [0.1, -0.0, 1e300, 7, float("inf"), float("nan")]),
    (column("f4", "float", "float4"), [0.1, 3]),
    (column("flag", "bool", "bool"), [0, 1, 2, -1, 0.0, "true", "f"]),
    (column("at", "timestamp", "timestamp", precision=3),
     [0, -1, 1, 946684800000, 946684799999, 1736266020123, -2208988800001, 4102444800000, 253402300799999,
      -62135596800000, 1736266020123.0, "2025-01-07T16:07:00.123+01:00", "2025-01-07 16:07:00", "2025-01-07"]),
    (column("at0", "timestamp", "timestamp", precision=0), [1736266020499, 1736266020500, "2025-01-07T16:07:00.5Z"]),
    (column("at6", "timestamp", "timestamp"), [1736266020123, "2025-01-07T16:07:00.123456Z"]),
    (column("tz", "timestamptz", "timestamptz", precision=3), [1736266020123, -5, "2025-01-07T16:07:00+05:30"]),
    (column("day", "date", "date"), [1736266020123, -1, "2025-01-07"]),
    (column("title", "text", "text"), ["", "日本語 😀", "a\x1fb", "\x1e", 42, 1.5, b"bytes"]),
    (column("label", "text", "Status", labels=frozenset({"TODO", "DONE", "ÉTÉ 😀"})), ["TODO", "DONE", "ÉTÉ 😀"]),
    (column("code", "text", "varchar", length=5), ["abc", "abcde"]),
    (column("pad", "text", "bpchar", length=4), ["ab", "abcd"]),
    (column("uid", "text", "uuid"), ["00000000-0000-4000-8000-000000000000", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"]),
    (column("money", "numeric", "numeric", precision=65, scale=30),
     [0.1, 12, 12.0, -0.0, 0.0, 1e-05, 1234.5678, 1e20, -3.25, "7.50", 2**80]),
    (column("cents", "numeric", "numeric", precision=10, scale=2), [1.005, 2.675, 0.125, 12, -0.001]),
    (column("any_numeric", "numeric", "numeric"), [1e-30, 0.5, 10]),
    (column("doc", "jsonb", "jsonb"),
     ['{"b":1,"a":[1.50,{"dd":null,"c":true}]}', "42", "-0", "3.5", "1e2", '"x"', "null", 42, 2.5, 1e16, "[]",
      '{"é":1,"z":2}', '"\\u00e9"', '{"a":1,"a":2}', b'{"k": "v"}']),
    (column("raw", "json", "json"), ['{"b" : 1, "a":2}', "7", 7, 0.5, b"[1]", '"\\u00e9"']),
    (column("blob", "bytea", "bytea"), [b"", b"\x00\xff", "text"]),
]


def table_of(columns, source="t") -> TablePlan:
    return TablePlan(source, source, [ColumnMap(c.name, c) for c in columns], 0)


def assert_fast_equals_slow(table: TablePlan, rows, strip_nul=False):
    fused = raw_row_text_function(table, "sqlite", strip_nul)
    convert = RowConverter(table, "sqlite", strip_nul).convert
    canonical = row_text_function(table.kinds)
    for row in rows:
        assert fused(row) == canonical(convert(row)), row


@pytest.mark.parametrize("not_null", [False, True], ids=["nullable", "not_null"])
@pytest.mark.parametrize("col, values", STORED, ids=[c.name for c, _ in STORED])
def test_fast_path_text_equals_the_converted_values_text(col, values, not_null):
    # A NOT NULL column skips the None test: a None (which the import refuses) must still give N.
    col = dataclasses.replace(col, not_null=not_null)
    assert_fast_equals_slow(table_of([col]), [(v,) for v in [*values, None]])


def test_fast_path_keeps_nul_stripping_exact():
    cols = [column("title", "text", "text"), column("doc", "jsonb", "jsonb"), column("raw", "json", "json"),
            column("label", "text", "Status", labels=frozenset({"TODO"}))]
    rows = [("a\x00b", '{"k":"a\\u0000b"}', '["\\u0000"]', "TO\x00DO"), ("\x00", '"x\x00"', "1\x00", "TODO")]
    assert_fast_equals_slow(table_of(cols), rows, strip_nul=True)


def test_a_whole_row_of_every_kind_matches():
    cols = [dataclasses.replace(c, not_null=i % 2 == 0) for i, (c, _) in enumerate(STORED)]
    rows = [tuple(values[i % len(values)] for _, values in STORED) for i in range(12)]
    rows = [r for r in rows if all(_converts(c, v) for c, v in zip(cols, r))]
    assert len(rows) > 3
    assert_fast_equals_slow(table_of(cols), rows)


def _converts(col, value) -> bool:
    try:
        RowConverter(table_of([col]), "sqlite").convert((value,))
    except Exception:  # noqa: BLE001 - only rows the import would accept are compared
        return False
    return True


@pytest.mark.parametrize("col, before, after", [
    (column("at", "timestamp", "timestamp", precision=3), 1736266020123, 1736266020124),  # 1 ms
    (column("at", "timestamp", "timestamp", precision=3), 946684800000, 946684800001),    # 1 ms at PG's epoch
    (column("doc", "jsonb", "jsonb"), '{"a":1,"b":[1,2]}', '{"a":1,"b":[2,1]}'),
    (column("doc", "jsonb", "jsonb"), '{"a":3.50}', '{"a":3.5}'),
    (column("doc", "jsonb", "jsonb"), "null", None),                                        # JsonNull vs DbNull
    (column("title", "text", "text"), "", None),                                            # '' vs NULL
    (column("money", "numeric", "numeric", precision=65, scale=30), 1.5, 1.05),
    (column("flag", "bool", "bool"), 0, 1),
])
def test_fast_path_tells_changed_values_apart(col, before, after):
    fused = raw_row_text_function(table_of([column("id", "int", "int4"), col]), "sqlite")
    assert fused((1, before)) != fused((1, after))


def test_a_value_the_converter_refuses_is_reported_with_its_row(tmp_path, hashing):
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, doc TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, '{"a":1}'), (2, "{not json")])
    conn.close()
    table = TablePlan("t", "t", [ColumnMap("id", column("id", "int", "int4")), ColumnMap("doc", column("doc", "jsonb", "jsonb"))],
                      2, key=[0])
    with pytest.raises(ConversionError, match=r"table t, row id=2, column doc: expected valid JSON"):
        file_digests(path, [table])


def test_file_digests_equal_the_digests_of_the_rows_the_import_sends(tmp_path, target_url, hashing):
    sample.make_dataset(tmp_path / "s.db", 150, mixed_dates=True)
    source, plan = plan_for(tmp_path / "s.db", target_url)
    with source:
        sent = {}
        for tp in plan.tables:
            hasher = verify.TableHasher(tp.kinds)
            for batch in RowConverter(tp, source.flavour).batches(source):
                hasher.update(batch)
            sent[tp.target] = hasher.result
        assert {tp.target: table_digest(source, tp) for tp in plan.tables} == sent
    assert file_digests(tmp_path / "s.db", plan.tables) == sent


def test_file_digests_of_a_json_export_equal_those_of_the_same_sqlite_data(tmp_path, target_url, hashing):
    sample.make_dataset(tmp_path / "d.db", 70, seed=5)
    sample.make_json_export(tmp_path / "d.json", 70, seed=5)
    _, from_sqlite = plan_for(tmp_path / "d.db", target_url)
    _, from_json = plan_for(tmp_path / "d.json", target_url)
    assert file_digests(tmp_path / "d.json", from_json.tables) == file_digests(tmp_path / "d.db", from_sqlite.tables)


def test_the_helper_process_returns_the_same_digests(tmp_path, target_url, hashing):
    sample.make_dataset(tmp_path / "s.db", 60, mixed_dates=True)
    _, plan = plan_for(tmp_path / "s.db", target_url)
    with BackgroundDigests(tmp_path / "s.db", plan.tables) as helper:
        got = helper.result()
    assert got == file_digests(tmp_path / "s.db", plan.tables)


def test_the_helper_process_reraises_a_migrate_error_with_its_class_and_data(tmp_path):
    with BackgroundDigests(tmp_path / "missing.db", []) as helper:
        with pytest.raises(SourceError, match="source not found") as info:
            helper.result()
    assert info.value.path == str(tmp_path / "missing.db")


def test_closing_stops_a_running_helper(tmp_path, target_url):
    sample.make_dataset(tmp_path / "s.db", 3000)
    _, plan = plan_for(tmp_path / "s.db", target_url)
    helper = BackgroundDigests(tmp_path / "s.db", plan.tables * 200)  # far more work than the test waits for
    helper.close()
    assert helper.done()


@pytest.fixture
def background(monkeypatch):
    """Make every import hash its source in the helper process, whatever its size."""
    monkeypatch.setattr(load, "BACKGROUND_HASH_ROWS", 0)


def test_an_import_with_the_helper_reports_the_digests_postgres_computes(tmp_path, target_url, background):
    sample.make_dataset(tmp_path / "s.db", 120, mixed_dates=True)
    report = run_import(tmp_path / "s.db", target_url)
    _, plan = plan_for(tmp_path / "s.db", target_url)
    with psycopg.connect(target_url) as conn:
        for tp, tr in zip(plan.tables, report.tables):
            assert tr.digest is not None
            assert verify.pg_table_digest(conn, tp.target, tp.target_columns) == (tr.rows, tr.digest)


def test_a_source_that_changes_during_the_import_rolls_it_back(sqlite_path, target_url, background):
    seed_minimal(sqlite_path)
    task(sqlite_path, 1)
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")  # so a writer can commit while the import reads
    conn.close()
    before = snapshot(target_url)
    source, plan = plan_for(sqlite_path, target_url)  # the import's read snapshot is taken here
    task(sqlite_path, 2)                               # ... and the helper, started later, sees this row
    with source, pytest.raises(SourceError, match="the source changed during the import: table Task had 1 rows"):
        load.import_data(source, target_url, plan)
    assert snapshot(target_url) == before


def test_numeric_fast_path_leaves_rounding_to_the_converter():
    col = column("cents", "numeric", "numeric", precision=10, scale=2)
    fused = raw_row_text_function(table_of([col]), "sqlite")
    assert fused((2.675,)) == row_text_function(["numeric"])((Decimal("2.68"),))


@pytest.mark.parametrize("verify", [False, True])
def test_an_import_waiting_for_the_helper_analyzes_meanwhile_and_commits_the_statistics(
        tmp_path, target_url, background, monkeypatch, verify):
    monkeypatch.setattr(BackgroundDigests, "done", lambda self: False)  # the helper is always still busy
    statuses = []

    class Recording(Progress):
        def status(self, text):
            statuses.append(text)

    sample.make_dataset(tmp_path / "s.db", 50)
    run_import(tmp_path / "s.db", target_url, progress=Recording(), verify=verify)
    meanwhile = "analyzing the imported tables while the source digests are computed"
    assert meanwhile in statuses
    assert "analyzing the imported tables" not in statuses  # not a second time after COMMIT
    if verify:  # before the target's hash, beside the still busy helper
        assert statuses.index(meanwhile) < statuses.index("hashing 6 tables on the target, before COMMIT")
    with psycopg.connect(target_url) as conn:
        analyzed = conn.execute("SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'Task' "
                                "AND last_analyze IS NOT NULL").fetchone()[0]
        tuples = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'Task'").fetchone()[0]
    assert analyzed == 1 and tuples == 50
