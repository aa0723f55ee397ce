"""Converters: every Prisma SQLite storage quirk, the JSON export's forms, and the values they refuse."""

from __future__ import annotations

import random
from datetime import date, datetime, timezone
from decimal import Decimal

import psycopg
import pytest

from migrate.convert import NUL_HINT, Bad, NulCounter, column_converter, round_timestamp
from migrate.schema import Column
from migrate.source import MISSING


LABELS = frozenset({"TODO", "IN_PROGRESS", "DONE"})


COLS = {
    "int4": Column("n", "integer", "int4", "int", "int4"),
    "int8": Column("n", "bigint", "int8", "int", "int8"),
    "int2": Column("n", "smallint", "int2", "int", "int2"),
    "float8": Column("f", "double precision", "float8", "float", "float8"),
    "float4": Column("f", "real", "float4", "float", "float4"),
    "decimal": Column("d", "numeric(65,30)", "numeric", "numeric", "numeric", precision=65, scale=30),
    "numeric52": Column("d", "numeric(5,2)", "numeric", "numeric", "numeric", precision=5, scale=2),
    "bool": Column("b", "boolean", "bool", "bool", "bool"),
    "ts3": Column("t", "timestamp(3) without time zone", "timestamp", "timestamp", "timestamp", precision=3),
    "ts0": Column("t", "timestamp(0) without time zone", "timestamp", "timestamp", "timestamp", precision=0),
    "tstz": Column("t", "timestamp(3) with time zone", "timestamptz", "timestamptz", "timestamptz", precision=3),
    "date": Column("t", "date", "date", "date", "date"),
    "text": Column("s", "text", "text", "text", "text"),
    "varchar3": Column("s", "character varying(3)", "varchar", "text", "text", length=3),
    "char4": Column("s", "character(4)", "bpchar", "text", "text", length=4),
    "uuid": Column("s", "uuid", "uuid", "text", "uuid"),
    "enum": Column("s", '"TaskStatus"', "TaskStatus", "text", "text", labels=LABELS),
    "jsonb": Column("j", "jsonb", "jsonb", "jsonb", "jsonb"),
    "json": Column("j", "json", "json", "json", "text"),
    "bytea": Column("b", "bytea", "bytea", "bytea", "bytea"),
}


def conv(col: str, value, flavour: str = "sqlite", strip: bool = False):
    return column_converter(COLS[col], flavour, NulCounter(strip))(value)


MS = 1736266020123  # 2025-01-07T16:07:00.123Z


AT = datetime(2025, 1, 7, 16, 7, 0, 123000)


@pytest.mark.parametrize("value", [MS, float(MS), "2025-01-07T16:07:00.123+00:00", "2025-01-07T16:07:00.123Z",
                                   "2025-01-07T17:07:00.123+01:00", "2025-01-07 16:07:00.123",
                                   "2025-01-07T16:07:00.123"])
def test_datetime_storage_forms_all_become_the_same_utc_instant(value):
    assert conv("ts3", value) == AT


def test_datetime_current_timestamp_text_has_second_precision():
    assert conv("ts3", "2025-01-07 16:07:00") == datetime(2025, 1, 7, 16, 7)


def test_datetime_rfc2822_text_is_read_as_prisma_reads_it():
    assert conv("ts3", "Tue, 07 Jan 2025 16:07:00 +0000") == datetime(2025, 1, 7, 16, 7)


def test_datetime_timestamptz_is_aware_utc_and_date_is_the_utc_day():
    assert conv("tstz", MS) == AT.replace(tzinfo=timezone.utc)
    assert conv("date", MS) == date(2025, 1, 7)
    assert conv("date", "2025-01-07T23:30:00-02:00") == date(2025, 1, 8)


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01", "", b"\x00", 10**20])
def test_datetime_rejects_what_is_not_a_date(value):
    with pytest.raises(Bad, match="a DateTime"):
        conv("ts3", value)


