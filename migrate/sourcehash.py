"""Source-side digests computed by a helper process that reads the source file itself while the import runs.

Measured with bench/import_variants.py and bench/import_bench.py (1M tasks, 3.03M rows, 2 vCPUs, PostgreSQL
on the same machine): while it COPYs, the import's client keeps one core busy and PostgreSQL about a quarter
of the other; while PostgreSQL rebuilds the indexes the client only waits. Hashing every row in the client's
own process doubled the load's time (load+verify 17-18 s against 8-9 s); the helper uses the spare capacity
instead. It runs at nice 19 (NICE): the digests are needed only at COMMIT, after the rebuild and the target's
hash, so it should yield to the import's own process and to PostgreSQL; measured 11.7-12.0 s against
12.5-12.7 s at nice 0. (With Linux's autogroups, on by default, niceness counts only within the helper's
session, which still gets its fair share against PostgreSQL's. Without them, other busy work at nice 0 can
starve the helper, and the import then waits for it before COMMIT, holding its locks.) With a remote database
it simply gets the second core.

Its hot loop is compiled (migrate/_rowdigest.c) where ./dev setup has built it. The Python code here
defines every rule: the compiled loop takes the same fast paths (built from the same ``_FastPath`` records)
and hands every other value back to it, and it is the whole loop where the module is missing.

The helper reads the source in its own read transaction, so the source must not change during the
import (the cutover freezes it). A change is not missed: the helper's counts are checked against the rows
sent, and its digests against PostgreSQL's.
"""

from __future__ import annotations

import os
import pickle
import re
import struct
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from . import errors
from .canonical import NULL, jsonb_text, value_text
from .convert import NulCounter, column_converter
from .plan import TablePlan
from .rows import US_BEFORE_PG_EPOCH, RowConverter, no_cyclic_gc
from .schema import Column
from .source import Source, open_source
from .verify import sum_row_hashes, to_signed64

SEP_ESCAPED = "\\x1f"  # canonical.SEP as written inside the generated f-string
_VALUE = re.compile(r"\bv\b")  # the stored value in _fast_paths' templates
# The helper yields to the import's own process and to PostgreSQL: the digests are needed only at COMMIT, and
# the index rebuild before it leaves a core idle where the helper finishes (measured in sourcehash's docstring).
NICE = 19


class C:
    """The built-in actions of the compiled loop (the numbers of migrate/_rowdigest.c's enum)."""
    DEC, BOOL, EPOCH_MS, FLOAT8, TEXT, RAW, HEX, JSONB, JSONB_FLOAT, NUMERIC_FLOAT = range(1, 11)


_CLASSES = ("int", "float", "str", "bytes")  # the stored classes a spec has an action for, in its order
# The compiled loop (migrate/_rowdigest.c, built by ./dev setup) computes the same digests in less than half
# the CPU time (5.4 -> 2.4 CPU-s at 1M tasks, reading included; bench/RESULTS.md).
# Without it, or with MIGRATE_PURE_PYTHON=1 (to rule it out when a digest is in doubt), Python does it all.
try:
    from . import _rowdigest
except ImportError:  # not built here: correct, only slower
    _rowdigest = None


def compiled() -> bool:
    """Whether the source digests use the compiled loop."""
    return _rowdigest is not None and not os.environ.get("MIGRATE_PURE_PYTHON")


# -- one stored row -> its canonical text --------------------------------------------------------
# The helper's digests are used only when the import itself succeeds, and the import refuses every value
# that its converters refuse. So the helper checks nothing: a fast path needs only to be exact for the
# values the converter accepts, i.e. to give the canonical text of what the converter makes of them.
# Checks stay only where the converter changes a value (NUL stripping, rounding, padding, UUID text).

def _jsonb_or(text: str, slow: Callable) -> str:
    try:
        return jsonb_text(text)
    except ValueError:  # not JSON: the complete converter raises the error that names the value
        return slow(text)


def _numeric_of_float(value: float, scale: int | None) -> str | None:
    """``trim_scale()`` text of ``Decimal(repr(value))`` (the converter's value) when it needs no rounding to
    ``scale`` and has no exponent; else None."""
    text = repr(value)
    if "e" in text or "n" in text or (scale is not None and len(text) - text.find(".") - 1 > scale):
        return None  # 1e-05, inf, nan, or more decimals than the column keeps
    return text.rstrip("0").rstrip(".") if value else "0"


