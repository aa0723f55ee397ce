"""Row counts and order-independent content digests of tables: in Python for the source, in SQL for the target.

A table's digest is the sum, modulo 2**64, of the first 64 bits of md5(canonical row text) over its rows,
shown as a signed 64-bit integer. Any row order gives the same digest; an added, removed, duplicated or
altered row changes it. The canonical text of each kind is defined in :mod:`migrate.canonical`.
"""

from __future__ import annotations

import contextlib
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import psycopg
from psycopg import sql

from . import pg
from .canonical import check_kinds, row_text_function, sql_row_text, value_text
from .errors import ConversionError, TargetError

try:  # CPython's own md5 costs ~250 ns for a short row, OpenSSL's hashlib.md5 ~450 ns (measured, 3.11)
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - an interpreter built without it
    from hashlib import md5 as _md5

_MODULUS = 1 << 64
_first64 = struct.Struct(">Q8x").unpack  # the first 8 of md5's 16 bytes, big-endian as in SQL's bit(64)
# What a value of the wrong type or an unencodable string raises inside the generated row function.
_ROW_ERRORS = (TypeError, ValueError, AttributeError)


def to_signed64(total: int) -> int:
    """``total`` modulo 2**64 as a signed 64-bit integer (the digest's printed form)."""
    total %= _MODULUS
    return total - _MODULUS if total >= _MODULUS >> 1 else total


class TableHasher:
    """Count and digest of a table's rows as they stream past (the load calls ``add`` for every row).

    :param kinds: the column kinds, in row order (see :data:`migrate.canonical.KINDS`)
    :param table: the table's name, for error messages only
    :param columns: the column names, for error messages only
    :raises ValueError: an unknown kind
    """

    __slots__ = ("kinds", "table", "columns", "count", "_total", "_row_text")

    def __init__(self, kinds: Sequence[str], *, table: str | None = None, columns: Sequence[str] | None = None):
        self._row_text = row_text_function(kinds)
        self.kinds = list(kinds)
        self.table = table
        self.columns = list(columns) if columns is not None else None
        self.count = 0
        self._total = 0

    def add(self, row: Sequence) -> None:
        """Hash one row (a tuple of converted values, None for NULL).

        :raises ConversionError: the row has the wrong width or a value that its kind cannot take
        """
        try:
            self._total += _first64(_md5(self._row_text(row).encode()).digest())[0]
        except _ROW_ERRORS as exc:
            raise self._bad_row(row, self.count + 1, exc) from exc
        self.count += 1

    def update(self, rows: Iterable[Sequence]) -> None:
        """Hash every row of ``rows``; the same as ``add`` in a loop, but faster.

        :raises ConversionError: as :meth:`add`
        """
        row_text, md5, first64 = self._row_text, _md5, _first64
        total = count = 0
        for row in rows:
            try:
                total += first64(md5(row_text(row).encode()).digest())[0]
            except _ROW_ERRORS as exc:
                raise self._bad_row(row, self.count + count + 1, exc) from exc
            count += 1
        self._total += total
        self.count += count

    @property
    def digest(self) -> int:
        return to_signed64(self._total)

    @property
    def result(self) -> tuple[int, int]:
        """``(count, digest)``."""
        return self.count, self.digest

    def _bad_row(self, row: Sequence, position: int, exc: Exception) -> ConversionError:
        table = self.table or "?"
        if len(row) != len(self.kinds):
            return ConversionError(f"table {table} row {position}: expected {len(self.kinds)} values, "
                                   f"got {len(row)}", table, "*", position)
        for index, (kind, value) in enumerate(zip(self.kinds, row)):
            try:
                value_text(kind)(value).encode()
            except _ROW_ERRORS as error:
                column = self.columns[index] if self.columns else f"#{index + 1}"
                return ConversionError(f"table {table} row {position} column {column}: cannot hash a "
                                       f"{type(value).__name__} as {kind}: {error}", table, column, position)
        return ConversionError(f"table {table} row {position}: cannot hash the row: {exc}", table, "*", position)


