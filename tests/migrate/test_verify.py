"""Counts and digests: Python (source side) equals PostgreSQL (target side) for equal rows, and only then."""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from migrate import verify
from migrate.canonical import sql_row_text
from migrate.errors import ConversionError, TargetError
from migrate.verify import (Cancel, Mismatch, TableHasher, compare, pg_table_digest, source_digests, target_digests,
                            to_signed64)

from .conftest import sleeping_digest, wait_for_sleeping_query

# A Task-like table with every kind: (column, kind, PostgreSQL type).
COLUMNS = [
    ("id", "int", "integer"), ("title", "text", "text"), ("description", "text", "text"),
    ("status", "text", '"Status"'), ("done", "bool", "boolean"), ("priority", "int", "integer"),
    ("estimate", "numeric", "numeric(65,30)"), ("metadata", "jsonb", "jsonb"), ("viewCount", "int", "bigint"),
    ("dueAt", "timestamp", "timestamp(3)"), ("createdAt", "timestamp", "timestamp(3)"),
    ("avatar", "bytea", "bytea"), ("score", "float", "double precision"), ("day", "date", "date"),
    ("seenAt", "timestamptz", "timestamptz"), ("raw", "json", "json"), ("code", "text", "varchar(20)"),
]
KINDS = [kind for _, kind, _ in COLUMNS]
PAIRS = [(name, kind) for name, kind, _ in COLUMNS]
INDEX = {name: i for i, (name, _, _) in enumerate(COLUMNS)}
DOCS = ['{"labels": ["ui", "bug"], "points": 3, "ratio": 0.25}', '{"b":1,"a":[1.50,1e2,-0]}', "null", "42", "3.5",
        '"日本"', "[]", "{}", '{"é":{"z":null,"aa":true}}']
TEXTS = ["", "plain", "日本語 😀", "tab\tnew\nline\\", "sep\x1fin\x1etext", "it's \"quoted\""]


def make_rows(n: int, seed: int = 7) -> list[tuple]:
    rnd = random.Random(seed)
    base = dt.datetime(2025, 1, 1)
    rows = []
    for i in range(1, n + 1):
        created = base + dt.timedelta(milliseconds=rnd.randrange(-10**11, 10**11))
        rows.append((
            i, rnd.choice(TEXTS) + str(i), rnd.choice(TEXTS + [None]), rnd.choice(["TODO", "IN_PROGRESS", "DONE"]),
            rnd.random() < 0.5, rnd.randrange(-5, 5), rnd.choice([None, Decimal(repr(rnd.uniform(-1e6, 1e6))), Decimal("12.0")]),
            rnd.choice(DOCS + [None]), rnd.randrange(-2**63, 2**63), rnd.choice([None, created]), created,
            rnd.choice([None, b"", rnd.randbytes(rnd.randrange(1, 40))]), rnd.choice([None, rnd.uniform(-1e9, 1e9), -0.0]),
            rnd.choice([None, created.date()]), created.replace(tzinfo=dt.timezone.utc),
            rnd.choice([None, '{"b" : 1,  "a": 2}', "[1, 2]"]), rnd.choice([None, "", "code-" + str(i)]),
        ))
    return rows


def create_table(conn: psycopg.Connection, name: str, rows: list[tuple]) -> None:
    conn.execute("DO $$ BEGIN CREATE TYPE \"Status\" AS ENUM ('TODO', 'IN_PROGRESS', 'DONE'); "
                 "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(name), sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(pgtype)) for col, _, pgtype in COLUMNS)))
    columns = sql.SQL(", ").join(sql.Identifier(col) for col, _, _ in COLUMNS)
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(name), columns)) as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()


def python_side(rows) -> tuple[int, int]:
    hasher = TableHasher(KINDS)
    for row in rows:
        hasher.add(row)
    return hasher.result


@pytest.fixture
def conn(pg_url):
    with psycopg.connect(pg_url) as connection:
        yield connection


def test_python_digest_equals_postgres_digest(conn):
    rows = make_rows(300)
    create_table(conn, "Task", rows)
    assert pg_table_digest(conn, "Task", PAIRS) == python_side(rows)
    assert python_side(rows)[0] == 300


def test_digest_ignores_row_order():
    rows = make_rows(50)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert python_side(shuffled) == python_side(rows)


