"""Import speed: wall time, client CPU and client peak RSS of ``load.import_data`` on a generated dataset.

    python bench/import_speed.py --tasks 1000000 --runs 2 --variants binary,text,nofreeze,hash

Each run is a fresh process (so peak RSS is its own) importing into a fresh database of one throwaway
cluster that uses the reference benchmark's settings (fsync on, shared_buffers 1GB, max_wal_size 8GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate import load, sample, schema, verify  # noqa: E402
from migrate.cluster import Cluster  # noqa: E402
from migrate.pg import connect  # noqa: E402
from migrate.source import open_source  # noqa: E402

MIGRATION = ROOT / "tests/fixtures/app/prisma/migrations/20251203_postgres_init/migration.sql"
SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "shared_buffers": "1GB",
            "max_wal_size": "8GB"}
VARIANTS = {  # name -> (module constants to set, hashers)
    "binary": ({}, False),
    "text": ({"COPY_BINARY": False}, False),
    "nofreeze": ({"COPY_FREEZE": False}, False),
    "hash": ({}, True),
    "hash+verify": ({}, True),  # then hash the PostgreSQL side and compare: the whole checked import
}


def one(source: str, url: str, variant: str) -> dict:
    constants, hashers = VARIANTS[variant]
    for name, value in constants.items():
        setattr(load, name, value)
    src = open_source(source)
    with connect(url) as conn:
        plan = schema.plan(src, schema.read_target(conn))
    wall, cpu = time.perf_counter(), time.process_time()
    report = load.import_data(src, url, plan, hashers=hashers, analyze=False)
    if variant == "hash+verify":
        pg = verify.target_digests(url, {t.target: t.target_columns for t in plan.tables})
        assert all(pg[t.table] == (t.rows, t.digest) for t in report.tables), "digests differ"
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"variant": variant, "rows": report.rows, "wall": round(wall, 2), "client_cpu": round(cpu, 2),
            "rows_per_s": round(report.rows / wall), "copy": round(report.copy_seconds, 2),
            "rebuild": round(report.rebuild_seconds, 2),
            "tables": {t.table: round(t.seconds, 2) for t in report.tables},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--variants", default="binary")
    ap.add_argument("--data", default="/tmp/import_speed")
    ap.add_argument("--one", nargs=3, metavar=("SOURCE", "URL", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    Path(args.data).mkdir(parents=True, exist_ok=True)
    source = Path(args.data) / f"tasks{args.tasks}.db"
    if not source.exists():
        sample.make_dataset(source, args.tasks)
    with Cluster(settings=SETTINGS) as cluster:
        for run in range(args.runs):
            for variant in args.variants.split(","):
                url = cluster.create_database(f"r{run}_{variant}")
                with connect(url, autocommit=True) as conn:
                    conn.execute('CREATE TABLE "_prisma_migrations" (id text);' + MIGRATION.read_text())
                out = subprocess.run([sys.executable, __file__, "--one", str(source), url, variant],
                                     capture_output=True, text=True, check=True).stdout
                print(out.strip(), flush=True)


if __name__ == "__main__":
    main()