def sum_row_hashes(row_text: Callable[[Sequence], str], rows: Iterable[Sequence]) -> int:
    """The sum (not yet reduced modulo 2**64) of the first 64 bits of md5(``row_text(row)``) over ``rows``.

    Exceptions of ``row_text`` propagate: the caller knows how to name the row.
    """
    md5, first64 = _md5, _first64
    total = 0
    for row in rows:
        total += first64(md5(row_text(row).encode()).digest())[0]
    return total


def source_digests(tables: Iterable[tuple[str, Sequence[str], Iterable[Sequence]]]) -> dict[str, tuple[int, int]]:
    """``{table: (count, digest)}`` of rows computed in Python, for ``(table, kinds, rows)`` triples.

    Reads only what ``rows`` yields; writes nothing.

    :raises ConversionError: as :meth:`TableHasher.add`
    """
    result = {}
    for table, kinds, rows in tables:
        hasher = TableHasher(kinds, table=table)
        hasher.update(rows)
        result[table] = hasher.result
    return result


def pg_table_digest(conn: psycopg.Connection, table: str, columns: Sequence[tuple[str, str]],
                    *, schema: str | None = None) -> tuple[int, int]:
    """``(count, digest)`` of a PostgreSQL table in one read-only query, equal to ``TableHasher``'s for equal rows.

    :param columns: ``(name, kind)`` pairs, in the order the source side hashes them
    :raises TargetError: the query failed (missing table or column, a kind that does not fit the type)
    """
    check_kinds([kind for _, kind in columns])
    name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
    # Python hashes the row text's UTF-8 bytes, md5(text) the database's: in a UTF8 database (the server reports
    # its encoding when the session starts: no query) they are the same, and a cheaper SQL gives the same text.
    utf8 = conn.info.parameter_status("server_encoding") == "UTF8"
    row = sql_row_text(columns, utf8=utf8)
    if not utf8:
        row = sql.SQL("convert_to({}, 'UTF8')").format(row)
    # sum(bigint) is numeric in PostgreSQL, so it cannot overflow; the modulo happens here in Python.
    # The cast of 'x' and 32 hex digits to bit(64) keeps the first 64 bits.
    query = sql.SQL("SELECT count(*), coalesce(sum(('x' || md5({row}))::bit(64)::bigint), 0) "
                    "FROM {table}").format(row=row, table=name)
    try:
        with conn.cursor() as cur:
            count, total = cur.execute(query).fetchone()
    except psycopg.Error as exc:
        raise TargetError(f"cannot hash table {table} on the target: {_first_line(exc)}", table) from exc
    return count, to_signed64(int(total))


