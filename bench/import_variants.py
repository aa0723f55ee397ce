"""In-process import probes: the load's own variants and the cost of verification on top of it.

    python bench/import_variants.py --tasks 1000000 --runs 2 [--variants load,text,nofreeze,helper,stream]

``load`` is the import as shipped without hashing; ``text`` and ``nofreeze`` flip load.py's COPY_BINARY and
COPY_FREEZE (the evidence for their settings); ``helper`` hashes the source in a helper process (the shipped
verification), ``stream`` in the importing process.

Each run is a fresh process importing into a fresh database of one throwaway cluster with the reference
benchmark's settings (fsync on, shared_buffers 1GB, max_wal_size 8GB). ``helper`` and ``stream`` then
hash the PostgreSQL side (verify.target_digests) and compare, as ``python -m migrate import`` does.
Printed per run: wall seconds of the load (connect to commit, incl. waiting for the helper) and of the
PostgreSQL side, the verification's share of the load-only time of the same round, client CPU and peak
RSS of the importing process and of the helper, and the 1-minute load average before the run (other
jobs on the machine skew the numbers).
"""

from __future__ import annotations

import argparse
import json
import os
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
VARIANTS = {  # name -> (load.py constants to set, hashers)
    "load": ({}, False),
    "text": ({"COPY_BINARY": False}, False),
    "nofreeze": ({"COPY_FREEZE": False}, False),
    "helper": ({}, True),
    "stream": ({}, verify.TableHasher),
}


def one(source: str, url: str, variant: str) -> dict:
    constants, hashers = VARIANTS[variant]
    for name, value in constants.items():
        setattr(load, name, value)
    src = open_source(source)
    with connect(url) as conn:
        plan = schema.plan(src, schema.read_target(conn))
    started, cpu = time.perf_counter(), time.process_time()
    report = load.import_data(src, url, plan, hashers=hashers, analyze=False)
    loaded = time.perf_counter()
    result = {"variant": variant, "rows": report.rows, "load_s": round(loaded - started, 2)}
    if hashers:
        target = verify.target_digests(url, {t.target: t.target_columns for t in plan.tables})
        assert all(target[t.table] == (t.rows, t.digest) for t in report.tables), "digests differ"
        result["pg_side_s"] = round(time.perf_counter() - loaded, 2)
    wall = time.perf_counter() - started
    helper = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {**result, "wall_s": round(wall, 2), "rows_per_s": round(report.rows / wall),
            "client_cpu_s": round(time.process_time() - cpu, 2), "client_rss_mb": _rss_mb(resource.RUSAGE_SELF),
            "helper_cpu_s": round(helper.ru_utime + helper.ru_stime, 2), "helper_rss_mb": _rss_mb(resource.RUSAGE_CHILDREN)}


def _rss_mb(who) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--variants", default="load,helper,stream")
    parser.add_argument("--data", default="/tmp/import_variants")
    parser.add_argument("--one", nargs=3, metavar=("SOURCE", "URL", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    Path(args.data).mkdir(parents=True, exist_ok=True)
    source = Path(args.data) / f"tasks{args.tasks}.db"
    if not source.exists():
        sample.make_dataset(source, args.tasks)
    with Cluster(settings=SETTINGS) as cluster:
        for run in range(args.runs):
            baseline = None
            for variant in args.variants.split(","):
                url = cluster.create_database(f"r{run}_{variant}")
                with connect(url, autocommit=True) as conn:
                    conn.execute('CREATE TABLE "_prisma_migrations" (id text);' + MIGRATION.read_text())
                loadavg = os.getloadavg()[0]
                out = json.loads(subprocess.run([sys.executable, __file__, "--one", str(source), url, variant],
                                                capture_output=True, text=True, check=True).stdout)
                baseline = out["wall_s"] if variant == "load" else baseline
                if baseline and VARIANTS[variant][1]:
                    out["verify_share_of_load"] = f"+{(out['wall_s'] / baseline - 1) * 100:.0f}%"
                print(json.dumps({"run": run, "loadavg_1m": round(loadavg, 2), **out}), flush=True)


if __name__ == "__main__":
    main()
