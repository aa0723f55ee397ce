"""Whole rows: the generated fast path agrees with the complete converters; errors name the row."""

from __future__ import annotations

from datetime import datetime

import pytest

from migrate.plan import ColumnMap, TablePlan
from migrate.rows import RowConverter

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
