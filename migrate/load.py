"""The import: one transaction that empties, drops keys and indexes, COPYs, rebuilds, resets sequences.

Either everything commits or the target is left exactly as it was: a conversion error mid-stream, a
foreign key that does not hold at rebuild, or a killed client all end in a rollback (sequence changes are
made transactional by restarting each sequence first, which gives it a new relfilenode in this transaction).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import psycopg
from psycopg import errors as pgerrors, sql
from psycopg.adapt import Dumper

from .errors import SourceError, TargetError, VerificationFailed
from .pg import connect, fit_parallel_workers, usable_cores
from .plan import Plan, TablePlan
from .progress import Progress
from .rows import RowConverter, no_cyclic_gc
from .schema import TargetSchema, read_target
from .source import Source
from .verify import Verification, check, pg_table_digest, plan_columns

LOCK_TIMEOUT = "30s"  # a running app holding locks should fail the import, not hang it
# Measured (bench/import_variants.py, 100k tasks, 2 cores): binary COPY takes ~35 % less client CPU and
# ~40 % less wall time than text. FREEZE (allowed since the tables were truncated in this transaction)
# made no measurable difference to the load or to the first full read; it spares autovacuum a later
# freeze pass over every row.
COPY_BINARY = True
COPY_FREEZE = True
# From this many planned rows on, the source digests come from a helper process that reads the source file
# itself while the load runs (sourcehash.py; 1M tasks on 2 cores: the load takes 8-9 s without hashing,
# 15-17 s hashing in-stream, 10-12 s with the helper); below it the rows are hashed as they are sent,
# which is cheaper than starting the helper (~0.13 s).
BACKGROUND_HASH_ROWS = 100_000


@dataclass
class TableReport:
    table: str
    rows: int
    seconds: float
    nul_stripped: int = 0
    digest: int | None = None  # verify.TableHasher digest of the rows sent, when hashing was on

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ImportReport:
    tables: list[TableReport] = field(default_factory=list)
    seconds: float = 0.0          # wall time from connect to commit
    copy_seconds: float = 0.0
    rebuild_seconds: float = 0.0  # constraints and indexes
    replaced: bool = False        # the target had rows and was emptied first
    sequences: dict[str, int | None] = field(default_factory=dict)  # value set; None: empty, restarted
    verification: Verification | None = None  # with verify=True: both sides' digests, compared before COMMIT
    committed: bool = False

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def nul_stripped(self) -> int:
        return sum(t.nul_stripped for t in self.tables)


def import_data(source: Source, target_url: str, plan: Plan, replace: bool = False, strip_nul: bool = False,
                progress: Progress | None = None, hashers: bool | Callable = True,
                analyze: bool = True, verify: bool = False) -> ImportReport:
    """Copy every planned table from ``source`` into the target in one transaction.

    :param replace: empty a target that has rows (in the same transaction) instead of refusing.
    :param strip_nul: drop NUL bytes from text and count them, instead of failing on the first.
    :param hashers: True: the source digest of each table (``verify.TableHasher``'s, of the rows sent),
        from a helper process on big sources, else from the rows as they are sent; False: no hashing;
        or a factory ``(kinds, *, table, columns) -> hasher`` with ``.add(row)`` and ``.digest``.
    :param verify: hash the target inside the transaction and compare it with the source digests before
        COMMIT (needs ``hashers=True``); the result is ``report.verification``.
    :raises SchemaError: the plan has problems.  :raises ConversionError, SourceError, TargetError:
        and then the target is unchanged.
    :raises VerificationFailed: the two sides differ; the import was rolled back (``.report`` tells what
        was sent and both sides' digests).
    """
    plan.check()
    if verify and hashers is not True:
        raise ValueError("verify=True needs the source digests: hashers=True")
    progress = progress or Progress()
    report = ImportReport()
    started = time.perf_counter()
    try:
        with _background_hashing(source, plan, hashers, strip_nul) as background, connect(target_url) as conn:
            make_hasher = None if background else _hasher_factory(hashers)
            _register_dumpers(conn)
            with conn.transaction():
                target = read_target(conn)
                report.replaced = _lock_and_empty(conn, target, replace)
                dropped = _drop_keys(conn, target)
                t0 = time.perf_counter()
                with no_cyclic_gc():
                    for tp in plan.tables:
                        report.tables.append(_copy_table(conn, source, tp, target, strip_nul, make_hasher,
                                                         progress))
                t1 = time.perf_counter()
                _rebuild(conn, dropped, progress)
                t2 = time.perf_counter()
                report.copy_seconds, report.rebuild_seconds = t1 - t0, t2 - t1
                # Hashed after the rebuild: the niced helper finishes the source digests on the core that the
                # (single-process) index builds leave idle, and PostgreSQL's parallel workers then get both.
                target_side = hashed = None
                if verify:
                    if background and analyze and not background.done():
                        # ANALYZE now, beside the helper: it mostly finishes during the target's hash, and ANALYZE
                        # then ran after COMMIT with a core idle (0.34 s at 1M tasks). Measured: 10.58 -> 10.52 and
                        # 10.62 -> 10.48 s median (A/B, 6 and 4 pairs): small, but never a core idle for it.
                        analyze = not _analyze_before_commit(conn, target, [tp.target for tp in plan.tables],
                                                             progress)
                    t3 = time.perf_counter()
                    target_side = _hash_target(conn, plan, progress)
                    hashed = time.perf_counter() - t3
                report.sequences = _reset_sequences(conn, target)
                if background:  # before COMMIT: a failed or disagreeing helper rolls the import back
                    if analyze and not background.done():  # spend the wait on ANALYZE, a core is idle
                        analyze = not _analyze_before_commit(conn, target, [tp.target for tp in plan.tables],
                                                             progress)
                    _take_digests(report, background, progress)
                if verify:
                    report.verification = _compare(report, target_side, hashed)
            report.seconds, report.committed = time.perf_counter() - started, True
            if analyze:
                _analyze(conn, target, [tp.target for tp in plan.tables], progress)
    except psycopg.Error as exc:  # anything not named above: permissions, a lost connection, ...
        raise TargetError(f"the import failed and was rolled back: {_describe(exc)}") from exc
    except VerificationFailed:
        report.seconds = time.perf_counter() - started
        raise
    return report


def _hash_target(conn, plan: Plan, progress: Progress) -> dict[str, tuple[int, int]]:
    """``{table: (count, digest)}`` of the rows this transaction wrote. One query per table: PostgreSQL runs
    each with parallel workers (max_parallel_workers_per_gather), which see the transaction's own rows."""
    columns = plan_columns(plan)
    # On a server on this machine its leader and workers share the cores with this process and the helper. On
    # 2 cores the leader and 2 workers (the default) made the import slower than the leader and 1 worker: 11.00
    # against 10.81 s median, 6 of 6 alternating pairs (1M tasks; without workers: 11.38 s). Remote: left alone.
    fit_parallel_workers(conn, usable_cores())
    progress.status(f"hashing {len(columns)} tables on the target, before COMMIT")
    return {name: pg_table_digest(conn, name, cols, schema=plan.target.schema) for name, cols in columns.items()}


def _compare(report: ImportReport, target_side: dict, seconds: float) -> Verification:
    """Both sides compared; raises VerificationFailed on a difference, which rolls the import back."""
    verification = check({t.table: (t.rows, t.digest) for t in report.tables}, target_side, seconds)
    if verification.mismatches:
        report.verification = verification
        raise VerificationFailed(verification.mismatches, report)
    return verification


@contextlib.contextmanager
def _background_hashing(source: Source, plan: Plan, hashers, strip_nul: bool):
    """A started ``sourcehash.BackgroundDigests`` when ``hashers`` is True and the source is a big file, else None.

    A source not yet checked for integrity is checked by the helper, while the rows stream (its error then
    rolls the import back), or else here, before anything is written.
    """
    if hashers is not True or not source.path or sum(tp.rows for tp in plan.tables) < BACKGROUND_HASH_ROWS:
        source.quick_check()
        yield None
        return
    from .sourcehash import BackgroundDigests
    with BackgroundDigests(source.path, plan.tables, strip_nul, check=not source.checked) as background:
        yield background


def _take_digests(report: ImportReport, background, progress: Progress) -> None:
    """Wait for the helper's digests and put them on the report; its row counts must be the rows sent."""
    if not background.done():
        progress.status("waiting for the source digests")
    digests = background.result()
    for table in report.tables:
        count, digest = digests[table.table]
        if count != table.rows:
            raise SourceError(f"the source changed during the import: table {table.table} had {table.rows} "
                              f"rows for the import and {count} for its digest; nothing was imported")
        table.digest = digest


def _hasher_factory(hashers):
    if callable(hashers):
        return hashers
    if not hashers:
        return None
    try:
        from .verify import TableHasher
    except ImportError:  # verify.py not present: the import still works, without source digests
        return None
    return TableHasher


class _JsonbText(Dumper):
    """JSON text -> jsonb's binary form (a version byte, then the text): the text is sent as it is."""

    format = psycopg.pq.Format.BINARY

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


class _UuidText(Dumper):
    """A UUID held as text (the "text" kind) -> uuid's 16 bytes."""

    format = psycopg.pq.Format.BINARY

    def dump(self, obj: str) -> bytes:
        import uuid
        return uuid.UUID(obj).bytes


def _register_dumpers(conn) -> None:
    for cls, name in ((_JsonbText, "jsonb"), (_UuidText, "uuid")):
        dumper = type(cls.__name__, (cls,), {"oid": conn.adapters.types[name].oid})
        conn.adapters.register_dumper(None, dumper)  # None: used only by oid, i.e. by COPY set_types()


def _lock_and_empty(conn, target: TargetSchema, replace: bool) -> bool:
    """Lock every target table, refuse rows unless ``replace``, then TRUNCATE (enables COPY FREEZE)."""
    names = [target.table_sql(t) for t in target.tables]
    # No statement_timeout (hosted roles often set one) for the long COPYs; a bounded wait for the locks.
    conn.execute(sql.SQL("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = {}").format(
        sql.Literal(LOCK_TIMEOUT)))
    try:
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.SQL(", ").join(names)))
    except pgerrors.LockNotAvailable:
        raise TargetError(f"the target tables are in use (no lock within {LOCK_TIMEOUT}): stop the app "
                          f"or wait for its transactions to end") from None
    conn.execute("SET LOCAL lock_timeout TO DEFAULT")
    with_rows = [t for t in target.tables if conn.execute(
        sql.SQL("SELECT EXISTS (SELECT FROM {})").format(target.table_sql(t))).fetchone()[0]]
    if with_rows and not replace:
        raise TargetError(f"the target is not empty ({', '.join(with_rows)} have rows): pass --replace to "
                          f"empty it in the same transaction, or import into an empty database")
    conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.SQL(", ").join(names)))
    return bool(with_rows)


