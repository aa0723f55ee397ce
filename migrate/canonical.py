"""Canonical row text for content hashes: each kind defined once in Python and once in PostgreSQL SQL."""

from __future__ import annotations

import datetime as _dt
import json
import re
import struct
from decimal import Decimal
from typing import Callable, Sequence

import orjson
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
    "text": "f'{len(@) if @.isascii() else len(@.encode())}:{@}'",  # UTF-8 bytes (isascii is O(1))
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
    # octet_length, not length: counting characters costs PostgreSQL ~0.24 us per 150-character value, the
    # byte length of the UTF-8 form ~0.08 us (measured, 1M rows). (char(n)::text drops trailing blanks.)
    "text": "octet_length(convert_to({c}::text, 'UTF8'))::text || ':' || {c}::text",
    "json": "{c}::text",
    "jsonb": "{c}::text",
    "bytea": "encode({c}, 'hex')",
}
# In a UTF8 database (Render's always is) octet_length needs no convert_to (-8 % on Task's digest, -11 % on Comment's)
# and concat_ws may join the fields (all coalesced: none NULL): from 8 on it beats || (-5 % for 14, +7 % for 2).
_SQL_TEXT_UTF8 = "octet_length({c}::text)::text || ':' || {c}::text"
KINDS = tuple(_PY_EXPR)

_pack_double = struct.Struct(">d").pack
PG_EPOCH = _dt.datetime(2000, 1, 1)  # where PostgreSQL's date/time wire formats count from (and it rounds from)
PG_EPOCH_UTC = PG_EPOCH.replace(tzinfo=_dt.timezone.utc)
_PG_EPOCH_ORDINAL = PG_EPOCH.toordinal()
MICROSECOND = _dt.timedelta(microseconds=1)


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
# It refuses \u0000 and unpaired surrogates.

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


def _sorted_keys(keys: tuple) -> list:
    order = sorted(keys)  # code point order is UTF-8 byte order; the stable sort by length comes second
    order.sort(key=len if "".join(order).isascii() else _utf8_len)
    return order


# Documents of one column mostly share their keys, so each key tuple's jsonb order is computed once
# (bounded: documents with ever-new keys still work, they just sort every time).
_KEY_ORDERS: dict[tuple, tuple | None] = {}
_MAX_KEY_ORDERS = 4096
_UNSEEN = object()


def _jsonb_order(keys: tuple) -> tuple | None:
    """``keys`` in jsonb order, or None when they already are in it."""
    order = tuple(_sorted_keys(keys))
    result = None if order == keys else order
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
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # \u0000 itself, not \\u0000


def _render(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_encode(k)}: {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_render, value)) + "]"
    if isinstance(value, Decimal):
        return format(value.copy_abs() if value.is_zero() else value, "f")
    return _encode(value)


def _jsonb_text_exact(text: str) -> str:
    """:func:`jsonb_text` for any JSON text (json's parser, Decimal for numbers that need it)."""
    try:
        result = _encode(_decode_fast(text))
    except _NotExact:
        result = _render(_decode_exact(text))
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValueError("\\u0000 is not valid in jsonb text")
    if not result.isascii():
        try:
            result.encode()
        except UnicodeEncodeError:
            raise ValueError("an unpaired UTF-16 surrogate is not valid in jsonb text") from None
    return result


# Fast path: a document that orjson writes back byte for byte (as JSON.stringify, hence Prisma, writes
# it) is jsonb's text once in jsonb order and spaced; orjson.loads + dumps take 0.5 us, json.loads 2.7.
_CONTAINERS = frozenset((dict, list))
_loads, _dumps = orjson.loads, orjson.dumps  # (a global name, not a module attribute, per call)


def _walked(value: dict | list) -> tuple[dict | list, int, int]:
    """``value`` with its objects in jsonb order (lists change in place), the number of its structural
    ',' and ':', and of its containers."""
    is_dict = value.__class__ is dict
    size = len(value)
    seps, boxes = ((2 * size - 1 if is_dict else size - 1) if size else 0), 1
    # isdisjoint loops in C: scanning a list of scalars costs no Python step per item.
    if not _CONTAINERS.isdisjoint(map(type, value.values() if is_dict else value)):
        for key, item in value.items() if is_dict else enumerate(value):
            if item.__class__ in _CONTAINERS:
                value[key], item_seps, item_boxes = _walked(item)
                seps += item_seps
                boxes += item_boxes
    return (_jsonb_object(value) if is_dict else value), seps, boxes


