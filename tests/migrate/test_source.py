"""Source readers: SQLite files and JSON exports, detected by content; every unreadable input is a SourceError."""

from __future__ import annotations

import sqlite3

import pytest

from migrate import sample
from migrate.errors import SourceError
from migrate.source import open_source

from .conftest import insert, seed_minimal, task


def test_sqlite_source_lists_app_tables_without_prisma_migrations(sqlite_path):
    seed_minimal(sqlite_path)
    with open_source(sqlite_path) as src:
        assert src.flavour == "sqlite"
        assert set(src.tables) == {"User", "Project", "Task", "Comment", "Tag", "_TagToTask"}
        assert src.tables["User"].rows == 1 and src.tables["Task"].rows == 0
        assert src.tables["Task"].columns[:3] == ["id", "title", "description"]
        assert src.tables["Task"].key == ["id"]
        assert src.tables["Task"].declared["dueAt"] == "DATETIME"


def test_sqlite_rows_come_in_the_requested_column_order_and_in_batches(sqlite_path):
    seed_minimal(sqlite_path)
    for i in range(1, 6):
        task(sqlite_path, i)
    with open_source(sqlite_path) as src:
        batches = list(src.batches("Task", ["title", "id"], size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert batches[0][0] == ("task 1", 1)


def test_sqlite_values_keep_their_storage_class(sqlite_path):
    seed_minimal(sqlite_path)
    task(sqlite_path, 1, metadata="42", estimate="12.0", dueAt="2025-01-07 16:07:00")
    with open_source(sqlite_path) as src:
        [[row]] = src.batches("Task", ["metadata", "estimate", "dueAt"])
    assert row == (42, 12, "2025-01-07 16:07:00")  # NUMERIC affinity at work, as in a Prisma file


def test_missing_source_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="source not found"):
        open_source(tmp_path / "nope.db")


@pytest.mark.parametrize("content, found", [(b"", "an empty file"), (b"hello world", "a file starting with b'hello world'")])
def test_a_file_that_is_neither_sqlite_nor_json_is_refused(tmp_path, content, found):
    path = tmp_path / "x.db"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=f"neither a SQLite database nor a JSON export: found {found}"):
        open_source(path)


def test_a_sqlite_file_with_a_damaged_header_is_refused(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(SourceError, match="not a readable SQLite database"):
        open_source(path)


def _corrupt_task_pages(tmp_path):
    path = tmp_path / "big.db"
    sample.make_dataset(path, 300)
    with sqlite3.connect(path) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'Task'").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    for p in range(root, root + 20):  # scribble over the Task b-tree pages
        data[(p - 1) * page + 8:(p - 1) * page + 64] = b"\xa5" * 56
    path.write_bytes(bytes(data))
    return path


def test_corrupt_pages_fail_the_read_of_that_table_when_not_checked_first(tmp_path):
    path = _corrupt_task_pages(tmp_path)
    with open_source(path, check=False) as src:
        with pytest.raises(SourceError, match="Task"):
            for _ in src.batches("Task", src.tables["Task"].columns):
                pass


def test_quick_check_finds_corruption_on_open(tmp_path):
    # SQLite's own words: "Tree 10 page 10 cell 27: ..." (3.54, bundled with APSW; 3.40 said "On tree page 10 ...")
    with pytest.raises(SourceError, match=r"is corrupt \(PRAGMA quick_check\): Tree \d+ page \d+ cell \d+: "):
        open_source(_corrupt_task_pages(tmp_path))


def test_text_that_is_not_utf8_names_table_row_and_column(sqlite_path):
    seed_minimal(sqlite_path)
    task(sqlite_path, 1)
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute("UPDATE Task SET title = CAST(x'41ff42' AS TEXT) WHERE id = 1")
    conn.close()
    with open_source(sqlite_path) as src:
        with pytest.raises(SourceError, match=r"table Task, rowid 1, column title: text is not valid UTF-8"):
            list(src.batches("Task", src.tables["Task"].columns))


def test_insert_helper_keeps_sqlite_affinity(sqlite_path):
    insert(sqlite_path, "Tag", id=1, name="x")
    with open_source(sqlite_path) as src:
        assert src.tables["Tag"].rows == 1
