"""Whole rows: one table's source rows in batches, converted to the target's Python values.

Per-row speed decides the import's speed (the client's Python work is the bottleneck on 2 cores), so each
table gets one generated function that converts a row in a single tuple display: the common storage class
of a column (INTEGER ids, TEXT, epoch-ms DateTimes, 0/1 Booleans) is handled inline, anything else goes to
the column's complete converter in convert.py. The inline forms are strict subsets of those converters.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterator

from .canonical import MICROSECOND, PG_EPOCH, PG_EPOCH_UTC
from .convert import Bad, NulCounter, column_converter
from .errors import ConversionError
from .plan import TablePlan
from .schema import INT_RANGES, Column
from .source import BATCH_ROWS, Source

MAX_SHOWN = 60  # characters of a bad value quoted in an error message
# Epoch ms in [1900, 2100): there utcfromtimestamp(ms / 1000) is exact to the microsecond (|ms / 1000| <
# 4.5e9 keeps the double's error under 0.5 us) and 6x faster than adding a timedelta.
FAST_MS = (-2208988800000, 4102444800000)
US_BEFORE_PG_EPOCH = (PG_EPOCH - datetime(1970, 1, 1)) // MICROSECOND  # 946,684,800,000,000
# Binary COPY carries no type per value: a timestamp(tz) field is the 8-byte count of microseconds since
# 2000-01-01 (UTC), byte for byte what psycopg's int8 dumper writes for that count. Sent that way ("wire"
# rows), an epoch-ms DateTime costs one multiplication instead of a datetime object and its dumper: the
# COPY of 1M tasks (4M DateTimes) took 5.0-5.2 s instead of 5.4-5.6 s, measured in-process (load.import_data).
WIRE_TYPES = {"timestamp": "int8", "timestamptz": "int8"}


def wire_timestamp(dt: datetime | None) -> int | None:
    """A converted timestamp or timestamptz value as its binary COPY form (see WIRE_TYPES)."""
    if dt is None:
        return None
    return (dt - (PG_EPOCH if dt.tzinfo is None else PG_EPOCH_UTC)) // MICROSECOND


@contextmanager
def no_cyclic_gc():
    """Pause the cyclic garbage collector: converted rows hold no cycles, and its scans of the millions of
    short-lived tuples cost ~25 % of the import's time (measured). Reference counting still frees them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class RowConverter:
    """Converts the rows of one planned table; ``nul_stripped`` counts NUL bytes removed (``strip_nul``).

    With ``wire``, timestamp and timestamptz values come as their binary COPY form (:func:`wire_timestamp`),
    to be sent with the types of :meth:`wire_types`; else as datetimes.

    With ``server_parses_json``, Json text without NUL bytes or ``\\u`` escapes is passed on unparsed: only
    for the import, whose COPY makes PostgreSQL parse it anyway (its json/jsonb input refuses what is not
    JSON), and which then names the bad value with :meth:`first_bad`. Parsing it here too cost the import
    ~0.4 us per Task row, on its critical path. Every other use (plan, verify, hashing) needs the check here.
    """

    def __init__(self, table: TablePlan, flavour: str, strip_nul: bool = False, wire: bool = False,
                 server_parses_json: bool = False):
        self.table = table
        self.wire = wire
        self.server_parses_json = server_parses_json
        self.nul = NulCounter(strip_nul)
        self.columns = [column_converter(c.target, flavour, self.nul) for c in table.columns]
        self.convert = self._compile(flavour)

    def wire_types(self) -> list[str]:
        """The type of each value for ``Copy.set_types()``."""
        return [WIRE_TYPES.get(c.kind, c.target.wire) if self.wire else c.target.wire for c in self.table.columns]

    @property
    def nul_stripped(self) -> int:
        return self.nul.count

    def batches(self, source: Source, size: int = BATCH_ROWS) -> Iterator[list[tuple]]:
        """Converted rows, a batch at a time.

        :raises ConversionError: naming table, row, column, the value and what was expected.
        """
        convert, done = self.convert, 0
        for batch in source.batches(self.table.source, self.table.source_columns, size):
            try:
                out = list(map(convert, batch))
            except Exception as exc:  # noqa: BLE001 - the slow path below names the culprit or re-raises
                raise self.diagnose(batch, done) from exc
            done += len(batch)
            yield out

    def rows(self, source: Source) -> Iterator[tuple]:
        """Converted rows one by one (for hashing a source without importing it)."""
        for batch in self.batches(source):
            yield from batch

    def diagnose(self, batch: list[tuple], done: int) -> Exception:
        """The ConversionError for the first bad value in ``batch`` (rows before it: ``done``)."""
        t = self.table
        for n, row in enumerate(batch, done + 1):
            for i, conv in enumerate(self.columns):
                try:
                    conv(row[i])
                except Bad as bad:
                    col = t.columns[i].source
                    row_id = t.row_id(row, n)
                    return ConversionError(
                        f"table {t.source}, row {row_id}, column {col}: expected {bad.expected}, "
                        f"found {shown(row[i])}", t.source, col, row_id, row[i], bad.expected)
        return RuntimeError(f"table {t.source}: a row failed the fast conversion but no column was found bad")

    def first_bad(self, source: Source) -> ConversionError | None:
        """The first value of the table that the complete converters refuse, read again from ``source``
        (slow: for naming the value after PostgreSQL refused one that the fast path passed on)."""
        done = 0
        for batch in source.batches(self.table.source, self.table.source_columns):
            found = self.diagnose(batch, done)
            if isinstance(found, ConversionError):
                return found
            done += len(batch)
        return None

    def _compile(self, flavour: str):
        ns = {"U": datetime.utcfromtimestamp, "F": datetime.fromtimestamp, "UTC": timezone.utc,
              "US2000": US_BEFORE_PG_EPOCH, "D": Decimal}
        exprs = []
        for i, (cm, conv) in enumerate(zip(self.table.columns, self.columns)):
            wire = self.wire and cm.kind in WIRE_TYPES
            ns[f"c{i}"] = (lambda v, conv=conv: wire_timestamp(conv(v))) if wire else conv
            ns[f"L{i}"] = cm.target.labels
            exprs.append(fast_expr(i, cm.target, wire, self.server_parses_json) if flavour == "sqlite"
                         else f"c{i}(r[{i}])")
        body = ", ".join(exprs) + "," if exprs else ""
        exec(f"def convert(r):\n    return ({body})\n", ns)  # noqa: S102 - source built above from fixed templates
        return ns["convert"]


