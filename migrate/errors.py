"""The migrate error hierarchy: every user-facing failure is a MigrateError that carries data.

The CLI catches only MigrateError (printed as one ``error: ...`` line, exit 1); anything else is a bug
and keeps its traceback. Messages are lowercase, without a final period, and say what was expected and
what was found (psycopg's style).
"""

from __future__ import annotations


class MigrateError(Exception):
    """Base of every error the tool reports to a user."""

    exit_code = 1


class SourceError(MigrateError):
    """The source (SQLite file or JSON export) is missing, unreadable or not what it claims to be."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class SchemaError(MigrateError):
    """Source and target schemas do not fit together (missing table/column, no Prisma schema in target)."""

    def __init__(self, message: str, table: str | None = None, column: str | None = None,
                 problems: list | None = None):
        super().__init__(message)
        self.table = table
        self.column = column
        self.problems = problems or []


class ConversionError(MigrateError):
    """One source value cannot become the target column's type."""

    def __init__(self, message: str, table: str, column: str, row_id: object = None,
                 value: object = None, expected: str | None = None):
        super().__init__(message)
        self.table = table
        self.column = column
        self.row_id = row_id
        self.value = value
        self.expected = expected


class TargetError(MigrateError):
    """The target database is unreachable, not empty without --replace, or refused the load."""

    def __init__(self, message: str, table: str | None = None, rows_written: int = 0):
        super().__init__(message)
        self.table = table
        self.rows_written = rows_written


class VerificationFailed(MigrateError):
    """Counts or content hashes differ between source and target; ``.mismatches`` lists them. Raised by an
    import, the import was rolled back and ``.report`` is its ImportReport."""

    exit_code = 3

    def __init__(self, mismatches: list, report=None):
        self.mismatches = mismatches
        self.report = report
        names = ", ".join(m.table for m in mismatches)
        super().__init__(f"verification found differences in {len(mismatches)} table(s): {names}")


class PrismaError(MigrateError):
    """The Prisma CLI (``migrate deploy`` / ``migrate status``) failed; ``.output`` is its scrubbed output."""

    def __init__(self, message: str, command: str, returncode: int | None = None, output: str = ""):
        super().__init__(message)
        self.command = command
        self.returncode = returncode
        self.output = output


class SmokeFailed(MigrateError):
    """The deployed app did not pass its smoke checks; ``.report`` is the last attempt's SmokeReport."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report