def _drop_keys(conn, target: TargetSchema) -> list:
    """Drop FKs, then PK/unique/exclusion constraints, then plain indexes; return them in rebuild order."""
    fks = [c for c in target.constraints if c.type == "f"]
    keys = [c for c in target.constraints if c.type != "f"]
    for obj in fks + keys + target.indexes:
        conn.execute(obj.drop_sql())
    # PK/unique first (an FK needs the referenced key), then indexes (one may back an FK's referenced
    # columns: Prisma's @unique is a unique index), then FKs, which validate the rows.
    return keys + target.indexes + fks


def _copy_table(conn, source: Source, tp: TablePlan, target: TargetSchema, strip_nul: bool,
                make_hasher, progress: Progress) -> TableReport:
    started = time.perf_counter()
    if not tp.columns:  # a JSON export's empty array: no keys known, no rows to send, digest of nothing
        return TableReport(tp.target, 0, 0.0, 0, 0 if make_hasher else None)
    hasher = make_hasher(tp.kinds, table=tp.target, columns=[c.target.name for c in tp.columns]) \
        if make_hasher else None
    # An in-stream hasher needs the converted values (and parsed Json); without one, timestamps go in their
    # wire form and Json text goes to PostgreSQL unparsed (its refusal is named below).
    converter = RowConverter(tp, source.flavour, strip_nul, wire=COPY_BINARY and hasher is None,
                             server_parses_json=hasher is None)
    columns = sql.SQL(", ").join(sql.Identifier(c.target.name) for c in tp.columns)
    options = sql.SQL(", ").join(sql.SQL(o) for o in ("FORMAT BINARY" if COPY_BINARY else "FORMAT TEXT",
                                                       "FREEZE" if COPY_FREEZE else "FREEZE false"))
    stmt = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(target.table_sql(tp.target), columns, options)
    rows = 0
    try:
        with progress.table(tp.target, tp.rows) as advance, conn.cursor() as cur, cur.copy(stmt) as copy:
            if COPY_BINARY:  # binary COPY applies no casts: say which type each value is sent as
                copy.set_types(converter.wire_types())
            write, hash_rows = copy.write_row, _batch_hasher(hasher)
            for batch in converter.batches(source):
                deque(map(write, batch), 0)  # runs the loop in C
                if hash_rows:
                    hash_rows(batch)
                rows += len(batch)
                advance(len(batch))
    except psycopg.Error as exc:
        # A value that the fast conversion passed on and PostgreSQL refused: name it as the converters do.
        bad = converter.first_bad(source) if isinstance(exc, pgerrors.DataError) else None
        if bad is not None:
            raise bad from exc
        raise TargetError(f"table {tp.target}: PostgreSQL refused the rows: {_describe(exc)}", tp.target,
                          rows) from exc
    seconds = time.perf_counter() - started
    return TableReport(tp.target, rows, seconds, converter.nul_stripped, hasher.digest if hasher else None)