class _FastPath(NamedTuple):
    """One fast path of a column: a stored value ``v`` of class ``cls`` (exactly) whose canonical text is the
    Python expression ``python``; ``c`` is the same for the compiled loop (a built-in code of C, a
    (code, argument, next action) triple, a dict or a callable: see ``apply`` in migrate/_rowdigest.c)."""
    cls: str
    python: str
    c: object
    # With --strip-nul the converter rewrites a str holding NUL (1), or, in Json, also one holding \\u (2):
    # such a str takes the slow path.
    guard: int = 0
    condition: str = ""  # the Python form's test, when it is not the class test (plus the guard's)


def _fast_paths(i: int, col: Column, strip_nul: bool, slow: Callable, enum_texts: dict | None) -> list[_FastPath]:
    """The fast paths of column ``i``, tried in order; ``slow`` is its complete converter + canonical text."""
    kind, base = col.kind, col.base
    if kind == "int":
        return [_FastPath("int", "v", C.DEC)]
    if kind == "float" and base == "float8":
        return [_FastPath("float", "DOUBLE(v).hex()", C.FLOAT8, condition="v.__class__ is float and v == v")]
    if kind == "bool":
        return [_FastPath("int", "('1' if v else '0')", C.BOOL)]
    if kind in ("timestamp", "timestamptz") and (col.precision is None or col.precision >= 3):
        # epoch ms -> this very instant; microseconds since 2000 as timestamp_send's 8 bytes
        return [_FastPath("int", "INT8(v * 1000 - US2000).hex()", C.EPOCH_MS)]
    if kind == "text" and enum_texts is not None:  # an enum: each label's canonical text, made once
        return [_FastPath("str", "t", enum_texts, condition=f"(t := E{i}.get(v)) is not None")]
    if kind == "text" and base not in ("uuid", "bpchar"):  # the converter normalises uuid and pads bpchar
        return [_FastPath("str", "f'{len(v) if v.isascii() else len(v.encode())}:{v}'", C.TEXT, int(strip_nul))]
    if kind == "bytea":
        return [_FastPath("bytes", "v.hex()", C.HEX)]
    if kind in ("jsonb", "json"):
        # Only NUL stripping makes the converter rewrite a document (escapes are checked, not changed).
        guard = 2 if strip_nul else 0
        if kind == "json":
            return [_FastPath("str", "v", C.RAW, guard), _FastPath("int", "v", C.DEC)]
        # A Json number stored as REAL: the converter writes its repr() (inf and nan it refuses).
        return [_FastPath("str", f"JSONB(v, s{i})", (C.JSONB, 0, lambda v: _jsonb_or(v, slow)), guard),
                _FastPath("int", "v", C.DEC), _FastPath("float", f"JSONB(repr(v), s{i})", C.JSONB_FLOAT)]
    if kind == "numeric" and (col.scale is None or col.scale >= 0):  # (a negative scale rounds integers)
        return [_FastPath("int", "v", C.DEC),
                _FastPath("float", f"(NUMERIC(v, {col.scale}) or s{i}(v))",
                          (C.NUMERIC_FLOAT, -1 if col.scale is None else col.scale, None))]
    return []


_GUARDS = {0: "", 1: " and NUL not in v", 2: " and ESCAPE not in v and NUL not in v"}


def _columns(table: TablePlan, flavour: str, strip_nul: bool) -> list[tuple[Callable, dict | None, list[_FastPath]]]:
    """Per column: its complete converter + canonical text, its enum labels' texts, its fast paths."""
    nul = NulCounter(strip_nul)
    out = []
    for i, cm in enumerate(table.columns):
        convert, canonical = column_converter(cm.target, flavour, nul), value_text(cm.kind)
        slow = lambda v, convert=convert, canonical=canonical: canonical(convert(v))  # noqa: E731
        enum_texts = None if cm.target.labels is None else {label: canonical(label) for label in cm.target.labels}
        # A JSON export's values are JSON's, not SQLite's (and its MISSING is not None): the converter decides.
        fast = _fast_paths(i, cm.target, strip_nul, slow, enum_texts) if flavour == "sqlite" else []
        out.append((slow, enum_texts, fast))
    return out