class Cancel:
    """Stops a running :func:`target_digests` from another thread: PostgreSQL gets a cancel request for each
    query that runs, and tables not started yet are not started (each then raises TargetError)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set[psycopg.Connection] = set()
        self.requested = False

    def __call__(self) -> None:
        with self._lock:
            self.requested = True
            running = list(self._running)
        for conn in running:
            conn.cancel_safe()  # bounded by a timeout, unlike cancel()

    def check(self, table: str) -> None:
        """:raises TargetError: the hashing was cancelled (called right before a table's query: a cancel request
            reaching a connection between this check and its query finds nothing to cancel)."""
        if self.requested:
            raise TargetError(f"hashing table {table} on the target was cancelled", table)

    @contextlib.contextmanager
    def watching(self, conn: psycopg.Connection, table: str):
        with self._lock:
            self.check(table)
            self._running.add(conn)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(conn)


def target_digests(conninfo: str, tables: Mapping[str, Sequence[tuple[str, str]]], *, jobs: int = 2,
                   schema: str | None = None, cores: int | None = None,
                   cancel: Cancel | None = None) -> dict[str, tuple[int, int]]:
    """``{table: (count, digest)}`` from PostgreSQL, ``jobs`` tables at a time, each on its own read-only connection.

    Tables start largest first so that the parallel connections finish close together. Each table is
    read in its own snapshot: run this while nothing writes to the tables (the cutover is frozen).

    :param conninfo: a libpq connection string or URL (it never appears in errors)
    :param tables: ``{table: [(column, kind), ...]}``
    :param cores: on a server on this machine, the cores each query may use with its parallel workers
        (pg.fit_parallel_workers); None: the server's setting
    :param cancel: lets another thread stop the hashing (see :class:`Cancel`)
    :raises TargetError: the database is unreachable, a table cannot be hashed, or ``cancel`` was called
    """
    order = _largest_first(conninfo, list(tables), schema)
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(order)))) as pool:
        futures = {table: pool.submit(_digest_on_own_connection, conninfo, table, tables[table], schema, cores,
                                      cancel or Cancel())
                   for table in order}
        try:
            return {table: futures[table].result() for table in tables}
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # tables not started yet need not run
            raise


def _digest_on_own_connection(conninfo: str, table: str, columns: Sequence[tuple[str, str]],
                              schema: str | None, cores: int | None, cancel: Cancel) -> tuple[int, int]:
    with _connect(conninfo) as conn, cancel.watching(conn, table):
        if cores is not None:
            pg.fit_parallel_workers(conn, cores)  # SET LOCAL in the transaction that the digest's query runs in
        cancel.check(table)
        return pg_table_digest(conn, table, columns, schema=schema)


def _largest_first(conninfo: str, tables: list[str], schema: str | None) -> list[str]:
    names = [f"{_quote(schema)}.{_quote(t)}" if schema else _quote(t) for t in tables]
    with _connect(conninfo) as conn:
        rows = conn.execute("SELECT coalesce(pg_relation_size(to_regclass(n)), 0) FROM unnest(%s::text[]) "
                            "WITH ORDINALITY AS u(n, i) ORDER BY i", (names,)).fetchall()
    sizes = dict(zip(tables, (size for size, in rows)))
    return sorted(tables, key=lambda table: -sizes[table])


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _connect(conninfo: str) -> psycopg.Connection:
    # pg.connect: the same URL handling as the import (Prisma's ?schema=), errors scrubbed of the password.
    conn = pg.connect(conninfo)
    conn.read_only = True  # verification never writes
    return conn


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def plan_columns(plan) -> dict[str, list[tuple[str, str]]]:
    """``{target table: [(column, kind), ...]}`` to hash for an import plan (plan.Plan): each planned table's
    columns in the order its rows carry them; target tables that get no rows (no source table, or a JSON
    export's empty array) with all their hashable columns, since they must then be empty."""
    columns = {tp.target: tp.target_columns for tp in plan.tables if tp.columns}
    for name in [tp.target for tp in plan.tables if not tp.columns] + list(plan.untouched):
        columns[name] = [(c.name, c.kind) for c in plan.target.tables[name].columns.values() if c.kind]
    return columns


@dataclass
class Verification:
    """Both sides' ``{table: (count, digest)}``, the tables that differ, and the time it took."""

    source: dict
    target: dict
    mismatches: list
    seconds: float


def check(source_side: Mapping[str, tuple[int, int]], target_side: Mapping[str, tuple[int, int]],
          seconds: float) -> Verification:
    """Compare the sides of a plan's verification: a table hashed on the target (see :func:`plan_columns`)
    that the source side lacks gets no rows from the source, so it counts as ``(0, 0)`` there."""
    source = {**{name: (0, 0) for name in target_side}, **source_side}
    return Verification(source, dict(target_side), compare(source, target_side), seconds)


@dataclass(frozen=True)
class Mismatch:
    """One table whose counts or contents differ; a count is None when the table is missing on that side."""

    table: str
    source_count: int | None
    target_count: int | None
    counts_match: bool
    content_match: bool

    def __str__(self) -> str:
        if self.source_count is None or self.target_count is None:
            side = "source" if self.source_count is None else "target"
            return f"{self.table}: missing on the {side} side"
        if not self.counts_match:
            return f"{self.table}: {self.source_count} rows in the source, {self.target_count} in the target"
        return f"{self.table}: same {self.source_count} rows, but their contents differ"


def compare(source_side: Mapping[str, tuple[int, int]],
            target_side: Mapping[str, tuple[int, int]]) -> list[Mismatch]:
    """The tables whose ``(count, digest)`` differ between the two sides, by name; empty when all agree."""
    mismatches = []
    for table in sorted(set(source_side) | set(target_side)):
        source, target = source_side.get(table), target_side.get(table)
        if source == target:
            continue
        mismatches.append(Mismatch(
            table, source[0] if source else None, target[0] if target else None,
            counts_match=bool(source and target and source[0] == target[0]),
            content_match=bool(source and target and source[1] == target[1])))
    return mismatches
