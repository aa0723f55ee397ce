"""Whole rows: the generated fast path agrees with the complete converters; errors name the row."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from migrate.convert import Bad
from migrate.plan import ColumnMap, TablePlan
from migrate.rows import RowConverter
from migrate.schema import Column

from .test_convert import COLS, MS


def _plan(*cols: str) -> TablePlan:
    return TablePlan("T", "T", [ColumnMap(f"c{i}", COLS[c]) for i, c in enumerate(cols)], 0)


SAMPLES = {
    "int4": [1, None, 2**31 - 1, -2**31, 3.0, "7"], "int8": [2**40, None, "12"],
    "float8": [1.5, None, 2, float("inf")], "decimal": [0.1, 12, None, "1.25"], "bool": [0, 1, 5, None, "true"],
    "ts3": [MS, None, -MS, 4102444800000 + 1, "2025-01-07 16:07:00", 1.5], "ts0": [MS, None],
    "tstz": [MS, None, "2025-01-07T16:07:00Z"], "date": [MS, None], "text": ["x", None, "", 5, 1.5],
    "enum": ["TODO", None, "DONE"], "jsonb": ['{"a": 1}', None, 42, "null"], "bytea": [b"x", None, "s"],
}


@pytest.mark.parametrize("col", sorted(SAMPLES))
def test_inline_fast_path_gives_the_same_values_as_the_complete_converter(col):
    rc = RowConverter(_plan(col), "sqlite")
    for value in SAMPLES[col]:
        assert rc.convert((value,)) == (rc.columns[0](value),), value


def test_inline_fast_path_falls_back_for_dates_far_from_now():
    rc = RowConverter(_plan("ts3"), "sqlite")
    far = 253402300799999  # 9999-12-31T23:59:59.999Z: outside the float fast path, exact in the slow one
    assert rc.convert((far,)) == (datetime(9999, 12, 31, 23, 59, 59, 999000),)


class ListSource:
    """A Source over in-memory rows (the interface RowConverter reads)."""

    flavour = "sqlite"

    def __init__(self, rows):
        self.rows = rows

    def batches(self, table, columns, size=2):
        for i in range(0, len(self.rows), size):
            yield self.rows[i:i + size]


def test_conversion_error_names_table_row_column_and_a_truncated_value():
    tp = TablePlan("Task", "Task", [ColumnMap("id", COLS["int4"]), ColumnMap("status", COLS["enum"])], 3, key=[0])
    rc = RowConverter(tp, "sqlite")
    rows = [(1, "TODO"), (2, "DONE"), (3, "X" * 500)]
    with pytest.raises(Exception) as err:
        list(rc.batches(ListSource(rows)))
    e = err.value
    assert str(e) == ("table Task, row id=3, column status: expected one of the enum labels DONE, IN_PROGRESS, TODO "
                      "(\"TaskStatus\"), found '" + "X" * 59 + "... (502 chars)")
    assert (e.table, e.column, e.row_id, e.value, e.expected[:6]) == ("Task", "status", "id=3", "X" * 500, "one of")


def test_rows_without_a_key_are_named_by_position():
    tp = TablePlan("T", "T", [ColumnMap("n", COLS["int4"])], 3)
    with pytest.raises(Exception, match=r"^table T, row #3, column n: expected an integer"):
        list(RowConverter(tp, "sqlite").rows(ListSource([(1,), (2,), ("x",)])))


def _numeric(precision, scale):
    return Column("d", "numeric", "numeric", "numeric", "numeric", precision=precision, scale=scale)


@pytest.mark.parametrize("precision, scale", [(65, 30), (None, None), (40, 20), (35, 20), (36, 19), (5, 2)])
def test_numeric_fast_path_gives_the_same_decimals_as_the_complete_converter(precision, scale):
    # Floats of every magnitude (with and without an exponent in their repr), ints at the precision's edge.
    rnd = random.Random(precision)
    floats = [rnd.uniform(-1, 1) * 10.0 ** rnd.randint(-8, 20) for _ in range(3000)]
    floats += [0.0, -0.0, 1e-4, 9.999e-5, 1e15, 9999999999999998.0, 1e16, 0.1 + 0.2, 123.456, 1 / 3]
    ints = [0, -7, 10**15, 10**16 - 1, 10**16, 10**35 - 1, 10**35, -10**35, 2**63]
    tp = TablePlan("T", "T", [ColumnMap("d", _numeric(precision, scale))], 0)
    rc = RowConverter(tp, "sqlite")
    for value in floats + ints + [float("inf"), float("nan"), None, "1.25"]:
        try:
            want = rc.columns[0](value)
        except Bad:
            with pytest.raises(Exception):
                rc.convert((value,))
            continue
        got = rc.convert((value,))[0]
        assert (str(got), type(got)) == (str(want), type(want)), value  # str: 1.50 and 1.5 must not pass as equal


def test_json_text_goes_to_the_server_unparsed_only_when_the_import_asks():
    tp = _plan("jsonb", "json")
    checked, passed_on = RowConverter(tp, "sqlite"), RowConverter(tp, "sqlite", server_parses_json=True)
    assert passed_on.convert(("{oops", "[1,")) == ("{oops", "[1,")  # PostgreSQL's COPY will refuse these
    with pytest.raises(Exception):
        checked.convert(("{oops", "[]"))
    # NUL bytes, \u escapes and stored numbers still take the complete converter (it checks or rewrites them)
    for row in (('{"a": "\\u0000"}', "1"), ('"x\x00"', "1")):
        with pytest.raises(Exception):
            passed_on.convert(row)
    assert passed_on.convert((3.5, 7)) == ("3.5", "7")
    strip = RowConverter(tp, "sqlite", strip_nul=True, server_parses_json=True)
    assert strip.convert(('{"a": "b\x00"}', 42)) == ('{"a": "b"}', "42") and strip.nul_stripped == 1


def test_first_bad_finds_the_refused_value_in_a_later_batch_or_nothing():
    tp = TablePlan("T", "T", [ColumnMap("id", COLS["int4"]), ColumnMap("doc", COLS["jsonb"])], 5, key=[0])
    rc = RowConverter(tp, "sqlite", server_parses_json=True)
    rows = [(1, "{}"), (2, "[]"), (3, "1"), (4, "{oops"), (5, "2")]
    assert len(list(rc.rows(ListSource(rows)))) == 5  # the fast path passed the bad text on
    bad = rc.first_bad(ListSource(rows))
    assert (bad.table, bad.row_id, bad.column, bad.value) == ("T", "id=4", "doc", "{oops")
    assert str(bad).startswith("table T, row id=4, column doc: expected valid JSON text")
    assert rc.first_bad(ListSource(rows[:3])) is None