# A column's documents share few shapes: from a shape's second document on, its walk is compiled to code
# that moves misplaced keys to the end (0.85 us with dumps and spacing; the walk alone took 1.9, measured).
_PLANS: dict[tuple, Callable | bool | None] = {}  # shape -> plan, None (seen once), False (none)
_MAX_PLANS = 1024
_MAX_PLAN_SOURCE = 4000  # characters


class _PlanSource:
    """A plan's source: conditions on a document's shape, the steps that put its objects in jsonb order,
    and the terms of its counts of separators and containers (each with its constant part first)."""

    def __init__(self):
        self.checks, self.steps, self.seps, self.boxes = [], [], [0], [0]

    def value(self, item: object, code: str) -> None:
        """Steps for the counterpart of ``item``, found by ``code``."""
        if item.__class__ in _CONTAINERS:
            name = f"v{len(self.checks)}"
            self.checks.append(f"({name} := {code}).__class__ is {item.__class__.__name__}"
                               + (f" and tuple({name}) == {tuple(item)!r}" if item.__class__ is dict else ""))
            self.container(item, name)

    def container(self, item: dict | list, name: str, fixed: bool = False) -> None:
        if item.__class__ is dict:
            keys = tuple(item)
            order = _sorted_keys(keys)
            kept = 0  # the longest start of the jsonb order that is in document order stays in place
            for key in keys:
                self.value(item[key], f"{name}[{key!r}]")
                kept += kept < len(order) and key == order[kept]
            self.steps += [f"    {name}[{key!r}] = {name}.pop({key!r})\n" for key in order[kept:]]
            self.seps[0] += 2 * len(keys) - 1 if keys else 0
        elif fixed:  # a whole document: its items' types are its shape
            for i, element in enumerate(item):
                self.value(element, f"{name}[{i}]")
            self.seps[0] += len(item) - 1 if item else 0
        elif _CONTAINERS.isdisjoint(map(type, item)):  # only counted: should a later one hold a container,
            self.seps[0] -= 1  # jsonb_text's bracket count differs and it walks
            self.seps.append(f"(len({name}) or 1)")
        else:
            self.steps.append(f"    _, s{name}, b{name} = W({name})\n")
            self.seps.append(f"s{name}")
            self.boxes.append(f"b{name} - 1")
        self.boxes[0] += 1


def _compile_plan(value: dict | list) -> Callable | bool:
    """``plan(d)`` for a document of the shape of ``value`` (whose objects have the same keys and whose lists
    are at the same places): its :func:`_clean_text`, else :func:`_walked` counting only those containers;
    None for another shape. False: no plan."""
    source = _PlanSource()
    source.container(value, "d", fixed=True)
    code = (f"def plan(d):\n    if not ({' and '.join(source.checks) or 'True'}):\n        return None\n"
            f"{''.join(source.steps)}    n = {' + '.join(map(str, source.seps))}\n"  # and _clean_text, inlined:
            "    c = D(d)\n    s = c.replace(b',', b', ').replace(b':', b': ')\n"
            f"    return s.decode() if len(s) - len(c) == n else (d, n, {' + '.join(map(str, source.boxes))})\n")
    if len(code) > _MAX_PLAN_SOURCE:
        return False
    namespace = {"W": _walked, "D": _dumps}
    try:
        exec(code, namespace)  # noqa: S102 - data enters the source only as repr() literals of keys
    except (SyntaxError, RecursionError):  # nested deeper than Python's parser goes
        return False
    return namespace["plan"]


def _ordered(value: dict | list, shape: tuple) -> str | tuple[dict | list, int, int]:
    """What a plan returns, for a document whose shape has none yet (compiled when seen the second time)."""
    plan = None
    if value.__class__ is dict or not _CONTAINERS.isdisjoint(map(type, value)):  # (a list of scalars needs none)
        plan = _PLANS.get(shape, _UNSEEN)
        if plan is _UNSEEN:
            if len(_PLANS) >= _MAX_PLANS:
                _PLANS.clear()
            _PLANS[shape] = plan = None
        elif plan is None:
            plan = _PLANS[shape] = _compile_plan(value)
    if plan and (result := plan(value)):
        return result
    ordered = _walked(value)
    return _clean_text(*ordered[:2]) or ordered


def _clean_text(value: dict | list, seps: int) -> str | None:
    """orjson's text of ``value`` with jsonb's ', ' and ': ', unless it has more ',' and ':' than ``seps``."""
    compact = _dumps(value)
    spaced = compact.replace(b",", b", ").replace(b":", b": ")  # each one adds a byte: no count of its own
    return spaced.decode() if len(spaced) - len(compact) == seps else None