def test_digest_counts_duplicate_rows(conn):
    rows = make_rows(20)
    create_table(conn, "Task", rows + [rows[3]])
    count, digest = pg_table_digest(conn, "Task", PAIRS)
    assert (count, digest) == python_side(rows + [rows[3]])
    assert count == 21 and digest != python_side(rows)[1]
    # Same count, but one row doubled and another left out.
    assert python_side(rows[:-1] + [rows[0]])[1] != python_side(rows)[1]


# (column, value in the source, value in the target, digests equal?)
CHANGES = [
    ("dueAt", dt.datetime(2025, 1, 7, 16, 7, 0, 123000), dt.datetime(2025, 1, 7, 16, 7, 0, 124000), False),
    ("seenAt", dt.datetime(2025, 1, 7, 16, 7, tzinfo=dt.timezone.utc),
     dt.datetime(2025, 1, 7, 18, 7, tzinfo=dt.timezone(dt.timedelta(hours=2))), True),
    ("estimate", Decimal("1.50"), Decimal("1.5"), True),
    ("estimate", Decimal("1.50"), Decimal("1.05"), False),
    ("metadata", '{"a": 1, "b": [1, 2]}', '{"b":[1,2],"a":1}', True),
    ("metadata", '{"a": 1, "b": [1, 2]}', '{"a": 1, "b": [2, 1]}', False),
    ("metadata", '{"a": 3.50}', '{"a": 3.5}', False),
    ("metadata", "null", None, False),
    ("raw", '{"a": 1, "b": 2}', '{"b": 2, "a": 1}', False),
    ("description", "", None, False),
    ("title", "a\x1fb", "a\x1fc", False),
    ("avatar", b"\x00\x01\x02\x03", b"\x00\x01\x02\x04", False),
    ("done", True, False, False),
    ("score", 0.1, 0.1 + 2**-56, False),
    ("day", dt.date(2024, 2, 29), dt.date(2024, 3, 1), False),
    ("code", "x", "x ", False),
]


def changed_rows(change: tuple) -> tuple[list[tuple], list[tuple]]:
    """(source rows, target rows): ten equal rows except that row 5's ``column`` holds the two values."""
    column, source_value, target_value, _ = change
    source, target = [list(row) for row in make_rows(10)], [list(row) for row in make_rows(10)]
    source[4][INDEX[column]], target[4][INDEX[column]] = source_value, target_value
    return [tuple(row) for row in source], [tuple(row) for row in target]


@pytest.fixture(scope="module")
def changes_url(pg_cluster):
    """One database holding table change_<i> with the target rows of CHANGES[i] (one database is faster)."""
    url = pg_cluster.create_database(f"verify_changes_{os.getpid()}")
    with psycopg.connect(url) as conn:
        for i, change in enumerate(CHANGES):
            create_table(conn, f"change_{i}", changed_rows(change)[1])
    return url


@pytest.mark.parametrize("index", range(len(CHANGES)),
                         ids=[f"{c[0]}-{'equal' if c[3] else 'differs'}-{i}" for i, c in enumerate(CHANGES)])
def test_one_changed_value_changes_the_digest_unless_postgres_calls_it_equal(changes_url, index):
    source, _ = changed_rows(CHANGES[index])
    with psycopg.connect(changes_url) as conn:
        count, digest = pg_table_digest(conn, f"change_{index}", PAIRS)
    assert count == 10
    assert (digest == python_side(source)[1]) is CHANGES[index][3]


def test_empty_table_has_count_and_digest_zero(conn):
    create_table(conn, "Task", [])
    assert pg_table_digest(conn, "Task", PAIRS) == (0, 0) == TableHasher(KINDS).result


def test_target_digests_hashes_each_table_on_its_own_connection_in_parallel(pg_url):
    tables = {"Task": make_rows(120, seed=1), "Other": make_rows(40, seed=2), "Empty": [], 'We"ird': make_rows(3)}
    with psycopg.connect(pg_url) as conn:
        for name, rows in tables.items():
            create_table(conn, name, rows)
    digests = target_digests(pg_url, {name: PAIRS for name in tables}, jobs=3)
    assert list(digests) == list(tables)
    assert digests == {name: python_side(rows) for name, rows in tables.items()}


@pytest.mark.parametrize("cores, expected", [(None, "2"), (1, "0"), (2, "1")])
def test_target_digests_fit_each_querys_parallel_workers_to_the_cores_given(pg_url, monkeypatch, cores, expected):
    # The test cluster listens on 127.0.0.1 (a server on this machine) and keeps PostgreSQL's default of 2.
    with psycopg.connect(pg_url) as conn:
        create_table(conn, "Task", make_rows(5))
    seen = []

    def recording(conn, *args, **kwargs):
        seen.append(conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[0])
        return pg_table_digest(conn, *args, **kwargs)

    monkeypatch.setattr("migrate.verify.pg_table_digest", recording)
    assert target_digests(pg_url, {"Task": PAIRS}, cores=cores) == {"Task": python_side(make_rows(5))}
    assert seen == [expected]


