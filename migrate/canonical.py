"""Canonical row text for content hashes: each kind defined once in Python and once in PostgreSQL SQL."""

from __future__ import annotations

import datetime as _dt
import json
import re
import struct
from decimal import Decimal
from typing import Callable, Sequence

from psycopg import sql

# A row's text is its fields joined by SEP; a NULL field is NULL. No canonical form of a non-NULL value
# contains either character except text, which is length-prefixed, so the row text decodes uniquely:
# NULL differs from '' and separators inside text cannot shift field boundaries.
NULL = "\x1e"
SEP = "\x1f"
_SEP_ESCAPED = "\\x1f"  # SEP as written inside the generated f-string
_SQL_NULL = "E'\\x1e'"
_SQL_SEP = "E'\\x1f'"

# Per kind: a Python expression of the non-NULL value ``@``, and the SQL expression of column ``{c}``
# that yields the same text on PostgreSQL (13+ for trim_scale). Neither side depends on session
# settings (DateStyle, extra_float_digits, bytea_output, TimeZone).
# Date/time kinds are the hex of their binary wire form (timestamp_send: microseconds since 2000-01-01 as
# a signed 64-bit integer; date_send: days as 32 bits): exact, and on PostgreSQL 15 2.4x cheaper than
# numeric extract(epoch) arithmetic (85 vs 205 ms per million values, measured), which the verification
# pays on every row after the commit.
_PY_EXPR = {
    "int": "@",
    "float": "_pack_double(@).hex() if @ == @ else 'nan'",  # IEEE bits: exact; any NaN is one NaN
    "numeric": "_numeric_text(@)",                   # 1.50 == 1.5, as numeric compares
    "bool": "'1' if @ else '0'",
    "timestamp": "((@ - _PG_EPOCH) // _MICROSECOND).to_bytes(8, 'big', signed=True).hex()",
    "timestamptz": "((@ - _PG_EPOCH_UTC) // _MICROSECOND).to_bytes(8, 'big', signed=True).hex()",
    "date": "(@.toordinal() - _PG_EPOCH_ORDINAL).to_bytes(4, 'big', signed=True).hex()",
    "text": "f'{len(@)}:{@}'",                       # characters, as PostgreSQL's length() counts them
    "json": "@",                                     # json keeps its input text verbatim
    "jsonb": "jsonb_text(@)",
    "bytea": "@.hex()",
}
_SQL_EXPR = {
    "int": "{c}::text",
    "float": "CASE WHEN {c} = 'NaN' THEN 'nan' ELSE encode(float8send({c}::float8), 'hex') END",
    "numeric": "trim_scale({c})::text",
    "bool": "CASE {c} WHEN true THEN '1' WHEN false THEN '0' END",  # NULL stays NULL
    "timestamp": "encode(timestamp_send({c}), 'hex')",
    "timestamptz": "encode(timestamptz_send({c}), 'hex')",
    "date": "encode(date_send({c}), 'hex')",
    "text": "length({c}::text)::text || ':' || {c}::text",  # (char(n)::text drops trailing blanks)
    "json": "{c}::text",
    "jsonb": "{c}::text",
    "bytea": "encode({c}, 'hex')",
}
KINDS = tuple(_PY_EXPR)

_pack_double = struct.Struct(">d").pack
PG_EPOCH = _dt.datetime(2000, 1, 1)  # where PostgreSQL's date/time wire formats count from
_PG_EPOCH_UTC = PG_EPOCH.replace(tzinfo=_dt.timezone.utc)
_PG_EPOCH_ORDINAL = PG_EPOCH.toordinal()
_MICROSECOND = _dt.timedelta(microseconds=1)


def _numeric_text(value: Decimal) -> str:
    """``trim_scale(numeric)::text``: plain notation, no trailing fractional zeros, no negative zero."""
    if not value:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# -- jsonb::text ---------------------------------------------------------------------------------
# jsonb keeps the last of duplicate keys, orders keys by byte length and then bytewise, writes numbers
# as numeric_out does (3.50 stays 3.50, 1e2 becomes 100, -0 becomes 0) and strings with only ", \, and
# control characters escaped (lowercase \u00XX), exactly as json's encoder with ensure_ascii=False.

class _NotExact(Exception):
    """A JSON number whose float repr is not its jsonb text: the document takes the Decimal path."""


def _exact_float(text: str) -> float:
    value = float(text)
    if repr(value) == text and "e" not in text and (value or text[0] != "-"):
        return value
    raise _NotExact


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON for jsonb")


def _utf8_len(key: str) -> int:
    return len(key.encode())


# Documents of one column mostly share their keys, so each key tuple's jsonb order is computed once
# (bounded: documents with ever-new keys still work, they just sort every time).
_KEY_ORDERS: dict[tuple, tuple | None] = {}
_MAX_KEY_ORDERS = 4096
_UNSEEN = object()


def _jsonb_order(keys: tuple) -> tuple | None:
    """``keys`` in jsonb order, or None when they already are in it."""
    order = sorted(keys)  # code point order is UTF-8 byte order; the stable sort by length comes second
    order.sort(key=len if "".join(order).isascii() else _utf8_len)
    result = None if tuple(order) == keys else tuple(order)
    if len(_KEY_ORDERS) < _MAX_KEY_ORDERS:
        _KEY_ORDERS[keys] = result
    return result