def _spaced(value: dict | list) -> str:
    """orjson's text of ``value`` with jsonb's ', ' and ': ', whatever its strings hold: in orjson's
    indented text only indentation follows a line break."""
    lines = orjson.dumps(value, option=orjson.OPT_INDENT_2).replace(b",\n", b", \n").split(b"\n")
    return b"".join(map(bytes.lstrip, lines)).decode()


# A document that jsonb prints back unchanged: a number without exponent (but not a negative zero, which
# loses its sign), a literal, or a string without escapes or control characters. Prisma stores many Json
# values as such scalars, and a Json number that SQLite stored as REAL arrives as repr() text.
_VERBATIM = re.compile(r'(?!-0(?:\.0+)?\Z)-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|null|true|false|"[^"\\\x00-\x1f]*"')


def jsonb_text(text: str) -> str:
    """What PostgreSQL's ``jsonb::text`` returns for the JSON document ``text``.

    :raises ValueError: ``text`` is not JSON (json.JSONDecodeError is a ValueError), or holds \\u0000 or
        an unpaired surrogate.
    """
    if text[:1] not in "{[" and _VERBATIM.fullmatch(text):  # ("" is in any string: no regex for it)
        return text
    try:
        value = _loads(text)
        exact = _dumps(value) == text.encode()
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # not JSON, or too deep for orjson
        exact = False
    # jsonb expands exponents (orjson's are e+/e-, checked for every binary exponent), prints -0.0 as 0.0,
    # and refuses \u0000.
    if (not exact or "\\u0000" in text
            or ("-" in text or "+" in text) and ("e+" in text or "e-" in text or "-0.0" in text)):
        return _jsonb_text_exact(text)
    if value.__class__ is dict:
        shape = tuple(value)  # its keys; a list's is its item types (after list, which no key is)
    elif value.__class__ is list:
        shape = (list, *map(type, value))
    else:
        return text
    if not ((plan := _PLANS.get(shape)) and (result := plan(value))):
        result = _ordered(value, shape)
    if result.__class__ is str:
        return result
    value, seps, boxes = result
    # More ',' and ':' than the structure has: strings hold some, or a plan missed a container.
    if text.count("{") + text.count("[") != boxes:  # (or strings hold brackets)
        value, seps, boxes = _walked(value)
        if result := _clean_text(value, seps):
            return result
    return _spaced(value)


# -- rows ----------------------------------------------------------------------------------------

_NAMESPACE = {"N": NULL, "_pack_double": _pack_double, "_numeric_text": _numeric_text, "_PG_EPOCH": PG_EPOCH,
              "_PG_EPOCH_UTC": PG_EPOCH_UTC, "_PG_EPOCH_ORDINAL": _PG_EPOCH_ORDINAL, "_MICROSECOND": MICROSECOND,
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


def sql_row_text(columns: Sequence[tuple[str, str]], *, utf8: bool = False) -> sql.Composed:
    """The SQL expression of a row's canonical text; ``columns`` are (name, kind) pairs. ``utf8=True`` (here and in
    :func:`sql_value_text`) gives a cheaper expression of the same text, right only if server_encoding is UTF8."""
    check_kinds([kind for _, kind in columns])
    fields = [sql_value_text(kind, sql.Identifier(name), utf8=utf8) for name, kind in columns]
    return _concat_ws(fields) if utf8 and len(fields) >= 8 else sql.SQL(" || {} || ".format(_SQL_SEP)).join(fields)


def sql_value_text(kind: str, column: sql.Composable, *, utf8: bool = False) -> sql.Composed:
    """The SQL expression of one value's canonical text, NULL included; ``column`` is any SQL expression."""
    check_kinds([kind])
    template = _SQL_TEXT_UTF8 if utf8 and kind == "text" else _SQL_EXPR[kind]
    return sql.SQL("coalesce({}, {})").format(sql.SQL(template).format(c=column), sql.SQL(_SQL_NULL))


def _concat_ws(fields: list[sql.Composable]) -> sql.Composed:
    if len(fields) > 99:  # a function takes at most 100 arguments: join groups of 99, then the groups
        return _concat_ws([_concat_ws(fields[i:i + 99]) for i in range(0, len(fields), 99)])
    return sql.SQL("concat_ws({}, {})").format(sql.SQL(_SQL_SEP), sql.SQL(", ").join(fields))