def test_cancel_stops_the_running_query_of_target_digests(pg_url, monkeypatch):
    with psycopg.connect(pg_url) as conn:
        create_table(conn, "Task", make_rows(3))
    monkeypatch.setattr("migrate.verify.pg_table_digest", sleeping_digest)
    cancel = Cancel()
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(target_digests, pg_url, {"Task": PAIRS}, cancel=cancel)
        wait_for_sleeping_query(pg_url)
        cancelled_at = time.monotonic()
        cancel()
        with pytest.raises(TargetError, match="cancel"):
            running.result(timeout=20)
    assert time.monotonic() - cancelled_at < 5  # not the query's 30 s


def test_a_cancelled_target_digests_starts_no_table(pg_url):
    with psycopg.connect(pg_url) as conn:
        create_table(conn, "Task", make_rows(3))
    cancel = Cancel()
    cancel()
    with pytest.raises(TargetError, match="hashing table Task on the target was cancelled"):
        target_digests(pg_url, {"Task": PAIRS}, cancel=cancel)


def test_target_digests_names_a_missing_table(pg_url):
    with pytest.raises(TargetError, match="cannot hash table Nope on the target: .*does not exist") as info:
        target_digests(pg_url, {"Nope": [("id", "int")]})
    assert info.value.table == "Nope"


def test_target_digests_keeps_the_password_out_of_connection_errors(pg_cluster):
    url = f"postgresql://someone:s3cret-pw@127.0.0.1:{pg_cluster.port}/no_such_db"
    with pytest.raises(TargetError) as info:
        target_digests(url, {"Task": PAIRS})
    assert "cannot connect to the target" in str(info.value)
    assert "s3cret-pw" not in str(info.value)


def test_source_digests_hashes_each_table_from_its_rows():
    task_rows = make_rows(30)
    result = source_digests([("Task", KINDS, iter(task_rows)), ("Tag", ["int", "text"], [(1, "a"), (2, "b")])])
    tag = TableHasher(["int", "text"])
    tag.add((2, "b"))
    tag.add((1, "a"))
    assert result == {"Task": python_side(task_rows), "Tag": tag.result}


def test_add_names_table_row_and_column_of_a_value_it_cannot_hash():
    hasher = TableHasher(["int", "timestamp"], table="Task", columns=["id", "dueAt"])
    hasher.add((1, dt.datetime(2025, 1, 1)))
    with pytest.raises(ConversionError, match=r"table Task row 2 column dueAt: cannot hash a str as timestamp") as info:
        hasher.add((2, "2025-01-01"))
    assert (info.value.table, info.value.column, info.value.row_id) == ("Task", "dueAt", 2)


def test_update_reports_a_row_of_the_wrong_width():
    hasher = TableHasher(["int", "text"], table="Tag")
    with pytest.raises(ConversionError, match="table Tag row 2: expected 2 values, got 1"):
        hasher.update([(1, "a"), (2,)])


def test_update_reports_text_postgres_cannot_store():
    with pytest.raises(ConversionError, match="row 1 column #2: cannot hash a str as text"):
        TableHasher(["int", "text"], table="Tag").add((1, "lone \ud800 surrogate"))


def test_update_equals_add_in_a_loop():
    rows = make_rows(25)
    hasher = TableHasher(KINDS)
    hasher.update(rows[:10])
    hasher.update(iter(rows[10:]))
    assert hasher.result == python_side(rows)


def test_to_signed64_wraps_sums_into_a_signed_64_bit_range():
    assert to_signed64(2**63) == -2**63
    assert to_signed64(2**64 + 5) == 5
    assert to_signed64(-1) == -1
    assert to_signed64(3 * 2**64 - 1) == -1


def test_compare_lists_only_tables_that_differ():
    source = {"Task": (10, 111), "Tag": (3, 5), "User": (2, 9), "Gone": (1, 1)}
    target = {"Task": (10, 112), "Tag": (2, 4), "User": (2, 9), "Extra": (4, 4)}
    assert compare(source, target) == [
        Mismatch("Extra", None, 4, counts_match=False, content_match=False),
        Mismatch("Gone", 1, None, counts_match=False, content_match=False),
        Mismatch("Tag", 3, 2, counts_match=False, content_match=False),
        Mismatch("Task", 10, 10, counts_match=True, content_match=False),
    ]
    assert compare(source, dict(source)) == []


