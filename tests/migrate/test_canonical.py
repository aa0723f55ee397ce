"""Canonical texts: Python and PostgreSQL agree for every kind, and the row text is unambiguous."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import struct
from decimal import Decimal

import orjson
import psycopg
import pytest
from psycopg import sql

from migrate import canonical
from migrate.canonical import KINDS, jsonb_text, row_text_function, sql_row_text, sql_value_text, value_text

UTC = dt.timezone.utc

# Documents whose jsonb::text differs from their input in every way jsonb normalises.
JSONB_DOCS = [
    '{"b":1,"a":2,"aa":3,"c":4}',                              # keys by length, then bytes
    '{"é":1,"ab":2,"z":3,"日":4,"😀":5,"Z":6}',                 # non-ASCII keys sort by UTF-8 length
    '{"a":1,"a":2}',                                           # duplicate keys: the last wins
    '{"a":{"d":[{"bb":1,"b":{"y":null,"x":true}}],"c":false}}',  # nested
    '{}', '[]', '{"a":{},"b":[]}', '[[], {}, [{}]]',
    'null', 'true', 'false', '42', '-7', '"text"', ' \n 42 \t',  # scalars and whitespace
    '[1.0, 0.1, 0.25, 100.0, 0.30000000000000004]',            # floats whose repr is their text
    '[3.50, 1e2, 1E+2, 1.5e-7, 1.50E+1, 0e5, 1e16, 1.5e300]',   # ...and numbers whose repr is not
    '[-0, -0.0, -0.000, 0.0, -1.5, -1e-3]',                   # negative zero, negative numbers
    '[12345678901234567890123456789, -98765432109876543210.123456789]',
    '"\\u00e9\\u65e5\\ud83d\\ude00"', '"\\n\\t\\r\\b\\f\\u001f\\u0001\\u007f\\/\\"\\\\"',
    '"raw é 日本 😀 \u007f \u0080"',
    '{"metadata": {"labels": ["ui", "bug"], "points": 3, "ratio": 0.25, "ok": true}}',
    # scalars that jsonb prints back unchanged (the fast exit), and their near misses that it does not
    '0', '-0', '-7', '12345678901234567890123456789012345678901234567890', '"plain é 😀 \u007f"', '""',
    '"a\\tb"', '"\\u0041"', ' null', 'true ', '1.0', '-0.0', '0.00001', '1E400',
]


@pytest.fixture(scope="module")
def pg(pg_cluster):
    """A connection for SELECTs that only evaluate expressions (no tables, nothing written)."""
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("doc", JSONB_DOCS)
def test_jsonb_text_matches_postgres(pg, doc):
    assert jsonb_text(doc) == pg.execute("SELECT %s::jsonb::text", (doc,)).fetchone()[0]


NOT_JSON = ["NaN", "[Infinity]", "{", '{"a": 1} x', "", "007", "-", '"raw\ttab"', '"open']
# What jsonb refuses although it is JSON: \u0000 and unpaired surrogates (a DataError, not a syntax error).
NOT_JSONB = ['"\\u0000"', '["a\\u0000b"]', '{"\\u0000":1}', '"\\\\\\u0000"', '"\\ud800"', '"\\udc00"',
             '["\\ud83d x"]', '{"\\ude00":1}', '"\\ud83d\\ud83d"']


@pytest.mark.parametrize("doc, refusal", [(d, psycopg.errors.InvalidTextRepresentation) for d in NOT_JSON]
                         + [(d, psycopg.errors.DataError) for d in NOT_JSONB])
def test_jsonb_text_rejects_what_jsonb_rejects(pg, doc, refusal):
    with pytest.raises(ValueError):
        jsonb_text(doc)
    with pytest.raises(refusal):
        with pg.transaction():
            pg.execute("SELECT %s::jsonb", (doc,))


# (kind, PostgreSQL type, values); None is added to each.
VALUE_CASES = [
    ("int", "integer", [0, -1, 2**31 - 1, -2**31]),
    ("int", "bigint", [2**63 - 1, -2**63, 9876543210]),
    ("int", "smallint", [-32768, 7]),
    ("float", "double precision", [0.0, -0.0, 0.1, 1 / 3, 1e16, 1e300, -1.5e-300, 5e-324,
                                   float("inf"), float("-inf"), float("nan"), -float("nan"), 123456789.125]),
    ("numeric", "numeric(65,30)", [Decimal("1.50"), Decimal("0"), Decimal("-0.00"), Decimal("-1.5"),
                                   Decimal("1E+5"), Decimal("0.000000000000000000000000000001"),
                                   Decimal("12345678901234567890123456789012345.123456789012345678901234567891")]),
    ("numeric", "numeric", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("1e-40"),
                            Decimal("100"), Decimal("3.1400")]),
    ("bool", "boolean", [True, False]),
    ("timestamp", "timestamp(3)", [dt.datetime(2025, 1, 7, 16, 7, 0, 123000), dt.datetime(1969, 12, 31, 23, 59, 59, 999000),
                                   dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999000)]),
    ("timestamp", "timestamp", [dt.datetime(2000, 2, 29, 12, 0, 0, 1), dt.datetime(1900, 1, 1, 0, 0, 0, 999999),
                                dt.datetime(2000, 1, 1), dt.datetime(1999, 12, 31, 23, 59, 59, 999999)]),
    ("timestamptz", "timestamptz", [dt.datetime(2025, 1, 7, 16, 7, 0, 123456, tzinfo=UTC),
                                    dt.datetime(2025, 1, 7, 21, 37, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
                                    dt.datetime(1950, 6, 1, tzinfo=dt.timezone(dt.timedelta(hours=-8)))]),
    ("date", "date", [dt.date(1970, 1, 1), dt.date(1969, 12, 31), dt.date(1, 1, 1), dt.date(9999, 12, 31),
                      dt.date(2000, 1, 1), dt.date(1999, 12, 31)]),
    ("text", "text", ["", "a\x1fb", "\x1e", "日本語 😀", "tab\tnew\nline\\ \"q\" 'q'", " trailing "]),
    ("text", "varchar(20)", ["", "abc  "]),
    ("json", "json", ['{"b" : 1, "a":2}', "[1,  2]", "null", '"\\u00e9"']),
    ("jsonb", "jsonb", ['{"b" : 1, "a":2}', "[1.50,  2]", "null", '"\\u00e9"']),
    ("bytea", "bytea", [b"", b"\x00", bytes(range(256)), b"\x1e\x1f"]),
]


# Both SQL forms, in the session's UTF8 database: the general one and the cheaper one for UTF8 databases only
# (tests/migrate/test_verify.py shows the general one, and the need for it, in a LATIN1 database).
FORMS = pytest.mark.parametrize("utf8", [False, True], ids=["general", "utf8"])


@FORMS
@pytest.mark.parametrize("kind, pgtype, values", VALUE_CASES, ids=[f"{k}-{t}" for k, t, _ in VALUE_CASES])
def test_value_text_matches_postgres_for_every_kind(pg, kind, pgtype, values, utf8):
    expression = sql.SQL("SELECT {} FROM (VALUES ({}::{})) AS t(c)").format(
        sql_value_text(kind, sql.Identifier("c"), utf8=utf8), sql.Placeholder(), sql.SQL(pgtype))
    for value in [*values, None]:
        assert value_text(kind)(value) == pg.execute(expression, (value,)).fetchone()[0], (kind, value)


def test_every_kind_is_covered_by_the_value_cases():
    assert {kind for kind, _, _ in VALUE_CASES} == set(KINDS)


@FORMS
def test_row_text_matches_sql_row_text(pg, utf8):
    kinds = ["int", "text", "bool", "timestamp", "numeric", "jsonb", "bytea", "float", "date", "timestamptz", "json"]
    types = ["int", "text", "bool", "timestamp(3)", "numeric(65,30)", "jsonb", "bytea", "float8", "date",
             "timestamptz", "json"]
    row = (5, "a\x1fb", True, dt.datetime(1960, 1, 1, 0, 0, 0, 123000), Decimal("-1.500"), '{"b":1,"a":2}',
           b"\x00\xff", -0.0, dt.date(1969, 12, 31), dt.datetime(2020, 1, 1, tzinfo=UTC), '{"b" : 1}')
    columns = [(f"c{i}", kind) for i, kind in enumerate(kinds)]
    query = sql.SQL("SELECT {} FROM (VALUES ({})) AS t({})").format(
        sql_row_text(columns, utf8=utf8), sql.SQL(", ").join(sql.SQL("%s::" + t) for t in types),
        sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns))
    row_text = row_text_function(kinds)
    for values in (row, (None,) * len(row)):
        assert row_text(values) == pg.execute(query, values).fetchone()[0]


@FORMS
def test_row_text_matches_sql_row_text_for_more_columns_than_a_function_takes(pg, utf8):
    # PostgreSQL passes at most 100 arguments to a function such as concat_ws; a table may have 1600 columns.
    kinds = ["text", "int", "text"] * 84
    row = tuple(f"é{i}\x1f" if kind == "text" else i for i, kind in enumerate(kinds))
    columns = [(f"c{i}", kind) for i, kind in enumerate(kinds)]
    query = sql.SQL("SELECT {} FROM (VALUES ({})) AS t({})").format(
        sql_row_text(columns, utf8=utf8), sql.SQL(", ").join(sql.SQL(f"%s::{kind}") for kind in kinds),
        sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns))
    row_text = row_text_function(kinds)
    for values in (row, row[:-1] + (None,), (None,) * len(row)):
        assert row_text(values) == pg.execute(query, values).fetchone()[0]


def test_row_text_tells_null_from_empty_text_and_empty_bytes():
    assert row_text_function(["text"])((None,)) != row_text_function(["text"])(("",))
    assert row_text_function(["bytea"])((None,)) != row_text_function(["bytea"])((b"",))
    assert row_text_function(["text"])((None,)) != row_text_function(["text"])(("\x1e",))


def test_row_text_does_not_let_separators_in_text_shift_fields():
    row_text = row_text_function(["text", "text"])
    assert row_text(("a\x1fb", "c")) != row_text(("a", "b\x1fc"))
    assert row_text(("a\x1f\x1e", "")) != row_text(("a", "\x1e\x1f"))
    assert row_text(("1:a", "b")) != row_text(("1", "a:b"))


def test_row_text_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError):
        row_text_function(["int", "int"])((1, 2, 3))
    with pytest.raises(ValueError):
        row_text_function(["int", "int"])((1,))


def test_unknown_kind_is_refused_with_the_known_ones_listed():
    with pytest.raises(ValueError, match=r"unknown column kind\(s\) 'uuid'.*jsonb"):
        row_text_function(["int", "uuid"])


def test_numeric_text_ignores_scale_but_not_value():
    numeric = value_text("numeric")
    assert numeric(Decimal("1.50")) == numeric(Decimal("1.5")) == numeric(Decimal("1.500000"))
    assert numeric(Decimal("-0.0")) == numeric(Decimal("0"))
    assert numeric(Decimal("1.5")) != numeric(Decimal("1.05"))
    assert numeric(Decimal("1E+2")) == "100"


def test_jsonb_text_reuses_key_orders_and_stays_right_past_its_cache(pg, monkeypatch):
    monkeypatch.setattr(canonical, "_KEY_ORDERS", {})
    monkeypatch.setattr(canonical, "_MAX_KEY_ORDERS", 2)
    docs = ['{"bb":1,"a":2}', '{"bb":3,"a":4}', '{"a":5,"bb":6}', '{"ccc":1,"a":{"zz":1,"y":2}}', '{"x":1,"yy":2}',
            '{"ccc":2,"a":{"zz":3,"y":4}}']
    for doc in docs:
        assert jsonb_text(doc) == pg.execute("SELECT %s::jsonb::text", (doc,)).fetchone()[0]
    assert len(canonical._KEY_ORDERS) == 2


def test_a_one_millisecond_change_changes_a_timestamps_text():
    text = value_text("timestamp")
    at = dt.datetime(2025, 1, 7, 16, 7, 0, 123000)
    assert text(at) != text(at + dt.timedelta(milliseconds=1))
    assert text(dt.datetime(2000, 1, 1)) != text(dt.datetime(1999, 12, 31, 23, 59, 59, 999999))


# -- jsonb_text against PostgreSQL on generated documents -------------------------------------------
# Keys of equal UTF-8 length in different scripts ("abc", "éa", "日"; "abcd", "éé", "😀", "日a"), empty
# keys, and keys and strings holding what the fast path must notice: separators, brackets, quotes, signs.
GEN_KEYS = ["", "a", "b", "Z", "aa", "ab", "ba", "abc", "éa", "日", "abcd", "éé", "日a", "a日", "😀", "😀a", "ü",
            "ref", "labels", "nested", "source", "x y", "a,b", "k:v", "{[", 'q"', "back\\slash", "tab\t", "\x7f"]
GEN_STRINGS = ["", "plain", "  padded  ", "comma, semi; pipe |", "C:\\temp\\", "line\nbreak", "crlf\r\n", "tab\t",
               'quote " and \\', "{[brackets]}", "e-5 e+5 -0.0 1e2", "\\u0000 as text", "\x01\x08\x0b\x0c\x1f\x7f",
               "naïve café", "日本語", "emoji 👩\u200d💻🎉", "\u2028\u2029", "\ufeff", "/slash/", "\\"]
GEN_NUMBERS = ["0", "-0", "7", "-7", "0.0", "-0.0", "-0.000", "1.50", "100.0", "1e2", "1E-7", "1.5e+300", "2.5E-7",
               "0.00001", "0.0001", "1e16", "12345678901234567.0", str(2**63 - 1), str(-2**63), str(2**64 - 1),
               str(2**64), str(-2**63 - 1), "123456789012345678901234567890", "123456789012345678901234567890.5",
               "0.1", "0.30000000000000004", "0.10000000000000001", "1.7976931348623157e308", "5e-324", "-1.5"]


def _random_float(rng: random.Random) -> float:
    while True:  # any finite double (every exponent), or one of a common size
        value = struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
        if math.isfinite(value):
            return value if rng.random() < 0.5 else round(value % 1000, rng.randint(0, 4)) * rng.choice([1, -1])


def _random_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth < 4 and roll < 0.25:
        return {rng.choice(GEN_KEYS): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    if depth < 4 and roll < 0.4:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice([None, True, False, rng.choice(GEN_STRINGS), rng.randint(-2**63, 2**64 - 1),
                       rng.randint(-1000, 1000), _random_float(rng)])


def _reshaped(rng: random.Random, template: object) -> object:
    """A value of ``template``'s shape with other scalars; now and then a part of another shape."""
    if rng.random() < 0.03:
        return _random_value(rng, 2)
    if isinstance(template, dict):
        return {key: _reshaped(rng, item) for key, item in template.items()}
    if isinstance(template, list):
        return [_reshaped(rng, item) for item in template] + [_random_value(rng, 3)] * (rng.random() < 0.1)
    return _random_value(rng, 4)


