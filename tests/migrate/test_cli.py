"""``python -m migrate``: verbs, exit codes, reports, and errors as one line without tracebacks."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import Future

import psycopg
import pytest

from migrate import commands, sample
from migrate.cli import EPILOGS, build_parser, main
from migrate.errors import ConversionError, TargetError
from migrate.progress import Progress

from .conftest import fetch, plan_for, seed_minimal, sleeping_digest, snapshot, task, wait_for_sleeping_query


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "data.db"
    sample.make_dataset(path, 300, mixed_dates=True, seed=3)
    return path


def with_password(url: str, password: str = "s3cr3t-pw") -> str:
    """The same database, with a password in the URL (the cluster trusts local connections, so it still works)."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")


def test_import_then_verify_report_no_differences_and_exit_0(dataset, target_url, capsys, tmp_path):
    report = tmp_path / "import.json"
    assert main(["import", "-q", "--source", str(dataset), "--target", target_url, "--json-report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "verification: no differences in 6 tables" in printed
    doc = json.loads(report.read_text())
    assert doc["verification"]["ok"] is True
    assert doc["rows"] == sum(sample_counts(dataset).values())
    assert fetch(target_url, 'SELECT count(*) FROM "Task"')[0][0] == 300

    assert main(["verify", "-q", "--source", str(dataset), "--target", target_url]) == 0
    assert "no differences" in capsys.readouterr().out


@pytest.mark.parametrize("helper", [False, True], ids=["hashed-in-stream", "hashed-by-helper"])
def test_import_that_does_not_verify_is_rolled_back_and_exits_3(dataset, target_url, capsys, tmp_path,
                                                                monkeypatch, helper):
    assert main(["import", "-q", "--source", str(dataset), "--target", target_url]) == 0  # what must survive
    # A trigger in the target rewrites one row as COPY stores it: the data that would commit is not the source's.
    with psycopg.connect(target_url) as conn:
        conn.execute("""CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN IF NEW.id = 7 THEN NEW.title := upper(NEW.title) || '!'; END IF; RETURN NEW; END $$;
                        CREATE TRIGGER shout BEFORE INSERT ON "Task" FOR EACH ROW EXECUTE FUNCTION shout()""")
    if helper:  # the source digests then come from the helper process, as for big sources
        monkeypatch.setattr("migrate.load.BACKGROUND_HASH_ROWS", 1)
    before = snapshot(target_url)
    report = tmp_path / "import.json"
    capsys.readouterr()
    assert main(["import", "-q", "--replace", "--source", str(dataset), "--target", target_url,
                 "--json-report", str(report)]) == 3
    captured = capsys.readouterr()
    assert "differs: Task: same 300 rows, but their contents differ" in captured.out
    assert "rolled back: nothing was imported" in captured.out
    assert captured.err.startswith("error: verification found differences in 1 table(s): Task")
    assert snapshot(target_url) == before
    doc = json.loads(report.read_text())
    assert doc["committed"] is False and doc["verification"]["mismatches"] == [
        "Task: same 300 rows, but their contents differ"]


def test_a_target_table_the_source_lacks_is_verified_empty_by_import_and_verify(dataset, target_url, capsys):
    import sqlite3
    with sqlite3.connect(dataset) as conn:  # nothing references Comment, so the rest still holds together
        conn.execute('DROP TABLE "Comment"')
    conn.close()
    assert main(["import", "-q", "--source", str(dataset), "--target", target_url]) == 0
    assert "verification: no differences in 6 tables" in capsys.readouterr().out
    with psycopg.connect(target_url) as conn:
        conn.execute("""INSERT INTO "Comment" (body, "taskId") VALUES ('stray', 1)""")
    assert main(["verify", "-q", "--source", str(dataset), "--target", target_url]) == 3
    assert "Comment: 0 rows in the source, 1 in the target" in capsys.readouterr().out


def test_a_json_export_with_an_empty_array_imports_and_verifies(tmp_path, target_url, capsys):
    export = tmp_path / "export.json"
    export.write_text('{"User": [{"id": 3, "email": "j@x", "isAdmin": true, '
                      '"createdAt": "2024-03-01T09:15:00.250Z"}], "Tag": []}')
    assert main(["import", "-q", "--source", str(export), "--target", target_url]) == 0
    assert main(["verify", "-q", "--source", str(export), "--target", target_url]) == 0
    assert "verification: no differences in 6 tables" in capsys.readouterr().out


def sample_counts(path) -> dict:
    import sqlite3
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                            "AND name NOT LIKE 'sqlite_%' AND name != '_prisma_migrations'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def verify_after_change(dataset, target_url, capsys, *, target_sql=None, source_sql=None):
    """Import ``dataset``, run one SQL statement on the target or the source, then ``verify``: its exit code
    and what it printed."""
    assert main(["import", "-q", "--source", str(dataset), "--target", target_url]) == 0
    if target_sql:
        with psycopg.connect(target_url) as conn:
            conn.execute(target_sql)
    if source_sql:
        with sqlite3.connect(dataset) as conn:
            conn.execute(source_sql)
    capsys.readouterr()
    return main(["verify", "-q", "--source", str(dataset), "--target", target_url]), capsys.readouterr()


def test_verify_exits_3_and_names_the_table_whose_content_changed(dataset, target_url, capsys):
    code, captured = verify_after_change(dataset, target_url, capsys,  # one millisecond on one row
                                         target_sql="""UPDATE "Task" SET "createdAt" = "createdAt" """
                                                    """+ interval '1 millisecond' WHERE id = 7""")
    assert code == 3
    assert "differs: Task: same 300 rows, but their contents differ" in captured.out
    assert "Comment" not in captured.out.split("differs:", 1)[1].splitlines()[0]
    assert captured.err.startswith("error: verification found differences in 1 table(s): Task")


def test_verify_reports_a_missing_row_by_count(dataset, target_url, capsys):
    code, captured = verify_after_change(dataset, target_url, capsys, target_sql='DELETE FROM "Comment" WHERE id = 5')
    assert code == 3
    assert "Comment: 300 rows in the source, 299 in the target" in captured.out


def test_verify_names_a_source_value_the_import_would_refuse_in_a_table_that_differs(dataset, target_url, capsys):
    # The fast source hash takes any stored integer; the complete converters, run again for the table that
    # differs, refuse one that priority (int4) cannot hold, and name it.
    code, captured = verify_after_change(dataset, target_url, capsys,
                                         source_sql='UPDATE "Task" SET "priority" = 1099511627776 WHERE id = 7')
    assert code == 1
    err = captured.err
    assert err.startswith("error: ") and "Traceback" not in err
    assert "Task" in err and "id=7" in err and "priority" in err and "1099511627776" in err


def test_verify_stops_hashing_the_source_once_the_target_side_has_failed(dataset, target_url, monkeypatch):
    source, the_plan = plan_for(dataset, target_url)
    batches_of = type(source).batches
    monkeypatch.setattr(type(source), "batches", lambda self, table, columns: batches_of(self, table, columns, 100))
    failed = Future()
    failed.set_exception(TargetError("cannot hash table Task on the target: boom", "Task"))
    batches = []

    class Counting(Progress):
        @contextlib.contextmanager
        def table(self, name, total):
            yield batches.append

    task_plan = next(tp for tp in the_plan.tables if tp.target == "Task")
    with source, pytest.raises(TargetError, match="boom"):
        commands._fast_digest(source, task_plan, False, Counting(), failed)
    assert batches == [100]  # the first of Task's 3 batches, then the target's error


def test_verify_cancels_the_targets_query_when_the_source_side_fails(dataset, target_url, monkeypatch, capsys):
    assert main(["import", "-q", "--source", str(dataset), "--target", target_url]) == 0
    monkeypatch.setattr("migrate.verify.pg_table_digest", sleeping_digest)  # 30 s unless cancelled

    def failing(source, tp, strip_nul, advance):
        wait_for_sleeping_query(target_url)  # the target side is busy
        raise ConversionError(f"table {tp.target}, row id=1: cannot convert", tp.target, "*", 1)

    monkeypatch.setattr(commands, "table_digest", failing)
    started = time.monotonic()
    assert main(["verify", "-q", "--source", str(dataset), "--target", target_url]) == 1
    assert time.monotonic() - started < 10
    assert "cannot convert" in capsys.readouterr().err


def test_verify_flags_rows_in_a_target_table_the_source_does_not_have(sqlite_path, target_url, capsys):
    seed_minimal(sqlite_path)
    assert main(["import", "-q", "--source", str(sqlite_path), "--target", target_url]) == 0
    with psycopg.connect(target_url) as conn:
        conn.execute("""INSERT INTO "Task" (title, "updatedAt", "projectId") VALUES ('stray', now(), 1)""")
    assert main(["verify", "-q", "--source", str(sqlite_path), "--target", target_url]) == 3
    assert "Task: 0 rows in the source, 1 in the target" in capsys.readouterr().out


def test_plan_is_read_only_and_lists_values_that_will_not_convert(sqlite_path, target_url, capsys, tmp_path):
    seed_minimal(sqlite_path)
    task(sqlite_path, 1)
    task(sqlite_path, 2, dueAt="next tuesday")
    before = snapshot(target_url)
    report = tmp_path / "plan.json"
    assert main(["plan", "-q", "--source", str(sqlite_path), "--target", target_url,
                 "--json-report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "Task -> Task: 2 rows" in out
    assert "problem: table Task, row id=2, column dueAt" in out and "next tuesday" in out
    assert any("dueAt" in p for p in json.loads(report.read_text())["problems"])
    assert snapshot(target_url) == before


def test_plan_without_problems_exits_0(dataset, target_url, capsys):
    assert main(["plan", "-q", "--source", str(dataset), "--target", target_url]) == 0
    assert "no problems" in capsys.readouterr().out


def test_import_refuses_a_non_empty_target_without_replace_and_leaves_it_as_it_was(dataset, target_url, capsys):
    assert main(["import", "-q", "--source", str(dataset), "--target", target_url]) == 0
    before = snapshot(target_url)
    capsys.readouterr()
    assert main(["import", "-q", "--source", str(dataset), "--target", target_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--replace" in err and "Traceback" not in err
    assert snapshot(target_url) == before
    assert main(["import", "-q", "--replace", "--source", str(dataset), "--target", target_url]) == 0


def test_bad_source_is_one_error_line_exit_1_and_the_target_is_untouched(tmp_path, target_url, capsys):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not a database\n" * 10)
    before = snapshot(target_url)
    assert main(["import", "--source", str(bogus), "--target", target_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "notes.txt" in err and len(err.strip().splitlines()) == 1
    assert snapshot(target_url) == before


def test_target_defaults_to_database_url_and_its_password_never_appears(dataset, target_url, capsys, monkeypatch):
    url = with_password(target_url)
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["import", "--source", str(dataset)]) == 0
    # An unreachable target with the same password: the error names the problem, not the secret.
    monkeypatch.setenv("DATABASE_URL", with_password("postgresql://postgres@127.0.0.1:1/nowhere"))
    assert main(["verify", "--source", str(dataset)]) == 1
    captured = capsys.readouterr()
    assert "s3cr3t-pw" not in captured.out + captured.err
    assert captured.err.splitlines()[-1].startswith("error: ")


def test_no_target_at_all_is_a_usage_error(dataset, capsys, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["verify", "--source", str(dataset)]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err


def test_unknown_verb_and_missing_source_exit_2():
    with pytest.raises(SystemExit) as exc:
        main(["teleport"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["import", "--target", "postgresql://x@127.0.0.1/db"])
    assert exc.value.code == 2


def test_json_export_source_imports_the_same_data_as_the_sqlite_file(tmp_path, make_target, capsys):
    db, export = tmp_path / "s.db", tmp_path / "s.json"
    sample.make_dataset(db, 120, seed=5)
    sample.make_json_export(export, 120, seed=5)
    first, second = make_target(), make_target()
    assert main(["import", "-q", "--source", str(db), "--target", first]) == 0
    assert main(["import", "-q", "--source", str(export), "--target", second]) == 0
    # The SQLite file verifies against the target the JSON export filled: the same content.
    assert main(["verify", "-q", "--source", str(db), "--target", second]) == 0


def test_every_verb_has_help_with_an_example():
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    assert set(verbs) == set(EPILOGS)
    for name, sub in verbs.items():
        assert "example: python -m migrate" in sub.format_help() or "python -m migrate" in sub.epilog


def test_module_entry_point_runs_as_a_process():
    proc = subprocess.run([sys.executable, "-m", "migrate", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "rehearse" in proc.stdout


def test_smoke_takes_the_database_url_from_the_environment_so_it_stays_off_the_command_line(monkeypatch):
    seen = []
    monkeypatch.setattr("migrate.commands.smoke", lambda args: seen.append(args.database_url) or 0)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db/app")
    assert main(["smoke", "--url", "http://127.0.0.1:9"]) == 0
    assert main(["smoke", "--url", "http://127.0.0.1:9", "--database-url", "postgresql://other@db/x"]) == 0
    monkeypatch.delenv("DATABASE_URL")
    assert main(["smoke", "--url", "http://127.0.0.1:9"]) == 0
    assert seen == ["postgresql://app:pw@db/app", "postgresql://other@db/x", None]


def test_prisma_style_schema_parameter_works_for_import_and_verify(dataset, target_url, capsys):
    # Prisma's DATABASE_URL carries ?schema=public, which libpq itself rejects; every connection goes through pg.connect.
    url = target_url + "?schema=public"
    assert main(["import", "-q", "--source", str(dataset), "--target", url]) == 0
    assert main(["verify", "-q", "--source", str(dataset), "--target", url]) == 0
    assert "no differences" in capsys.readouterr().out