def _batch_hasher(hasher):
    if hasher is None:
        return None
    if hasattr(hasher, "update"):
        return hasher.update
    return lambda batch: deque(map(hasher.add, batch), 0)


def _rebuild(conn, dropped: list, progress: Progress) -> None:
    # maintenance_work_mem 256MB instead of the default 64MB gave no measurable gain on 1M tasks: left alone.
    progress.status(f"rebuilding {len(dropped)} constraints and indexes")
    for obj in dropped:
        try:
            conn.execute(obj.add_sql())
        except (pgerrors.ForeignKeyViolation, pgerrors.UniqueViolation, pgerrors.ExclusionViolation,
                pgerrors.NotNullViolation) as exc:
            raise TargetError(f"the imported rows break {obj.name} on {obj.table}: {_describe(exc)}",
                              obj.table) from exc
        except psycopg.Error as exc:
            raise TargetError(f"cannot rebuild {obj.name} on {obj.table}: {_describe(exc)}", obj.table) from exc


def _reset_sequences(conn, target: TargetSchema) -> dict[str, int | None]:
    """Each serial/identity sequence continues after max(column), or starts afresh on an empty table."""
    values = {}
    for seq in target.sequences:
        name = sql.Identifier(seq.schema, seq.name)
        top, low = conn.execute(sql.SQL("SELECT max({}), (SELECT seqmin FROM pg_sequence WHERE seqrelid = {}::regclass)"
                                        " FROM {}").format(sql.Identifier(seq.column), sql.Literal(name.as_string(conn)),
                                                           target.table_sql(seq.table))).fetchone()
        # RESTART gives the sequence a new relfilenode in this transaction, so the setval that follows
        # is undone by a rollback (a bare setval never is).
        conn.execute(sql.SQL("ALTER SEQUENCE {} RESTART").format(name))
        top = top if top is not None and top >= low else None  # ids all below the sequence's range: start it
        if top is not None:
            conn.execute("SELECT setval(%s::regclass, %s)", (name.as_string(conn), top))
        values[f"{seq.schema}.{seq.name}"] = top
    return values


def _analyze(conn, target: TargetSchema, tables: list[str], progress: Progress) -> None:
    """Fresh planner statistics for the app's first queries; after COMMIT, so it cannot undo anything."""
    progress.status("analyzing the imported tables")
    conn.autocommit = True
    try:
        for name in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(target.table_sql(name)))
    except psycopg.Error as exc:  # the data is committed; autovacuum will analyze later
        progress.status(f"ANALYZE failed (the import is committed; autovacuum will do it): {_describe(exc)}")


def _analyze_before_commit(conn, target: TargetSchema, tables: list[str], progress: Progress) -> bool:
    """ANALYZE inside the import's transaction, in a savepoint so that a failure cannot undo the import;
    the statistics appear with the COMMIT. False when it failed (it is then tried again after COMMIT)."""
    progress.status("analyzing the imported tables while the source digests are computed")
    try:
        with conn.transaction():
            for name in tables:
                conn.execute(sql.SQL("ANALYZE {}").format(target.table_sql(name)))
    except psycopg.Error:
        return False
    return True


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    parts = [diag.message_primary or str(exc).strip()]
    parts += [p for p in (diag.message_detail, diag.context) if p]
    return " ".join(" ".join(parts).split())