def fast_expr(i: int, col: Column, wire: bool = False, server_parses_json: bool = False) -> str:
    """The inline expression converting ``r[i]`` for a SQLite source; falls back to ``c{i}(v)``
    (``wire``: a timestamp's binary COPY form, see WIRE_TYPES; ``server_parses_json``: see RowConverter)."""
    v, slow = f"(v := r[{i}])", f"c{i}(v)"
    kind = col.kind
    if kind in ("jsonb", "json") and server_parses_json:  # NUL and escapes: the converter checks or strips
        return f"(v if {v}.__class__ is str and '\\x00' not in v and '\\\\u' not in v else {slow})"
    if kind == "numeric" and _plain_floats_fit(col):
        limit = f"-{10 ** (col.precision - col.scale)} < v < {10 ** (col.precision - col.scale)}" \
            if col.precision is not None else "True"
        return (f"(D(t) if (k := {v}.__class__) is float and 'e' not in (t := repr(v)) and 'n' not in t "
                f"else D(v) if k is int and {limit} else {slow})")
    if kind == "int":
        lo, hi = INT_RANGES[col.base]
        return f"(v if {v}.__class__ is int and {lo} <= v <= {hi} else {slow})"
    if kind == "float" and col.base == "float8":
        return f"(v if {v}.__class__ is float else {slow})"
    if kind == "bool":
        return f"(v != 0 if {v}.__class__ is int else {slow})"
    if kind in ("timestamp", "timestamptz") and (col.precision is None or col.precision >= 3):
        make = "(v * 1000 - US2000)" if wire else "U(v / 1000)" if kind == "timestamp" else "F(v / 1000, UTC)"
        lo, hi = FAST_MS
        return f"({make} if {v}.__class__ is int and {lo} <= v < {hi} else {slow})"
    if kind == "bytea":
        return f"(v if {v}.__class__ is bytes else {slow})"
    if kind == "text" and col.labels is not None:
        return f"(v if {v} in L{i} else {slow})"
    if kind == "text" and col.length is None and col.base in ("text", "citext"):
        return f"(v if {v}.__class__ is str and '\\x00' not in v else {slow})"
    return f"c{i}(r[{i}])"


def _plain_floats_fit(col: Column) -> bool:
    """Whether every float whose repr() has no exponent fits ``col`` unrounded, so that ``Decimal(repr(v))``
    is exactly what the numeric converter makes of it. Such a repr has at most 16 integer digits (from 1e16
    on Python writes an exponent) and at most 20 decimals (17 significant digits after up to 3 zeros, down
    to 1e-4): Prisma's Decimal is numeric(65,30). ``inf`` and ``nan`` are spelt with an ``n``."""
    if col.scale is None:
        return col.precision is None  # plain numeric: any value fits
    return col.scale >= 20 and (col.precision is None or col.precision - col.scale >= 16)


def shown(value) -> str:
    """A bad value for a message: repr, cut to MAX_SHOWN characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"... ({len(text)} chars)"
