"""The compiled row digests (migrate/_rowdigest.c) equal the pure-Python ones value for value, and its jsonb text
equals PostgreSQL's wherever it does not leave a document to Python."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
import tracemalloc

import orjson
import psycopg
import pytest

from migrate import sample
from migrate.canonical import jsonb_text
from migrate.rows import US_BEFORE_PG_EPOCH
from migrate.sourcehash import C, c_specs, raw_row_text_function, table_digest
from migrate.source import open_source
from migrate.verify import sum_row_hashes

from .conftest import require_compiled
from .test_canonical import JSONB_DOCS, NOT_JSON, NOT_JSONB, _generated_documents, _postgres_jsonb_texts
from .test_sourcehash import STORED, column, table_of

# Values beyond STORED that take the compiled loop's own branches: integers past 64 bits, epoch ms whose
# microseconds overflow, NaN, NUL and \u under --strip-nul, Json numbers stored as REAL, REAL decimals with
# more decimals than the scale or an exponent, the most negative 64-bit integer.
EXTRA = [
    (column("i8", "int", "int8"), [2**70, -2**63, -2**63 + 1, 10**18, -1]),
    (column("flag", "bool", "bool"), [2**70]),
    (column("at", "timestamp", "timestamp", precision=3), [2**62, -2**62, 2**53, 9223372036854775]),
    (column("tz", "timestamptz", "timestamptz"), [2**62]),
    (column("f8", "float", "float8"), [float("-inf"), 5e-324, -1.5]),
    (column("title", "text", "text"), ["a\x00b", "\x00", "x" * 5000, "\ud800"]),
    (column("doc", "jsonb", "jsonb"),
     [0.1, -0.0, 1e-05, 1e16, 1e300, float("inf"), float("nan"), 2**70, '{"k":"a\\u0000b"}', '"x\x00"',
      '{"b":1,"a":2,"b":3}', "[" * 300 + "]" * 300, '"\\ud800"', "\ud800"]),
    (column("raw", "json", "json"), ["1\x00", '["\\u0000"]', 1.5]),
    (column("cents", "numeric", "numeric", precision=10, scale=2), [1.5, 1.25, 1.125, 0.0, -0.0, 1e20, 123.0]),
    (column("money", "numeric", "numeric"), [1e-07, 0.1, float("inf"), float("nan"), 1e22]),
]


@pytest.fixture(scope="module")
def rd():
    return require_compiled()


def outcome(fn, rows):
    try:
        return fn(rows) % 2**64
    except Exception as exc:  # noqa: BLE001 - only whether both raise is compared (table_digest names it)
        return f"raised {type(exc).__name__}"


def assert_compiled_equals_python(rd, table, rows, strip_nul=False):
    row_text = raw_row_text_function(table, "sqlite", strip_nul)
    specs = c_specs(table, "sqlite", strip_nul)
    for row in rows:
        python = outcome(lambda r: sum_row_hashes(row_text, r), [row])
        compiled = outcome(lambda r: rd.sum_rows(r, specs, US_BEFORE_PG_EPOCH), [row])
        # A value that Python's fast path cannot take may fail differently in each (struct.error against the
        # converter's error): table_digest then names it with the converter either way.
        assert compiled == python or (python.startswith("raised") and compiled.startswith("raised")), row


def test_the_built_in_codes_are_the_c_module_s(rd):
    names = [n for n in vars(C) if n.isupper()]
    assert {n: getattr(rd, n) for n in names} == {n: getattr(C, n) for n in names}


@pytest.mark.parametrize("strip_nul", [False, True], ids=["keep_nul", "strip_nul"])
@pytest.mark.parametrize("not_null", [False, True], ids=["nullable", "not_null"])
@pytest.mark.parametrize("col, values", STORED + EXTRA, ids=[f"{c.name}{i}" for i, (c, _) in enumerate(STORED + EXTRA)])
def test_each_stored_value_gives_the_python_digest(rd, col, values, not_null, strip_nul):
    col = dataclasses.replace(col, not_null=not_null)
    assert_compiled_equals_python(rd, table_of([col]), [(v,) for v in [*values, None]], strip_nul)


def test_rows_of_every_kind_give_the_python_digest(rd):
    cols = [dataclasses.replace(c, not_null=i % 2 == 0) for i, (c, _) in enumerate(STORED)]
    rows = [tuple(values[(i + k) % len(values)] for k, (_, values) in enumerate(STORED)) for i in range(40)]
    table = table_of(cols)
    assert_compiled_equals_python(rd, table, rows)
    specs = c_specs(table, "sqlite")
    good = [r for r in rows if isinstance(outcome(lambda x: rd.sum_rows(x, specs, US_BEFORE_PG_EPOCH), [r]), int)]
    assert len(good) > 5  # whole rows really were hashed, not only refused
    assert rd.sum_rows(good, specs, US_BEFORE_PG_EPOCH) == sum_row_hashes(raw_row_text_function(table, "sqlite"), good) % 2**64


def test_a_row_of_the_wrong_width_is_refused(rd):
    specs = c_specs(table_of([column("i", "int", "int4"), column("t", "text", "text")]), "sqlite")
    for row in [(1,), (1, "a", 2), "ab", None]:
        with pytest.raises((ValueError, TypeError)):
            rd.sum_rows([row], specs, US_BEFORE_PG_EPOCH)
    assert rd.sum_rows([[1, "a"]], specs, US_BEFORE_PG_EPOCH) == rd.sum_rows([(1, "a")], specs, US_BEFORE_PG_EPOCH)


def test_a_spec_that_gives_a_value_to_the_wrong_built_in_is_an_error(rd):
    slow = str
    for code, value in [(C.FLOAT8, 1), (C.NUMERIC_FLOAT, "1.5"), (C.JSONB_FLOAT, b"x"), (C.HEX, "ab")]:
        spec = ((0, 0, code, code, code, code, slow),)
        with pytest.raises(TypeError, match=f"action {code} does not take"):
            rd.sum_rows([(value,)], spec, US_BEFORE_PG_EPOCH)


def test_hashing_leaks_no_memory(rd):
    cols = [c for c, _ in STORED]
    rows = [tuple(values[(i + k) % len(values)] for k, (_, values) in enumerate(STORED)) for i in range(200)] * 20
    specs = c_specs(table_of(cols), "sqlite")

    def run():
        for start in range(0, len(rows), 100):
            try:
                rd.sum_rows(rows[start:start + 100], specs, US_BEFORE_PG_EPOCH)
            except Exception:  # noqa: BLE001 - refused rows (and their errors) must not leak either
                pass
    run()
    tracemalloc.start()
    try:
        run()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            run()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024  # one object kept per row would be 4,000 x 5 objects


# -- jsonb text -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg(pg_cluster):
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        yield conn


def test_jsonb_text_is_postgres_s_or_left_to_python(rd, pg):
    # (plus wide objects, sorted another way than small ones, with duplicate keys: the last one wins)
    wide = ["{" + ",".join(f'"k{i % 25}":{i}' for i in range(60)) + "}",
            "[" + ",".join("{" + ",".join(f'"{k}":[{i}]' for k in ("zz", "a", "é", "b", "aa") * 5) + "}"
                           for i in range(3)) + "]"]
    docs = JSONB_DOCS + _generated_documents(seed=20251127) + wide
    expected = _postgres_jsonb_texts(pg, docs)
    compiled = [rd.jsonb_text(doc) for doc in docs]
    assert [(d, c, e) for d, c, e in zip(docs, compiled, expected) if c is not None and c != e] == []
    # It leaves to Python only what it must: documents with an exponent (numeric writes them out), nested
    # deeper than 256, or that jsonb refuses (Python names the problem).
    assert [d for d, c in zip(docs, compiled) if c is None and not (
        re.search(r"\d[eE]", d) or d.count("{") + d.count("[") > 256 or _python_refuses(d))] == []
    assert sum(c is not None for c in compiled) > 0.7 * len(docs)


def _python_refuses(doc: str) -> bool:
    try:
        jsonb_text(doc)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("doc", NOT_JSON + NOT_JSONB + ["[1,]", '{"a" 1}', "tru", "true1", "1.", "-", "01", '"\\x"',
                                                         '"\\u12"', '{"a":1,}', "[1] [2]", "1e5", "\ud800", "\"\\\x00\""])
def test_jsonb_text_leaves_what_it_does_not_take_to_python(rd, doc):
    assert rd.jsonb_text(doc) is None


def test_jsonb_text_takes_only_str(rd):
    with pytest.raises(TypeError, match="expected str"):
        rd.jsonb_text(b"{}")


# -- whole tables ------------------------------------------------------------------------------------

def test_table_digests_equal_python_s_on_a_generated_dataset(rd, tmp_path, target_url, monkeypatch):
    from .conftest import plan_for
    sample.make_dataset(tmp_path / "s.db", 300, mixed_dates=True)
    source, plan = plan_for(tmp_path / "s.db", target_url)
    with source:
        compiled = {tp.target: table_digest(source, tp) for tp in plan.tables}
        monkeypatch.setenv("MIGRATE_PURE_PYTHON", "1")
        python = {tp.target: table_digest(source, tp) for tp in plan.tables}
    assert compiled == python
    assert sum(rows for rows, _ in compiled.values()) > 900


def test_strip_nul_digests_equal_python_s(rd, tmp_path, monkeypatch):
    path = tmp_path / "n.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, title TEXT, doc TEXT, raw TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                         [(1, "a\x00b", '{"k":"a\\u0000b"}', '["\\u0000"]'), (2, "\x00", '"x\x00"', "1\x00"),
                          (3, "plain", '{"b":1,"a":[1,2]}', '{"b":1}')])
    conn.close()
    table = table_of([column("id", "int", "int4"), column("title", "text", "text"), column("doc", "jsonb", "jsonb"),
                      column("raw", "json", "json")])
    with open_source(path) as source:
        compiled = table_digest(source, table, strip_nul=True)
        monkeypatch.setenv("MIGRATE_PURE_PYTHON", "1")
        assert compiled == table_digest(source, table, strip_nul=True)
    assert compiled[0] == 3


def test_json_documents_are_hashed_by_c_without_python_s_jsonb_text(rd, tmp_path, monkeypatch):
    """The compiled loop really takes the documents itself: with canonical.jsonb_text broken, a table of
    documents it handles still gets the right digest."""
    path = tmp_path / "j.db"
    docs = [orjson.dumps({"source": "import", "ref": i, "labels": ["a", f"x{i}"], "nested": {"ok": i % 2 == 0}}).decode()
            for i in range(50)]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, doc TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(docs)))
    conn.close()
    table = table_of([column("id", "int", "int4"), column("doc", "jsonb", "jsonb")])
    with open_source(path) as source:
        expected = table_digest(source, table)

        def broken(text):
            raise AssertionError("the compiled loop called Python's jsonb_text")
        monkeypatch.setattr("migrate.sourcehash.jsonb_text", broken)
        monkeypatch.setattr("migrate.canonical.jsonb_text", broken)
        assert table_digest(source, table) == expected
