"""The source side: a Prisma SQLite file, or the JSON export that jsonToSqlite consumed (see jsonsource.py).

``open_source(path)`` detects which by content and returns a ``Source``: its tables (never
``_prisma_migrations``), their columns and row counts, and the rows in batches of tuples in a requested
column order. Values come back as stored: SQLite's int/float/str/bytes/None, or JSON's Python values
with ``MISSING`` for an absent key; convert.py turns them into the target's types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterator

import apsw

from .errors import SourceError

MIGRATIONS_TABLE = "_prisma_migrations"
SQLITE_MAGIC = b"SQLite format 3\x00"
BATCH_ROWS = 2000  # rows per fetchmany(); small keeps memory flat


class _Missing:
    """An absent key in a JSON record (SQL NULL), as opposed to an explicit JSON ``null``."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass
class SourceTable:
    name: str
    columns: list[str]
    rows: int
    key: list[str] = field(default_factory=list)          # primary key columns, for error messages
    declared: dict[str, str] = field(default_factory=dict)  # SQLite declared type per column


class Source:
    """Interface of both readers; use as a context manager."""

    flavour = ""  # "sqlite" or "json": which storage rules convert.py applies
    path = ""
    checked = True  # the file's integrity was checked (opening a JSON export parses all of it once)
    tables: dict[str, SourceTable]

    def quick_check(self) -> None:
        """Check the file's integrity if that was not done yet.  :raises SourceError: it is corrupt."""

    def batches(self, table: str, columns: list[str], size: int = BATCH_ROWS) -> Iterator[list[tuple]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(path: str | Path, check: bool = True) -> Source:
    """Open a SQLite file, a JSON export file or a directory of one JSON file per model.

    :param check: run SQLite's ``PRAGMA quick_check`` first (reads every page: 0.4 s for 283 MB here).
    :raises SourceError: the path is missing, empty, neither SQLite nor JSON, corrupt or unreadable.
    """
    p = Path(path)
    if not p.exists():
        raise SourceError(f"source not found: {p}", str(p))
    if p.is_dir():
        from .jsonsource import JsonSource
        return JsonSource(p)
    try:
        with p.open("rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise SourceError(f"cannot read source {p}: {exc.strerror}", str(p)) from exc
    if head.startswith(SQLITE_MAGIC):
        return SqliteSource(p, check)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        from .jsonsource import JsonSource
        return JsonSource(p)
    found = "an empty file" if not head else f"a file starting with {head[:16]!r}"
    raise SourceError(f"source {p} is neither a SQLite database nor a JSON export: found {found}", str(p))


def quote(name: str) -> str:
    """A SQLite identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


class SqliteSource(Source):
    """A SQLite file opened read-only; every read happens in one read transaction (one snapshot).

    Read with APSW rather than the standard library's sqlite3: the same rows as Python values (int, float,
    str, bytes, None) for 45 % less CPU (1M tasks, Task + Comment + _TagToTask: 1.07 s against 1.97 s,
    measured), and both the import and its hashing helper read every row.
    """

    flavour = "sqlite"
    BUSY_TIMEOUT_MS = 5000  # waiting for a writer's lock, as long as the sqlite3 module waits by default

    def __init__(self, path: Path, check: bool = False):
        self.path = str(path)
        self.conn = None
        self.checked = False
        uri = path.resolve().as_uri() + "?mode=ro"
        try:
            self.conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
            self.conn.set_busy_timeout(self.BUSY_TIMEOUT_MS)
            self.conn.execute("BEGIN")  # counts and rows come from one snapshot
            self.tables = self._read_tables()
            if check:
                self.quick_check()
        except apsw.Error as exc:
            self.close()
            raise SourceError(f"source {path} is not a readable SQLite database: {exc}",
                              self.path) from exc
        except SourceError:
            self.close()
            raise

    def _read_tables(self) -> dict[str, SourceTable]:
        names = [r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY rowid")]
        tables = {}
        for name in names:
            if name == MIGRATIONS_TABLE:
                continue
            info = self.conn.execute(f"PRAGMA table_info({quote(name)})").fetchall()
            columns = [r[1] for r in info]
            key = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
            rows = self.conn.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]
            tables[name] = SourceTable(name, columns, rows, key, {r[1]: r[2] for r in info})
        return tables

    def quick_check(self) -> None:
        """``PRAGMA quick_check``: b-tree structure, record formats and index consistency of every page.

        :raises SourceError: the file is corrupt.
        """
        if self.checked:
            return
        report = [r[0] for r in self.conn.execute("PRAGMA quick_check(3)")]
        if report != ["ok"]:
            lines = [line for r in report for line in r.splitlines() if not line.startswith("***")]
            raise SourceError(f"source {self.path} is corrupt (PRAGMA quick_check): {'; '.join(lines[:3])}",
                              self.path)
        self.checked = True

    def batches(self, table: str, columns: list[str], size: int = BATCH_ROWS) -> Iterator[list[tuple]]:
        """Rows of ``table`` as tuples of ``columns``, ``size`` rows at a time, in storage order."""
        cur = None
        try:
            cur = self.conn.execute(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)}")
            while batch := list(islice(cur, size)):
                yield batch
        except UnicodeDecodeError as exc:  # a TEXT value that is not UTF-8
            raise SourceError(self._locate_bad_text(table, columns), self.path) from exc
        except (apsw.CorruptError, apsw.NotADBError) as exc:
            raise SourceError(f"source table {table} is unreadable (corrupt file?): {exc}",
                              self.path) from exc
        except apsw.Error as exc:
            raise SourceError(f"cannot read source table {table}: {exc}", self.path) from exc
        finally:
            if cur is not None:
                cur.close()

    def _locate_bad_text(self, table: str, columns: list[str]) -> str:
        """Find the first TEXT value that is not UTF-8 (slow path, only after the fast read failed)."""
        # Each value comes as its bytes (CAST AS BLOB), so nothing is decoded on the way.
        cols = ", ".join(f"typeof({quote(c)}) = 'text', CAST({quote(c)} AS BLOB)" for c in columns)
        try:
            cur = self.conn.execute(f"SELECT rowid, {cols} FROM {quote(table)}")
        except apsw.SQLError:  # WITHOUT ROWID table
            cur = self.conn.execute(f"SELECT NULL, {cols} FROM {quote(table)}")
        try:
            for n, (rowid, *values) in enumerate(cur, 1):
                for name, is_text, value in zip(columns, values[::2], values[1::2]):
                    if is_text and _not_utf8(value):
                        where = f"rowid {rowid}" if rowid is not None else f"row #{n}"
                        return f"table {table}, {where}, column {name}: text is not valid UTF-8: {value[:40]!r}"
        finally:
            cur.close()
        return f"table {table}: a text value is not valid UTF-8"

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close(force=True)  # also ends cursors a failed read left open


def _not_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
