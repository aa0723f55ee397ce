"""Writes the sample app's data as a Prisma-style SQLite file (or its JSON export): see migrate/sample.py.

Example: python bench/make_dataset.py --tasks 1000000 --out bench/out/app.db --mixed-dates --seed 7
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from migrate.sample import make_dataset, make_json_export  # noqa: E402


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog=__doc__.splitlines()[-1])
    parser.add_argument("--tasks", type=_positive, required=True, help="Task rows; the other tables scale with it")
    parser.add_argument("--out", type=Path, required=True, help="file to write (replaced if it exists)")
    parser.add_argument("--mixed-dates", action="store_true",
                        help="store some DateTimes as ISO-8601 / 'YYYY-MM-DD HH:MM:SS' text (SQLite only)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same data (default 0)")
    parser.add_argument("--format", choices=("sqlite", "json"), default="sqlite",
                        help="sqlite: Prisma's SQLite file (default); json: the jsonToSqlite export")
    args = parser.parse_args(argv)
    if args.format == "json" and args.mixed_dates:
        parser.error("--mixed-dates applies to --format sqlite only")
    started = time.monotonic()
    if args.format == "json":
        counts = make_json_export(args.out, args.tasks, seed=args.seed)
    else:
        counts = make_dataset(args.out, args.tasks, mixed_dates=args.mixed_dates, seed=args.seed)
    elapsed = time.monotonic() - started
    detail = ", ".join(f"{table} {n}" for table, n in counts.items())
    print(f"wrote {args.out}: {sum(counts.values())} rows in {elapsed:.1f} s ({detail}), "
          f"{args.out.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
