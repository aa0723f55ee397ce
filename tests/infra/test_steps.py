"""Tests for infra/steps.py's digests: what makes a step run again (its wiring is tested in test_program.py)."""

from __future__ import annotations

import hashlib
import shutil

from infra.steps import migrations_digest, tree_digest
from tests.infra.fix_config import APP


def test_a_file_digest_is_the_sha256_of_its_bytes(tmp_path):
    path = tmp_path / "tasks.db"
    path.write_bytes(b"\x00snapshot" * 1000)
    assert tree_digest(path) == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_directory_digest_ignores_creation_order_but_sees_contents_and_names(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for root, order in ((one, ["a.json", "b/c.json"]), (two, ["b/c.json", "a.json"])):
        for name in order:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(name)
    assert tree_digest(one) == tree_digest(two)
    (two / "a.json").write_text("changed")
    assert tree_digest(one) != tree_digest(two)
    (two / "a.json").write_text("a.json")
    (two / "a.json").rename(two / "renamed.json")
    assert tree_digest(one) != tree_digest(two)


def test_the_migrations_digest_changes_with_a_new_migration_and_nothing_else(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APP / "prisma", app / "prisma")
    before = migrations_digest(app)
    assert before == migrations_digest(APP)
    (app / "prisma" / "schema.prisma").write_text("// edited without a migration")
    assert migrations_digest(app) == before
    (app / "prisma" / "migrations" / "20990101_more").mkdir()
    (app / "prisma" / "migrations" / "20990101_more" / "migration.sql").write_text('ALTER TABLE "Task" ADD x int;')
    assert migrations_digest(app) != before