def _string_token(rng: random.Random, text: str) -> str:
    """``text`` as a JSON string, each character escaped or not in any way JSON allows."""
    out = []
    for ch in text:
        code, roll = ord(ch), rng.random()
        if ch in '"\\' and roll < 0.5:
            out.append("\\" + ch)
        elif ch in '"\\' or code < 0x20 or roll < 0.1:
            units = [code] if code < 0x10000 else [0xD800 + (code - 0x10000 >> 10), 0xDC00 + (code & 0x3FF)]
            out.append("".join(rng.choice(["\\u%04x", "\\u%04X"]) % unit for unit in units))
        else:
            out.append("\\/" if ch == "/" and roll < 0.5 else ch)
    return '"' + "".join(out) + '"'


def _random_text(rng: random.Random, depth: int = 0) -> str:
    """Free-form JSON: whitespace everywhere, duplicate keys, numbers in every form, escapes."""
    def ws() -> str:
        return rng.choice(["", "", " ", "\n", "\t ", "\r\n  "])
    roll = rng.random()
    if depth < 4 and roll < 0.3:
        members = [f"{ws()}{_string_token(rng, rng.choice(GEN_KEYS[:8]))}{ws()}:{ws()}{_random_text(rng, depth + 1)}"
                   for _ in range(rng.randint(0, 5))]
        return "{" + ",".join(members) + ws() + "}"
    if depth < 4 and roll < 0.45:
        return "[" + ",".join(ws() + _random_text(rng, depth + 1) + ws() for _ in range(rng.randint(0, 4))) + "]"
    token = rng.choice([rng.choice(GEN_NUMBERS), _string_token(rng, rng.choice(GEN_STRINGS + GEN_KEYS)),
                        "true", "false", "null", orjson.dumps(_random_float(rng)).decode(), repr(_random_float(rng))])
    return ws() + token + ws()