def test_timestamp_rounding_matches_postgresql(pg_url):
    rng = random.Random(7)
    values = [datetime(rng.randint(1950, 2060), 1, 1, 0, 0, 0, 0) + (datetime(2000, 1, 1) - datetime(1999, 12, 31))
              * rng.random() * 365 for _ in range(200)]
    values += [datetime(1999, 12, 31, 23, 59, 59, 999500), datetime(1985, 5, 5, 5, 5, 5, 500),
               datetime(2031, 1, 1, 0, 0, 0, 1500), datetime(1975, 1, 1, 0, 0, 0, 2500)]
    with psycopg.connect(pg_url) as conn:
        for p in (0, 1, 3):
            got = conn.execute(f"SELECT x::timestamp({p}) FROM unnest(%s::timestamp[]) x", (values,)).fetchall()
            assert [round_timestamp(v, p) for v in values] == [g[0] for g in got]


def test_boolean_accepts_numbers_and_words():
    assert [conv("bool", v) for v in (0, 1, 2, 0.0, "true", "False", "t", "0", True)] == \
        [False, True, True, False, True, False, True, False, True]
    with pytest.raises(Bad, match="Boolean"):
        conv("bool", "yes")


def test_decimal_real_becomes_exact_decimal_without_float_noise():
    assert conv("decimal", 0.1) == Decimal("0.1")
    assert str(conv("decimal", 1234.5678)) == "1234.5678"
    assert conv("decimal", 12) == Decimal(12)  # an integral Decimal that NUMERIC affinity stored as INTEGER
    assert conv("decimal", "3.14159265358979323846") == Decimal("3.14159265358979323846")


def test_decimal_rounds_to_the_scale_and_refuses_overflow():
    assert conv("numeric52", 1.005) == Decimal("1.01")  # half away from zero, as PostgreSQL
    assert conv("decimal", 1e-40) == Decimal("0E-30")
    with pytest.raises(Bad, match="numeric"):
        conv("numeric52", 1000)
    with pytest.raises(Bad, match="numeric"):
        conv("numeric52", float("inf"))
    with pytest.raises(Bad, match="decimal"):
        conv("decimal", "12,5")
    assert conv("numeric52", "NaN").is_nan()
    with pytest.raises(Bad, match="decimal"):
        conv("decimal", "sNaN")


def test_decimal_takes_every_digit_its_precision_allows():
    # numeric(65,30) holds 35 integer digits; more than 28 significant digits once failed the range check,
    # which rounded to the decimal module's default 28-digit precision.
    assert conv("decimal", 10**35 - 1) == Decimal(10**35 - 1)
    assert conv("decimal", "-" + "9" * 35 + "." + "9" * 30) == Decimal("-" + "9" * 35 + "." + "9" * 30)
    with pytest.raises(Bad, match="numeric"):
        conv("decimal", 10**35)


@pytest.mark.parametrize("col, value", [("int4", 2**31), ("int4", -2**31 - 1), ("int2", 40000), ("int8", 2**63)])
def test_integer_out_of_range_is_refused(col, value):
    with pytest.raises(Bad, match="range"):
        conv(col, value)


def test_integer_accepts_bigint_text_and_integral_reals():
    assert conv("int8", "4611686018427387904") == 4611686018427387904
    assert conv("int4", 3.0) == 3
    for bad in (3.5, "12a", True, b"1"):
        with pytest.raises(Bad, match="integer"):
            conv("int4", bad)


def test_float4_is_rounded_to_what_postgresql_stores():
    assert conv("float4", 0.1) == 0.10000000149011612
    assert conv("float8", 7) == 7.0


def test_enum_label_must_be_in_the_enum():
    assert conv("enum", "DONE") == "DONE"
    with pytest.raises(Bad, match="one of the enum labels DONE, IN_PROGRESS, TODO"):
        conv("enum", "done")


