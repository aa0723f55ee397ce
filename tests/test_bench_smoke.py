"""bench/import_bench.py on a tiny dataset: it completes, measures both tools and checks their row counts."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "import_bench.py"
needs_pgloader = pytest.mark.skipif(
    shutil.which("pgloader") is None,
    reason="pgloader is not installed (CI does not install it; `./dev bench` or apt-get install -y pgloader does)")


def _bench_module():
    spec = importlib.util.spec_from_file_location("import_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tasks", "2000", "--runs", "1", "--workdir",
                           str(tmp_path), "--json", str(report), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads(report.read_text())


@pytest.mark.slow
@needs_pgloader
def test_tiny_run_reports_both_tools_with_matching_counts(tmp_path):
    proc, doc = _run(tmp_path)
    (size,) = doc["sizes"]
    assert size["tasks"] == 2000 and size["rows"] == sum(size["source_counts"].values())
    assert set(size["runs"]) == {"ours", "ours_no_verify", "pgloader", "pgloader_drop_indexes"}
    for tool, (run,) in size["runs"].items():
        assert run["exit"] == 0, tool
        assert run["counts_ok"] and run["target_rows"] == size["rows"], (tool, run["count_differences"])
        assert run["schema_ok"], (tool, run["schema_missing"])
        assert run["wall"] > 0 and run["peak_rss_mb"] >= run["largest_process_rss_mb"] > 0
    assert size["runs"]["ours"][0]["verified"] is True
    for peer in ("pgloader", "pgloader_drop_indexes"):
        assert size["runs"][peer][0]["verified"] is True, size["runs"][peer][0]["verify_mismatches"]
    assert size["ratio_median"] > 0 and size["ratio_median_drop_indexes"] > 0 and "verify_share_measured" in size
    assert {t["target"].split(" ")[0] for t in doc["targets"]} >= {"ours(import+verify)", "verification", "client"}
    assert "pgloader load only" in proc.stdout and "pgloader + drop indexes" in proc.stdout
    assert "ratio ours(import+verify) / pgloader + drop indexes" in proc.stdout


@pytest.mark.slow
@needs_pgloader
def test_pgloader_losing_a_table_with_exit_0_is_reported(tmp_path):
    # Without the Json cast, pgloader 3.6.9 renders a REAL Json scalar as "3.5d0": the Task COPY fails,
    # the FKs onto Task cannot be re-created, and it still exits 0. The bench must say so.
    proc, doc = _run(tmp_path, "--tools", "pgloader", "--no-json-cast")
    (run,) = doc["sizes"][0]["runs"]["pgloader"]
    assert run["exit"] == 0
    assert run["count_differences"] == {"Task": {"source": 2000, "target": 0}}
    assert "Comment_taskId_fkey" in run["schema_missing"]
    assert run["verified"] is False and run["verify_exit"] == 3
    assert "DIFFER" in proc.stdout


def test_count_and_schema_checks_see_a_missing_row_and_a_dropped_index(pg_url):
    bench = _bench_module()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute('CREATE TABLE "Tag" (id int PRIMARY KEY); CREATE INDEX "Tag_x" ON "Tag" (id);'
                     'INSERT INTO "Tag" VALUES (1), (2)')
    before = bench.schema_objects(pg_url)
    assert bench.check_counts(pg_url, {"Tag": 2})["counts_ok"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute('DELETE FROM "Tag" WHERE id = 2; DROP INDEX "Tag_x"')
    assert bench.check_counts(pg_url, {"Tag": 2})["count_differences"] == {"Tag": {"source": 2, "target": 1}}
    assert before - bench.schema_objects(pg_url) == {"Tag_x"}