def _generated_documents(seed: int) -> list[str]:
    rng = random.Random(seed)
    templates = [_random_value(rng, 1) for _ in range(40)]
    templates = [t for t in templates if isinstance(t, (dict, list))][:12]
    docs = [orjson.dumps(_reshaped(rng, rng.choice(templates))).decode() for _ in range(1500)]  # as Prisma writes
    for _ in range(700):
        value = _random_value(rng)
        docs.append(rng.choice([orjson.dumps(value).decode(), json.dumps(value),
                                json.dumps(value, ensure_ascii=False, indent=rng.choice([None, 1]))]))
    docs += [_random_text(rng) for _ in range(700)]
    wide = orjson.dumps({f"k{i}": [i, {"b": i, "a": str(i)}] for i in range(300)}).decode()  # too big to compile
    deep = '{"a":' * 300 + "[1.50]" + "}" * 300  # deeper than orjson writes
    return docs + [wide, wide, deep, deep]


def _postgres_jsonb_texts(pg, docs: list[str]) -> list[str]:
    rows = pg.execute("SELECT d::jsonb::text FROM unnest(%s::text[]) WITH ORDINALITY AS t(d, i) ORDER BY i",
                      (docs,)).fetchall()
    return [row[0] for row in rows]


def _mismatches(docs: list[str], expected: list[str]) -> list[tuple[str, str, str]]:
    return [(doc, jsonb_text(doc), want) for doc, want in zip(docs, expected) if jsonb_text(doc) != want]