def test_mismatch_reads_as_one_line():
    assert str(Mismatch("Task", 10, 9, False, False)) == "Task: 10 rows in the source, 9 in the target"
    assert str(Mismatch("Task", 10, 10, True, False)) == "Task: same 10 rows, but their contents differ"
    assert str(Mismatch("Tag", None, 4, False, False)) == "Tag: missing on the source side"


# -- the target's encoding picks the SQL form of text --------------------------------------------------------
# Texts whose UTF-8 byte length is not their length in characters; in a LATIN1 database only Latin-1 ones.
UTF8_TEXTS = ["é", "日本", "emoji 😀", "", None, "plain", "sep\x1fé"]
LATIN1_TEXTS = ["é", "ÿ", "Ä", "naïve café", "", None, "plain"]
ASCII_TEXTS = ["e", "y", "", None, "plain"]
LABEL = [("id", "int"), ("name", "text"), ("code", "text")]


def label_rows(texts: list) -> list[tuple]:
    return [(i, text, None if text is None else text[::-1]) for i, text in enumerate(texts)]


def create_labels(url: str, table: str, rows: list[tuple]) -> None:
    """A table like LABEL (integer, text, varchar) holding ``rows``."""
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id integer, name text, code varchar(20))")
                     .format(sql.Identifier(table)))
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))) as copy:
            for row in rows:
                copy.write_row(row)


def python_labels(rows: list[tuple]) -> tuple[int, int]:
    hasher = TableHasher([kind for _, kind in LABEL])
    hasher.update(rows)
    return hasher.result


@pytest.fixture(scope="module")
def latin1_url(pg_cluster):
    """A LATIN1 database (the session's cluster makes UTF8 ones) with Label (LATIN1_TEXTS) and Plain (ASCII_TEXTS)."""
    name = f"verify_latin1_{os.getpid()}"
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
                     .format(sql.Identifier(name)))
    url = pg_cluster.url(name)
    create_labels(url, "Label", label_rows(LATIN1_TEXTS))
    create_labels(url, "Plain", label_rows(ASCII_TEXTS))
    return url


@pytest.fixture
def forms(monkeypatch) -> list[bool]:
    """The ``utf8`` argument of each sql_row_text call that pg_table_digest makes."""
    seen = []

    def spy(columns, *, utf8=False):
        seen.append(utf8)
        return sql_row_text(columns, utf8=utf8)
    monkeypatch.setattr(verify, "sql_row_text", spy)
    return seen


def test_digest_of_multibyte_text_in_a_utf8_database_takes_the_utf8_form_and_equals_python(pg_url, forms):
    rows = label_rows(UTF8_TEXTS)
    create_labels(pg_url, "Label", rows)
    with psycopg.connect(pg_url) as conn:
        assert conn.info.parameter_status("server_encoding") == "UTF8"
        assert pg_table_digest(conn, "Label", LABEL) == python_labels(rows)
    assert forms == [True]


def test_digest_of_latin1_text_in_a_latin1_database_takes_the_general_form_and_equals_python(latin1_url, forms):
    with psycopg.connect(latin1_url) as conn:
        assert conn.info.parameter_status("server_encoding") == "LATIN1"
        assert pg_table_digest(conn, "Label", LABEL) == python_labels(label_rows(LATIN1_TEXTS))
        assert pg_table_digest(conn, "Plain", LABEL) == python_labels(label_rows(ASCII_TEXTS))
    assert forms == [False, False]


def test_utf8_form_in_a_latin1_database_gives_a_wrong_digest_for_non_ascii_text(latin1_url, monkeypatch):
    # The wrong choice: octet_length counts LATIN1 bytes (1 for 'é' where UTF-8 has 2) and md5 hashes them.
    status = psycopg.ConnectionInfo.parameter_status
    monkeypatch.setattr(psycopg.ConnectionInfo, "parameter_status",
                        lambda info, name: "UTF8" if name == "server_encoding" else status(info, name))
    with psycopg.connect(latin1_url) as conn:
        count, digest = pg_table_digest(conn, "Label", LABEL)
        ascii_only = pg_table_digest(conn, "Plain", LABEL)
    assert count == len(LATIN1_TEXTS)
    assert digest != python_labels(label_rows(LATIN1_TEXTS))[1]
    assert ascii_only == python_labels(label_rows(ASCII_TEXTS))  # (only non-ASCII text tells the forms apart)