def test_text_length_uuid_and_char_padding():
    assert conv("char4", "ab") == "ab  "
    assert conv("uuid", "0b9a7a60-4b1c-4a5e-9a55-8f2d0b1c9e11") == "0b9a7a60-4b1c-4a5e-9a55-8f2d0b1c9e11"
    for written in ("0B9A7A60-4B1C-4A5E-9A55-8F2D0B1C9E11", "{0b9a7a60-4b1c-4a5e-9a55-8f2d0b1c9e11}",
                    "0b9a7a604b1c4a5e9a558f2d0b1c9e11"):  # as PostgreSQL prints what it stores
        assert conv("uuid", written) == "0b9a7a60-4b1c-4a5e-9a55-8f2d0b1c9e11"
    with pytest.raises(Bad, match="at most 3"):
        conv("varchar3", "abcd")
    with pytest.raises(Bad, match="UUID"):
        conv("uuid", "not-a-uuid")


def test_nul_bytes_are_an_error_by_default_and_counted_when_stripped():
    with pytest.raises(Bad, match="NUL"):
        conv("text", "a\x00b")
    nul = NulCounter(strip=True)
    c = column_converter(COLS["text"], "sqlite", nul)
    assert c("a\x00b\x00") == "ab"
    assert nul.count == 2
    assert NUL_HINT.startswith("text without NUL")


def test_json_text_passes_through_and_scalars_stored_as_numbers_become_json_again():
    doc = '{"b": [1, 2.50, "x"], "a": null}'
    assert conv("jsonb", doc) == doc
    assert conv("jsonb", 42) == "42"
    assert conv("jsonb", 3.5) == "3.5"
    assert conv("jsonb", "null") == "null"  # Prisma.JsonNull stays JSON null ...
    assert conv("jsonb", None) is None       # ... and SQL NULL (Prisma.DbNull) stays NULL


@pytest.mark.parametrize("text", ["{'a': 1}", "[1, 2", "NaN", "[Infinity]", '"\\ud800"', ""])
def test_json_that_postgresql_would_refuse_is_refused(text):
    with pytest.raises(Bad, match="JSON"):
        conv("jsonb", text)


def test_json_numbers_beyond_a_double_are_accepted_like_postgresql_does():
    assert conv("jsonb", "[1e400, 123456789012345678901234567890]") == "[1e400, 123456789012345678901234567890]"


def test_jsonb_escaped_nul_is_refused_or_stripped():
    with pytest.raises(Bad, match="NUL"):
        conv("jsonb", '{"a": "x\\u0000y"}')
    assert conv("jsonb", '{"a": "x\\u0000y"}', strip=True) == '{"a": "xy"}'
    assert conv("json", '{"a": "x\\u0000y"}') == '{"a": "x\\u0000y"}'  # json (not jsonb) can hold it
    assert conv("jsonb", '{"a": "x\\\\u0000y"}') == '{"a": "x\\\\u0000y"}'  # an escaped backslash, no NUL


def test_json_export_values_are_serialised_and_null_differs_from_absent():
    assert conv("jsonb", {"k": [1, 2]}, "json") == '{"k": [1, 2]}'
    assert conv("jsonb", None, "json") == "null"
    assert conv("jsonb", MISSING, "json") is None
    assert conv("jsonb", "x", "json") == '"x"'
    assert conv("text", MISSING, "json") is None
    assert conv("text", None, "json") is None


def test_json_export_forms_of_decimal_bytes_bigint_and_dates():
    assert conv("decimal", "1234.5", "json") == Decimal("1234.5")
    assert conv("bytea", "iVBORw0=", "json") == b"\x89PNG\r"
    assert conv("int8", "-4611686018427387904", "json") == -4611686018427387904
    assert conv("ts3", "2025-01-07T16:07:00.123Z", "json") == AT
    assert conv("bool", False, "json") is False
    with pytest.raises(Bad, match="base64"):
        conv("bytea", "not base64!", "json")
    with pytest.raises(Bad, match="surrogates"):
        conv("text", "a\ud800", "json")


def test_bytes_pass_through():
    assert conv("bytea", b"\x00\xff") == b"\x00\xff"
