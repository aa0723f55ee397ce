"""Tests for migrate/sample.py and bench/make_dataset.py: Prisma's SQLite storage, determinism, the JSON export."""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest

from migrate.sample import SQLITE_APP, make_dataset, make_json_export, sqlite_ddl
from tests.conftest import FIXTURE_APP

TASKS = 2000
APP_TABLES = ["User", "Project", "Tag", "Task", "Comment", "_TagToTask"]
DATES = {"createdAt", "updatedAt", "dueAt"}
BOOLS = {"isAdmin", "archived", "done"}
DECIMALS = {"budget", "estimate"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
SECONDS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    made = {"plain": make_dataset(folder / "plain.db", TASKS, seed=3),
            "mixed": make_dataset(folder / "mixed.db", TASKS, mixed_dates=True, seed=3),
            "json": make_json_export(folder / "export.json", TASKS, seed=3)}
    return folder, made


def _rows(path, table: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


def _scalar(path, query: str, *params):
    with sqlite3.connect(path) as conn:
        return conn.execute(query, params).fetchone()[0]


def _storage(path, table: str, column: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {kind for (kind,) in conn.execute(f'SELECT DISTINCT typeof("{column}") FROM "{table}"')}


def test_tables_and_columns_match_the_postgres_migration(files, pg_url):
    folder, _ = files
    ddl = (FIXTURE_APP / "prisma" / "migrations" / "20251203_postgres_init" / "migration.sql").read_text()
    with psycopg.connect(pg_url) as conn:
        conn.execute(ddl)
        pg = conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                          " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position").fetchall()
    with sqlite3.connect(folder / "plain.db") as conn:
        lite = [(table, column) for table in sorted(APP_TABLES)
                for (_, column, *_) in conn.execute(f'PRAGMA table_info("{table}")')]

    assert lite == pg


def test_schema_is_prisma_sqlite_ddl_with_its_migrations_table(files):
    folder, _ = files
    statements = [re.sub(r"^--.*\n", "", s.strip(), flags=re.M).strip() for s in sqlite_ddl().split(";")]
    with sqlite3.connect(folder / "plain.db") as conn:
        stored = {sql for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")}
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}

    assert {s for s in statements if s} <= stored
    assert {"_prisma_migrations", "sqlite_sequence", "_TagToTask_AB_unique", "_TagToTask_B_index"} <= names
    assert 'CREATE TABLE "Task" (\n    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT' in sqlite_ddl()


def test_default_storage_is_what_the_native_engine_writes(files):
    path = files[0] / "plain.db"
    for table, column in [("User", "createdAt"), ("Task", "createdAt"), ("Task", "updatedAt"),
                          ("Comment", "createdAt"), ("Project", "createdAt")]:
        assert _storage(path, table, column) == {"integer"}, (table, column)
    assert _storage(path, "Task", "dueAt") == {"integer", "null"}
    assert _scalar(path, 'SELECT min(createdAt) > 1700000000000 AND max(createdAt) < 1800000000000 FROM "Task"')
    for table, column in [("User", "isAdmin"), ("Project", "archived"), ("Task", "done")]:
        assert _scalar(path, f'SELECT count(*) FROM "{table}" WHERE "{column}" NOT IN (0, 1)'
                             f" OR typeof(\"{column}\") != 'integer'") == 0, column
    assert _scalar(path, 'SELECT count(DISTINCT done) FROM "Task"') == 2
    assert _storage(path, "Task", "estimate") == {"real", "integer", "null"}  # integral decimals: INTEGER
    assert _storage(path, "Project", "budget") >= {"real", "null"}
    assert _storage(path, "User", "avatar") == {"blob", "null"}
    assert _scalar(path, "SELECT count(*) FROM \"User\" WHERE avatar = x''") > 0  # empty, not NULL
    assert set(_scalar(path, 'SELECT group_concat(DISTINCT status) FROM "Task"').split(",")) == {
        "TODO", "IN_PROGRESS", "DONE"}
    assert _scalar(path, 'SELECT count(*) FROM "Task" WHERE viewCount > 2147483647') > 0


def test_json_column_holds_numbers_text_json_null_and_sql_null(files):
    path = files[0] / "plain.db"

    assert _storage(path, "Task", "metadata") == {"integer", "real", "text", "null"}
    assert _scalar(path, "SELECT count(*) FROM \"Task\" WHERE metadata = 'null'") > 0  # JsonNull
    assert _scalar(path, 'SELECT count(*) FROM "Task" WHERE metadata IS NULL') > 0  # DbNull
    assert _scalar(path, "SELECT count(*) FROM \"Task\" WHERE typeof(metadata) = 'text'"
                         " AND json_valid(metadata) = 0") == 0


def test_text_keeps_the_characters_that_break_naive_loaders(files):
    path = files[0] / "plain.db"
    for needle in ["レビュー", "🚀", "\t", "\n", "\r\n", "\\", "'", '"', "\\N"]:
        assert _scalar(path, 'SELECT count(*) FROM "Task" WHERE instr(title, ?) > 0', needle) > 0, needle
    assert _scalar(path, "SELECT count(*) FROM \"Task\" WHERE description = ''") > 0  # empty, not NULL
    assert _scalar(path, 'SELECT count(*) FROM "Task" WHERE description IS NULL') > 0


def test_mixed_dates_put_iso_and_current_timestamp_text_beside_integers(files):
    path = files[0] / "mixed.db"
    with sqlite3.connect(path) as conn:
        cells = {column: [v for (v,) in conn.execute(f'SELECT "{column}" FROM "Task"')] for column in DATES}

    for column, values in cells.items():
        texts = [v for v in values if isinstance(v, str)]
        assert any(isinstance(v, int) for v in values) and texts, column
        assert all(ISO.match(v) or (column == "createdAt" and SECONDS.match(v)) for v in texts), column
    assert any(SECONDS.match(v) for v in cells["createdAt"] if isinstance(v, str))  # only @default(now())


def _ms(value):
    """A date cell's epoch ms whichever way it is stored; any other value as it is."""
    if isinstance(value, str) and SECONDS.match(value):
        value = value.replace(" ", "T") + ".000+00:00"
    if isinstance(value, str) and ISO.match(value):
        return (datetime.fromisoformat(value) - EPOCH) // timedelta(milliseconds=1)
    return value


def test_mixed_dates_change_only_how_dates_are_stored(files):
    folder, _ = files
    for table in APP_TABLES:
        plain, mixed = _rows(folder / "plain.db", table), _rows(folder / "mixed.db", table)
        assert len(plain) == len(mixed)
        for a, b in zip(plain, mixed):
            decoded = tuple(_ms(v) for v in b)
            # CURRENT_TIMESTAMP text has whole seconds only.
            assert all(x == y or (isinstance(x, int) and y == x // 1000 * 1000) for x, y in zip(a, decoded)), (a, b)


def test_same_seed_gives_the_same_data_and_another_seed_other_data(files, tmp_path):
    folder, _ = files
    make_dataset(tmp_path / "again.db", TASKS, seed=3)
    make_dataset(tmp_path / "other.db", TASKS, seed=4)

    for table in APP_TABLES + ["_prisma_migrations"]:
        assert _rows(tmp_path / "again.db", table) == _rows(folder / "plain.db", table), table
    assert _rows(tmp_path / "other.db", "Task") != _rows(folder / "plain.db", "Task")


@pytest.mark.parametrize("tasks, expected", [
    (1, {"User": 1, "Project": 1, "Tag": 200, "Task": 1, "Comment": 1}),
    (2000, {"User": 20, "Project": 40, "Tag": 200, "Task": 2000, "Comment": 2000}),
])
def test_row_counts_scale_with_tasks_and_are_reported(tmp_path, tasks, expected):
    counts = make_dataset(tmp_path / "app.db", tasks, seed=1)

    for table in APP_TABLES:
        assert counts[table] == _scalar(tmp_path / "app.db", f'SELECT count(*) FROM "{table}"')
    assert {k: v for k, v in counts.items() if k != "_TagToTask"} == expected
    assert 0.9 * tasks <= counts["_TagToTask"] <= 1.1 * tasks or tasks < 10
    assert _scalar(tmp_path / "app.db", 'SELECT count(*) FROM (SELECT DISTINCT A, B FROM "_TagToTask")') == \
        counts["_TagToTask"]


def test_prisma_migrations_row_is_what_migrate_deploy_writes_on_sqlite(files):
    [row] = _rows(files[0] / "plain.db", "_prisma_migrations")
    uid, checksum, finished, name, logs, rolled_back, started, steps = row
    script = SQLITE_APP / "migrations" / "20240301091500_init" / "migration.sql"

    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uid)
    assert checksum == hashlib.sha256(script.read_bytes()).hexdigest()
    assert (name, logs, rolled_back, steps) == ("20240301091500_init", None, None, 1)
    assert isinstance(started, int) and isinstance(finished, int) and started <= finished


def test_existing_file_is_replaced_and_nothing_partial_is_left(tmp_path):
    target = tmp_path / "app.db"
    target.write_text("old")

    make_dataset(target, 5)

    assert _scalar(target, 'SELECT count(*) FROM "Task"') == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


@pytest.mark.parametrize("maker", [make_dataset, make_json_export])
def test_fewer_than_one_task_is_refused(tmp_path, maker):
    with pytest.raises(ValueError, match="at least 1; got 0"):
        maker(tmp_path / "x", 0)
    assert list(tmp_path.iterdir()) == []


def _iso_z(ms: int) -> str:
    moment = EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _expected_field(column: str, value):
    """What the export should hold for one SQLite cell, decoded independently of migrate/sample.py."""
    if value is None:
        return None
    if column in DATES:
        return _iso_z(value)
    if column in BOOLS:
        return {0: False, 1: True}[value]
    if column in DECIMALS:
        return Decimal(repr(float(value)))
    if column == "avatar":
        return base64.b64encode(value).decode()
    if column == "metadata":
        return json.loads(value) if isinstance(value, str) else value
    return value


def test_json_export_holds_the_same_records_as_the_sqlite_file(files):
    folder, made = files
    export = json.loads((folder / "export.json").read_text(encoding="utf-8"))

    assert list(export) == APP_TABLES
    assert made["json"] == made["plain"] == {table: len(export[table]) for table in APP_TABLES}
    for table in APP_TABLES:
        with sqlite3.connect(folder / "plain.db") as conn:
            columns = [c for (_, c, *_) in conn.execute(f'PRAGMA table_info("{table}")')]
        for row, record in zip(_rows(folder / "plain.db", table), export[table]):
            for column, value in zip(columns, row):
                got = record.get(column, "<absent>")
                if column in DECIMALS and got is not None:
                    got = Decimal(got)
                if column == "viewCount":
                    got = int(got)
                if column == "metadata" and value is None:
                    assert got == "<absent>", record  # SQL NULL: the key is left out
                    continue
                assert got == _expected_field(column, value), (table, column, record)


def test_json_export_encodes_types_as_documented(files):
    export = json.loads((files[0] / "export.json").read_text(encoding="utf-8"))
    tasks = export["Task"]

    assert any("metadata" in t and t["metadata"] is None for t in tasks)  # JsonNull
    assert any("metadata" not in t for t in tasks)  # DbNull
    assert {type(t["metadata"]) for t in tasks if "metadata" in t} >= {dict, list, str, int, float, bool}
    big = [t["viewCount"] for t in tasks if isinstance(t["viewCount"], str)]
    assert big and all(int(v) > 2**53 - 1 and v.isdigit() for v in big)
    assert all(abs(t["viewCount"]) <= 2**53 - 1 for t in tasks if isinstance(t["viewCount"], int))
    decimals = [t["estimate"] for t in tasks if t["estimate"] is not None]
    assert all(re.fullmatch(r"-?\d+(\.\d*[1-9])?", d) for d in decimals)  # no exponent, no trailing zeros
    assert any("." in d for d in decimals) and any("." not in d for d in decimals)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t["createdAt"]) for t in tasks)
    assert all(set(link) == {"A", "B"} for link in export["_TagToTask"])
    assert "" in [u["avatar"] for u in export["User"]]  # empty bytes stay distinct from null


def test_json_export_is_plain_utf8_with_characters_unescaped(files):
    raw = (files[0] / "export.json").read_bytes()

    assert not raw.startswith(b"\xef\xbb\xbf")
    assert "レビュー待ち".encode() in raw and b"\\u30ec" not in raw


def test_make_dataset_cli_writes_sqlite_or_json(tmp_path, capsys):
    main = importlib.import_module("bench.make_dataset").main

    assert main(["--tasks", "30", "--out", str(tmp_path / "a.db"), "--mixed-dates", "--seed", "2"]) == 0
    assert main(["--tasks", "30", "--out", str(tmp_path / "a.json"), "--format", "json", "--seed", "2"]) == 0

    assert _scalar(tmp_path / "a.db", 'SELECT count(*) FROM "Task"') == 30
    assert len(json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["Task"]) == 30
    assert "wrote" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--tasks", "0"], ["--tasks", "5", "--format", "json", "--mixed-dates"]])
def test_make_dataset_cli_rejects_bad_arguments_with_exit_2(tmp_path, args):
    main = importlib.import_module("bench.make_dataset").main

    with pytest.raises(SystemExit) as caught:
        main([*args, "--out", str(tmp_path / "x")])

    assert caught.value.code == 2 and list(tmp_path.iterdir()) == []
