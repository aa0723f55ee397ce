"""Speed of verification: TableHasher.add per Task-like row, and pg_table_digest on a 1M-row table.

Usage: python bench/verify_speed.py [--rows 1000000] [--python-rows 200000] [--url postgresql://...]
Without --url a throwaway cluster (migrate.cluster.Cluster) is started and removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from migrate.cluster import Cluster  # noqa: E402
from migrate.verify import TableHasher, pg_table_digest, target_digests  # noqa: E402

# Prisma's Task model on PostgreSQL: (column, kind, type).
TASK = [("id", "int", "integer"), ("title", "text", "text"), ("description", "text", "text"),
        ("status", "text", '"TaskStatus"'), ("done", "bool", "boolean"), ("priority", "int", "integer"),
        ("estimate", "numeric", "numeric(65,30)"), ("metadata", "jsonb", "jsonb"), ("viewCount", "int", "bigint"),
        ("dueAt", "timestamp", "timestamp(3)"), ("createdAt", "timestamp", "timestamp(3)"),
        ("updatedAt", "timestamp", "timestamp(3)"), ("projectId", "int", "integer"), ("assigneeId", "int", "integer")]
DOCS = ['{"labels": ["ui", "bug"], "points": 3, "ratio": 0.25}', '{"k": [1, 2]}', '{"sprint": 12, "blocked": false}',
        '{"owner": {"name": "日本", "id": 7}, "tags": []}', "42", "3.5", "null", '{"estimate": 3.50}']


def task_rows(n: int, seed: int = 1):
    rnd = random.Random(seed)
    base = dt.datetime(2024, 1, 1)
    for i in range(1, n + 1):
        created = base + dt.timedelta(milliseconds=rnd.randrange(10**10))
        yield (i, f"Task {i}: write the migration 日本語 ✓", None if rnd.random() < 0.3 else "Details\twith tab\nand line",
               rnd.choice(("TODO", "IN_PROGRESS", "DONE")), rnd.random() < 0.5, rnd.randrange(5),
               None if rnd.random() < 0.5 else Decimal(repr(round(rnd.uniform(0, 100), 2))),
               rnd.choice(DOCS) if rnd.random() < 0.6 else None, rnd.randrange(2**40),
               None if rnd.random() < 0.4 else created + dt.timedelta(days=7), created, created, rnd.randrange(1, 20000),
               None if rnd.random() < 0.2 else rnd.randrange(1, 10000))


def bench_python(n: int) -> None:
    rows = list(task_rows(n))
    kinds = [kind for _, kind, _ in TASK]
    for label, sample in (("mixed (60% jsonb)", rows), ("no jsonb", [r[:7] + (None,) + r[8:] for r in rows])):
        hasher = TableHasher(kinds)
        start = time.perf_counter()
        for row in sample:
            hasher.add(row)
        add = (time.perf_counter() - start) / n * 1e9
        hasher = TableHasher(kinds)
        start = time.perf_counter()
        hasher.update(sample)
        update = (time.perf_counter() - start) / n * 1e9
        print(f"TableHasher, Task rows, {label}: add {add:,.0f} ns/row, update {update:,.0f} ns/row")


def bench_postgres(url: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS \"Task\"; DROP TYPE IF EXISTS \"TaskStatus\"; "
                     "CREATE TYPE \"TaskStatus\" AS ENUM ('TODO', 'IN_PROGRESS', 'DONE')")
        conn.execute(sql.SQL("CREATE TABLE \"Task\" ({})").format(sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, _, t in TASK)))
        start = time.perf_counter()
        with conn.cursor().copy("COPY \"Task\" FROM STDIN") as copy:
            hasher = TableHasher([kind for _, kind, _ in TASK])
            for row in task_rows(n):
                copy.write_row(row)
                hasher.add(row)
        conn.commit()
        print(f"loaded {n:,} rows with COPY text + TableHasher.add in {time.perf_counter() - start:.1f} s")
        for label, query in (("count(*) only", None), ("pg_table_digest", True)):
            start = time.perf_counter()
            result = (pg_table_digest(conn, "Task", [(c, k) for c, k, _ in TASK]) if query
                      else conn.execute("SELECT count(*) FROM \"Task\"").fetchone())
            print(f"{label}: {time.perf_counter() - start:.2f} s -> {result}")
        assert result == hasher.result, "python and postgres digests differ"
        conn.execute("CREATE TABLE \"Task2\" AS SELECT * FROM \"Task\"")
        conn.commit()
    tables = {name: [(c, k) for c, k, _ in TASK] for name in ("Task", "Task2")}
    for jobs in (1, 2):
        start = time.perf_counter()
        target_digests(url, tables, jobs=jobs)
        print(f"target_digests of 2 x {n:,} rows, jobs={jobs}: {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--python-rows", type=int, default=200_000)
    parser.add_argument("--url", help="an existing database to use instead of a throwaway cluster")
    args = parser.parse_args()
    bench_python(args.python_rows)
    if args.url:
        bench_postgres(args.url, args.rows)
    else:
        with Cluster() as cluster:
            bench_postgres(cluster.url(), args.rows)


if __name__ == "__main__":
    main()
