"""Wall time of the standalone ``python -m migrate verify`` against a server on this machine.

Usage: python bench/verify_command.py [--dataset /tmp/import_bench/tasks1000000.db] [--runs 4]
A throwaway cluster gets the sample app's schema (its migration's SQL) and the dataset (``import --no-verify``);
then ``verify -q`` runs ``--runs`` times and its wall times and their median are printed. The dataset is
generated (bench/make_dataset.py's generator, 1M tasks) when the file is missing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from migrate.cluster import Cluster  # noqa: E402
from migrate.pg import connect  # noqa: E402
from migrate.sample import make_dataset  # noqa: E402

MIGRATION = ROOT / "tests" / "fixtures" / "app" / "prisma" / "migrations" / "20251203_postgres_init" / "migration.sql"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="/tmp/import_bench/tasks1000000.db")
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    dataset = Path(args.dataset)
    if not dataset.exists():
        dataset.parent.mkdir(parents=True, exist_ok=True)
        make_dataset(dataset, 1_000_000)
    with Cluster(settings={"shared_buffers": "1GB", "max_wal_size": "8GB"}) as cluster:
        url = cluster.create_database("verify_bench")
        with connect(url, autocommit=True) as conn:  # _prisma_migrations as the app has it (the import skips it)
            conn.execute('CREATE TABLE "_prisma_migrations" (id text);' + MIGRATION.read_text())
        migrate = [sys.executable, "-m", "migrate"]
        subprocess.run([*migrate, "import", "-q", "--no-verify", "--source", str(dataset), "--target", url],
                       cwd=ROOT, check=True)
        walls = []
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            subprocess.run([*migrate, "verify", "-q", "--source", str(dataset), "--target", url], cwd=ROOT, check=True)
            walls.append(time.perf_counter() - started)
            print(f"run {run}: verify {walls[-1]:.2f} s", flush=True)
    print(f"median {statistics.median(walls):.2f} s over {len(walls)} runs ({dataset.name})")


if __name__ == "__main__":
    main()