def raw_row_text_function(table: TablePlan, flavour: str, strip_nul: bool = False) -> Callable[[tuple], str]:
    """Compile ``stored row -> canonical row text``, equal to ``canonical.row_text_function(kinds)`` of the
    row that :class:`rows.RowConverter` makes of it whenever the converter accepts the row.

    For a SQLite source the common storage classes (INTEGER ids and epoch-ms DateTimes, 0/1 Booleans, TEXT,
    Json text, REAL decimals) go straight to their canonical text; every other value, and every value of a
    JSON export, goes through the column's complete converter first (which raises on what it refuses).
    """
    # INT8: struct's pack is ~25 ns cheaper than int.to_bytes(8, 'big', signed=True), same bytes
    namespace = {"N": NULL, "NUL": "\x00", "ESCAPE": "\\u", "US2000": US_BEFORE_PG_EPOCH, "JSONB": _jsonb_or,
                 "NUMERIC": _numeric_of_float, "DOUBLE": struct.Struct(">d").pack, "INT8": struct.Struct(">q").pack}
    fields = []
    for i, ((slow, enum_texts, fast), cm) in enumerate(zip(_columns(table, flavour, strip_nul), table.columns)):
        namespace[f"s{i}"], namespace[f"E{i}"] = slow, enum_texts
        if flavour != "sqlite":
            fields.append(f"{{s{i}(v{i})}}")
            continue
        expression = f"s{i}(v)"
        for path in reversed(fast):
            condition = path.condition or f"v.__class__ is {path.cls}{_GUARDS[path.guard]}"
            expression = f"({path.python} if {condition} else {expression})"
        expression = _VALUE.sub(f"v{i}", expression)  # the templates' v is this column's value
        # In a NOT NULL column a None fails every fast path and its converter gives None: N either way (and
        # the import refuses the row), so only nullable columns test for None first.
        fields.append(f"{{{expression}}}" if cm.target.not_null else f"{{N if v{i} is None else {expression}}}")
    # The row unpacked into one local per column: cheaper than subscripting it per column (-4 % on Task).
    names = "".join(f"v{i}, " for i in range(len(table.columns)))
    source = f"def row_text(r):\n    {names}= r\n    return f\"{SEP_ESCAPED.join(fields)}\"\n"
    exec(source, namespace)  # noqa: S102 - built only from the fixed templates above
    return namespace["row_text"]


def c_specs(table: TablePlan, flavour: str, strip_nul: bool = False) -> tuple:
    """The column specs of ``_rowdigest.sum_rows`` for ``table``: the same fast paths as
    :func:`raw_row_text_function`, in the compiled loop's terms."""
    specs = []
    for (slow, _, fast), cm in zip(_columns(table, flavour, strip_nul), table.columns):
        actions = dict.fromkeys(_CLASSES)
        guard = 0
        for path in fast:
            actions[path.cls] = path.c
            guard = max(guard, path.guard)
        nullable = flavour == "sqlite" and not cm.target.not_null
        specs.append((int(nullable), guard, *actions.values(), slow))
    return tuple(specs)


def table_digest(source: Source, table: TablePlan, strip_nul: bool = False,
                 advance: Callable[[int], None] | None = None) -> tuple[int, int]:
    """``(count, digest)`` of one planned table read from ``source``, as verify.TableHasher gives for the
    rows that the import sends; ``advance(n)`` is called after each batch of ``n`` rows.

    :raises ConversionError: a value the import could not convert either (named as the import names it)
    """
    if not table.columns:  # a JSON export's empty array: nothing is sent
        return 0, 0
    if compiled():
        specs, sum_rows = c_specs(table, source.flavour, strip_nul), _rowdigest.sum_rows
        digest_of = lambda batch: sum_rows(batch, specs, US_BEFORE_PG_EPOCH)  # noqa: E731
    else:
        row_text = raw_row_text_function(table, source.flavour, strip_nul)
        digest_of = lambda batch: sum_row_hashes(row_text, batch)  # noqa: E731
    count = total = 0
    for batch in source.batches(table.source, table.source_columns):
        try:
            total += digest_of(batch)
        except Exception as exc:  # noqa: BLE001 - the converter names the culprit, or it is a bug
            raise RowConverter(table, source.flavour, strip_nul).diagnose(batch, count) from exc
        count += len(batch)
        if advance is not None:
            advance(len(batch))
    return count, to_signed64(total)