def _jsonb_object(obj: dict) -> dict:
    # json builds ``obj`` keeping the last of duplicate keys, as jsonb does.
    if len(obj) < 2:
        return obj
    keys = tuple(obj)
    order = _KEY_ORDERS.get(keys, _UNSEEN)
    if order is _UNSEEN:
        order = _jsonb_order(keys)
    return obj if order is None else {key: obj[key] for key in order}


def _make_encoder() -> Callable[[object], str]:
    if json.encoder.c_make_encoder is None:  # an interpreter without the _json accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), allow_nan=False).encode
    # JSONEncoder.encode builds this C encoder on every call; building it once halves the cost.
    encoder = json.encoder.c_make_encoder(None, None, json.encoder.encode_basestring, None,
                                          ": ", ", ", False, False, False)
    return lambda obj: "".join(encoder(obj, 0))


_encode = _make_encoder()
_decode_fast = json.JSONDecoder(object_hook=_jsonb_object, parse_float=_exact_float,
                                parse_constant=_reject_constant).decode
_decode_exact = json.JSONDecoder(object_hook=_jsonb_object, parse_float=Decimal,
                                 parse_constant=_reject_constant).decode


def _render(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_encode(k)}: {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_render, value)) + "]"
    if isinstance(value, Decimal):
        return format(value.copy_abs() if value.is_zero() else value, "f")
    return _encode(value)


# A document that jsonb prints back unchanged: an integer (but not -0, printed 0), a literal, or a string
# without escapes or control characters. Prisma stores many Json values as such scalars.
_VERBATIM = re.compile(r'-?(?:0|[1-9][0-9]*)|null|true|false|"[^"\\\x00-\x1f]*"')


def jsonb_text(text: str) -> str:
    """What PostgreSQL's ``jsonb::text`` returns for the JSON document ``text``.

    :raises ValueError: ``text`` is not JSON (json.JSONDecodeError is a ValueError).
    """
    if _VERBATIM.fullmatch(text) and text != "-0":
        return text
    try:
        return _encode(_decode_fast(text))
    except _NotExact:
        return _render(_decode_exact(text))


# -- rows ----------------------------------------------------------------------------------------

_NAMESPACE = {"N": NULL, "_pack_double": _pack_double, "_numeric_text": _numeric_text, "_PG_EPOCH": PG_EPOCH,
              "_PG_EPOCH_UTC": _PG_EPOCH_UTC, "_PG_EPOCH_ORDINAL": _PG_EPOCH_ORDINAL, "_MICROSECOND": _MICROSECOND,
              "jsonb_text": jsonb_text}


def check_kinds(kinds: Sequence[str]) -> None:
    """:raises ValueError: a kind is not one of KINDS, or there are no columns."""
    unknown = sorted({k for k in kinds if k not in _PY_EXPR})
    if unknown:
        raise ValueError(f"unknown column kind(s) {', '.join(map(repr, unknown))}; expected one of {', '.join(KINDS)}")
    if not kinds:
        raise ValueError("a row needs at least one column to be hashed")


def value_text(kind: str) -> Callable[[object], str]:
    """The canonical text of one value of ``kind`` (None included) as a function."""
    check_kinds([kind])
    return eval(f"lambda v: N if v is None else str({_PY_EXPR[kind].replace('@', 'v')})", dict(_NAMESPACE))


def row_text_function(kinds: Sequence[str]) -> Callable[[Sequence], str]:
    """Compile ``row -> canonical row text`` for rows whose columns have these kinds.

    The function is generated as one f-string (the way dataclasses builds ``__init__``) because it runs
    once per imported row: it is about 25 % faster than a loop over per-column functions.
    A row of the wrong width raises ValueError; a value of the wrong type raises TypeError or
    AttributeError (see :func:`value_text` to find which column).
    """
    check_kinds(kinds)
    names = [f"v{i}" for i in range(len(kinds))]
    fields = [f"{{N if {n} is None else {_PY_EXPR[k].replace('@', n)}}}" for n, k in zip(names, kinds)]
    source = (f"def row_text(row):\n    {', '.join(names)}, = row\n"
              f"    return f\"{_SEP_ESCAPED.join(fields)}\"\n")
    namespace = dict(_NAMESPACE)
    exec(source, namespace)  # the source is built only from the fixed templates above
    return namespace["row_text"]


def sql_row_text(columns: Sequence[tuple[str, str]]) -> sql.Composed:
    """The SQL expression of a row's canonical text; ``columns`` are (name, kind) pairs."""
    check_kinds([kind for _, kind in columns])
    return sql.SQL(" || {} || ".format(_SQL_SEP)).join(
        sql_value_text(kind, sql.Identifier(name)) for name, kind in columns)


def sql_value_text(kind: str, column: sql.Composable) -> sql.Composed:
    """The SQL expression of one value's canonical text, NULL included; ``column`` is any SQL expression."""
    check_kinds([kind])
    return sql.SQL("coalesce({}, {})").format(sql.SQL(_SQL_EXPR[kind]).format(c=column), sql.SQL(_SQL_NULL))
