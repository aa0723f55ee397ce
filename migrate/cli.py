"""Argument parsing and exit codes for ``python -m migrate``; the verbs live in commands.py.

Exit codes: 0 success, 1 a MigrateError (one ``error: ...`` line on stderr), 2 usage,
3 verification found differences. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import commands
from .errors import MigrateError

EPILOGS = {
    "plan": "example: python -m migrate plan --source app.db --target postgresql://app@db/app",
    "import": "example: DATABASE_URL=postgresql://app@db/app python -m migrate import --source app.db --replace",
    "verify": "example: python -m migrate verify --source app.db --target postgresql://app@db/app",
    "rehearse": "example: python -m migrate rehearse --tasks 20000",
    "smoke": "example: DATABASE_URL=postgresql://app@db/app python -m migrate smoke --url https://tasks.onrender.com",
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    common.add_argument("--traceback", action="store_true", help="show the traceback of an error (for bug reports)")
    common.add_argument("--json-report", metavar="FILE", help="also write the report as JSON to FILE")

    parser = argparse.ArgumentParser(prog="python -m migrate", parents=[common],
                                     description="Move a Prisma SQLite database into the PostgreSQL schema that "
                                                 "`prisma migrate deploy` created, and prove the copy is exact.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_: str) -> argparse.ArgumentParser:
        return verbs.add_parser(name, parents=[common], help=help_, description=help_, epilog=EPILOGS[name])

    def add_source_target(p: argparse.ArgumentParser) -> None:
        p.add_argument("--source", required=True, metavar="S",
                       help="Prisma SQLite file, or the JSON export that jsonToSqlite consumed (file or directory)")
        p.add_argument("--target", metavar="URL", help="PostgreSQL URL (default: $DATABASE_URL)")

    p = verb("plan", "Read-only: per table the source rows, column mapping and conversions, and every problem found.")
    add_source_target(p)

    p = verb("import", "Copy the source into the target in one transaction, verified before it commits.")
    add_source_target(p)
    p.add_argument("--replace", action="store_true", help="empty a non-empty target first (same transaction)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the content verification (done before COMMIT: differences roll the import back)")
    p.add_argument("--strip-nul", action="store_true", help="drop NUL bytes from text (PostgreSQL cannot store them)")

    p = verb("verify", "Read-only: compare row counts and content hashes of source and target per table.")
    add_source_target(p)
    p.add_argument("--strip-nul", action="store_true", help="compare as an import with --strip-nul stored it")

    p = verb("rehearse", "Local dry run: throwaway PostgreSQL, prisma migrate deploy, import, verify, report.")
    p.add_argument("--source", metavar="S", help="source database (default: a generated sample dataset)")
    p.add_argument("--app", metavar="DIR", help="Prisma app directory (default: the sample app in tests/fixtures/app)")
    p.add_argument("--tasks", type=int, default=20_000, help="size of the generated dataset (default: %(default)s)")

    p = verb("smoke", "Check a deployed app: /api/health and /api/tasks (and the task count against the database).")
    p.add_argument("--url", required=True, help="the app's base URL")
    p.add_argument("--database-url", metavar="DB",
                   help="compare the API's task count with this database (default: $DATABASE_URL, if set)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to keep retrying while the app warms up")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "target", "unset") is None:
        args.target = os.environ.get("DATABASE_URL")
        if not args.target and args.verb in ("plan", "import", "verify"):
            print("error: no target: pass --target URL or set DATABASE_URL", file=sys.stderr)
            return 2
    if getattr(args, "verb", None) == "smoke" and args.database_url is None:
        # The environment keeps the password off the command line (`ps`), as for the other verbs' target.
        args.database_url = os.environ.get("DATABASE_URL") or None
    try:
        return getattr(commands, "import_" if args.verb == "import" else args.verb)(args)
    except MigrateError as exc:
        if args.traceback:
            raise
        # One line; for VerificationFailed the differing tables were already printed by the report.
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; the target was left as it was (the import runs in one transaction)",
              file=sys.stderr)
        return 130