def file_digests(path: str, tables: Sequence[TablePlan], strip_nul: bool = False,
                 check: bool = False) -> dict[str, tuple[int, int]]:
    """``{target table: (count, digest)}`` of the planned tables of the source file at ``path``; read-only.

    :param check: check the file's integrity first (SQLite's quick_check; SourceError when it is corrupt)
    """
    with open_source(path, check=check) as source, no_cyclic_gc():
        return {tp.target: table_digest(source, tp, strip_nul) for tp in tables}


# -- the helper process -------------------------------------------------------------------------
# A plain ``python -m migrate.sourcehash`` child, not multiprocessing: spawn would re-run the caller's
# main script in the child (any script without a ``__main__`` guard breaks), and fork would copy a process
# that holds a database connection and threads. The job and the result travel as pickles over the
# child's stdin and stdout (both ends are this module).

def _main() -> None:
    """Entry point of the helper: a pickled job on stdin, a pickled outcome on stdout."""
    path, tables, strip_nul, check = pickle.load(sys.stdin.buffer)
    os.nice(NICE)
    try:
        outcome = ("ok", file_digests(path, tables, strip_nul, check))
    except errors.MigrateError as exc:
        outcome = ("error", type(exc).__name__, str(exc), dict(vars(exc)))
    except Exception:  # noqa: BLE001 - a bug: the parent shows the traceback
        outcome = ("bug", traceback.format_exc())
    sys.stdout.buffer.write(pickle.dumps(outcome))


class BackgroundDigests:
    """:func:`file_digests` running in a helper process, started at construction; a context manager that
    stops the helper on exit if it is still running.

    :param path: the source file or directory (a SQLite file or a JSON export)
    :param tables: the planned tables, in any order
    :param check: the helper checks the file's integrity first, off the import's critical path (SQLite's
        quick_check reads every page: 0.4 s for 1M tasks); a corrupt file is then its SourceError
    """

    def __init__(self, path: str, tables: Sequence[TablePlan], strip_nul: bool = False, check: bool = False):
        root = str(Path(__file__).resolve().parent.parent)  # where this package lives, wherever we run from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty child can never block on it
        self._process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        try:
            with self._process.stdin:
                self._process.stdin.write(pickle.dumps((str(path), list(tables), strip_nul, check)))
        except OSError:  # it died at once; result() reports how
            pass

    def done(self) -> bool:
        return self._process.poll() is not None

    def result(self) -> dict[str, tuple[int, int]]:
        """Wait for ``{target table: (count, digest)}``.

        :raises MigrateError: the helper's own error (e.g. ConversionError), or the helper died
        :raises RuntimeError: the helper failed with a bug; the message holds its traceback
        """
        with self._process.stdout:
            out = self._process.stdout.read()
        self._process.wait()
        if self._process.returncode != 0 or not out:
            self._stderr.seek(0)
            last = self._stderr.read().decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise errors.MigrateError(f"the source hashing process ended without a result "
                                      f"(exit code {self._process.returncode}): {last[0]}")
        outcome = pickle.loads(out)  # written by _main() in our own child
        if outcome[0] == "ok":
            return outcome[1]
        if outcome[0] == "bug":
            raise RuntimeError(f"the source hashing process failed:\n{outcome[1]}")
        return _raise_error(*outcome[1:])

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()  # our own child, by its handle: it only reads
            self._process.wait()
        self._process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> "BackgroundDigests":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _raise_error(name: str, message: str, attributes: dict):
    """Raise the helper's MigrateError again in this process, with its class and data."""
    cls = getattr(errors, name, errors.MigrateError)
    if not (isinstance(cls, type) and issubclass(cls, errors.MigrateError)):
        cls = errors.MigrateError
    error = cls.__new__(cls)
    errors.MigrateError.__init__(error, message)
    error.__dict__.update(attributes)
    raise error


if __name__ == "__main__":
    _main()