def test_jsonb_text_matches_postgres_on_thousands_of_generated_documents(pg, monkeypatch):
    docs = _generated_documents(seed=20250107)
    expected = _postgres_jsonb_texts(pg, docs)
    monkeypatch.setattr(canonical, "_PLANS", {})
    monkeypatch.setattr(canonical, "_KEY_ORDERS", {})
    assert _mismatches(docs, expected)[:5] == []
    # again with caches that fill up at once: plans are dropped and recompiled, key orders no longer kept
    monkeypatch.setattr(canonical, "_PLANS", {})
    monkeypatch.setattr(canonical, "_MAX_PLANS", 3)
    monkeypatch.setattr(canonical, "_MAX_KEY_ORDERS", 0)
    assert _mismatches(docs, expected)[:5] == []


def test_jsonb_text_stays_right_when_a_compiled_shape_changes(pg, monkeypatch):
    monkeypatch.setattr(canonical, "_PLANS", {})
    shape = '{"b":%s,"aa":[1,2],"c":{"y":1,"x":2}}'
    docs = [shape % 1, shape % 2,  # the second compiles the shape
            shape % '{"z":1,"w":2}', shape % '[{"z":1,"w":2}]', shape % '"{[:,"', shape % '"x, y: z"',
            '{"b":1,"aa":[{"z":1,"w":2}],"c":{"y":1,"x":2}}', '{"b":1,"aa":{"z":1},"c":{"y":1,"x":2}}',
            '{"b":1,"aa":[1],"c":{"x":1,"y":2}}', '{"b":1,"aa":[1],"c":[2]}', '{"b":1,"aa":[1],"c":{"y":1}}',
            '[1,{"b":2,"a":1}]', '[2,{"b":2,"a":1}]', '[3,{"b":[{"d":1,"c":2}],"a":1}]', '[4,{"a":1}]']
    assert _mismatches(docs, _postgres_jsonb_texts(pg, docs)) == []


def test_jsonb_text_compiles_a_repeated_shape_for_its_later_documents(monkeypatch):
    monkeypatch.setattr(canonical, "_PLANS", {})
    clean_text, uncompiled = canonical._clean_text, []
    # a document that finds no compiled plan (or whose plan proves wrong) is walked, then spaced by this
    monkeypatch.setattr(canonical, "_clean_text", lambda *args: uncompiled.append(args) or clean_text(*args))
    for i in range(4):
        jsonb_text('{"source":"import","ref":%d,"labels":["a","b"],"nested":{"ok":true,"ratio":0.5,"none":null}}' % i)
        jsonb_text('{"b":[{"d":%d,"c":2},[1,{"f":1,"e":2}]],"a":{"y":[],"x":"x, y: z"}}' % i)  # a list walked
        jsonb_text('[%d,"x",null,1.5,{"deep":[true],"b":{}}]' % i)
    assert len(uncompiled) == 3  # each shape's first document only: the second compiles it
