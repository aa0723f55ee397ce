"""The JSON export reader: one document or one file per model, streamed; bad JSON is a SourceError."""

from __future__ import annotations

import json

import pytest

from migrate import sample
from migrate.errors import SourceError
from migrate.source import MISSING, open_source


def test_json_export_is_detected_and_streams_records_with_absent_keys_missing(tmp_path):
    path = tmp_path / "export.json"
    sample.make_json_export(path, 20)
    with open_source(path) as src:
        assert src.flavour == "json"
        assert list(src.tables) == ["User", "Project", "Tag", "Task", "Comment", "_TagToTask"]
        assert src.tables["Task"].rows == 20 and src.tables["Task"].key == ["id"]
        rows = [r for b in src.batches("Task", ["id", "metadata", "nosuchkey"]) for r in b]
    assert len(rows) == 20 and all(r[2] is MISSING for r in rows)
    assert MISSING in [r[1] for r in rows]  # SQL NULL metadata is an absent key in the export


def test_json_export_row_counts_match_the_sqlite_dataset(tmp_path):
    assert sample.make_json_export(tmp_path / "e.json", 30, seed=3) == sample.make_dataset(tmp_path / "e.db", 30, seed=3)
    with open_source(tmp_path / "e.json") as js, open_source(tmp_path / "e.db") as db:
        assert {t.name: t.rows for t in js.tables.values()} == {t.name: t.rows for t in db.tables.values()}


def test_json_directory_with_one_file_per_model(tmp_path):
    (tmp_path / "User.json").write_text(json.dumps([{"id": 1, "email": "a@b"}, {"id": 2, "name": None}]))
    (tmp_path / "Tag.json").write_text("\ufeff" + json.dumps([]), encoding="utf-8")
    with open_source(tmp_path) as src:
        assert src.tables["User"].columns == ["id", "email", "name"] and src.tables["User"].rows == 2
        assert src.tables["Tag"].rows == 0
        assert list(src.batches("User", ["id", "name"])) == [[(1, MISSING), (2, None)]]


@pytest.mark.parametrize("text, match", [
    ('{"User": [{"id": 1}', "not valid JSON"),
    ('{"User": {"id": 1}}', "'User' must be an array of records"),
    ('{"User": [1, 2]}', "records of 'User' must be objects"),
    ('[{"id": 1}]', "expected an object mapping table names"),
])
def test_unreadable_json_is_a_source_error(tmp_path, text, match):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(SourceError, match=match):
        open_source(path)


def test_json_directory_without_json_files_is_refused(tmp_path):
    with pytest.raises(SourceError, match="holds no .json files"):
        open_source(tmp_path)


def test_json_export_skips_prisma_migrations(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"_prisma_migrations": [{"id": "m"}], "Tag": [{"id": 1, "name": "a"}]}')
    with open_source(path) as src:
        assert list(src.tables) == ["Tag"]
