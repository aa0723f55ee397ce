"""Source values -> the Python values of the target column's kind, honouring Prisma's SQLite storage quirks."""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import uuid
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import orjson

from .canonical import PG_EPOCH  # PostgreSQL rounds timestamps relative to this point
from .schema import INT_RANGES, Column
from .source import MISSING

EPOCH = datetime(1970, 1, 1)
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INT_TEXT = re.compile(r"-?[0-9]+")
_WIDE = Context(prec=1000, rounding=ROUND_HALF_UP)  # numeric rounding as PostgreSQL does it (half away)
NUL_HINT = "text without NUL bytes (PostgreSQL cannot store them; --strip-nul removes them)"


class Bad(ValueError):
    """A value a converter cannot accept; ``expected`` says what it wanted."""

    def __init__(self, expected: str):
        super().__init__(expected)
        self.expected = expected


class NulCounter:
    """NUL policy of one table: error by default, or strip and count."""

    def __init__(self, strip: bool = False):
        self.strip = strip
        self.count = 0

    def clean(self, v: str) -> str:
        if not self.strip:
            raise Bad(NUL_HINT)
        self.count += v.count("\x00")
        return v.replace("\x00", "")


def column_converter(col: Column, flavour: str, nul: NulCounter) -> Callable[[Any], Any]:
    """The complete converter for ``col``; ``flavour`` is the source's ("sqlite" or "json")."""
    conv = _FACTORIES[col.kind](col, flavour, nul)
    if flavour != "json":
        return conv
    if col.kind in ("jsonb", "json"):
        return conv  # handles MISSING itself: absent is SQL NULL, null is JSON null

    def from_json(v):
        return None if v is None or v is MISSING else conv(v)
    return from_json


def _int(col: Column, flavour: str, nul: NulCounter):
    lo, hi = INT_RANGES[col.base]

    def conv(v):
        if v is None:
            return None
        c = v.__class__
        if c is float and v.is_integer():
            v = int(v)
        elif c is str and _INT_TEXT.fullmatch(v):
            v = int(v)
        elif c is not int:
            raise Bad(f"an integer ({col.base})")
        if lo <= v <= hi:
            return v
        raise Bad(f"an integer in the {col.base} range [{lo}, {hi}]")
    return conv


def _float(col: Column, flavour: str, nul: NulCounter):
    single = col.base == "float4"

    def conv(v):
        if v is None:
            return None
        c = v.__class__
        try:
            if c is float or c is int or (c is str and v.strip()):
                v = float(v)
            else:
                raise Bad("a floating-point number")
            # float4 keeps 24 bits: round here so that the value hashed equals the value stored
            return struct.unpack("f", struct.pack("f", v))[0] if single else v
        except (ValueError, OverflowError) as exc:
            raise Bad(f"a floating-point number ({col.base})") from exc
    return conv


def _numeric(col: Column, flavour: str, nul: NulCounter):
    scale, precision = col.scale, col.precision
    quantum = Decimal(1).scaleb(-scale) if scale is not None else None
    limit = Decimal(10) ** (precision - scale) if precision else None
    what = f"a decimal number fitting {col.type}"

    def conv(v):
        if v is None:
            return None
        c = v.__class__
        try:
            # repr() is the shortest text that reads back as the same double: Decimal without float noise
            d = Decimal(repr(v)) if c is float else Decimal(v) if c in (int, str, Decimal) else None
        except InvalidOperation:
            d = None
        if d is None or d.is_snan():
            raise Bad("a decimal number")
        if d.is_nan():
            return d  # PostgreSQL's numeric has NaN, whatever the typmod
        if quantum is not None and d.is_finite() and d.as_tuple().exponent < -scale:
            d = d.quantize(quantum, context=_WIDE)  # PostgreSQL would round it the same way on input
        if limit is not None and (d.is_infinite() or d.copy_abs() >= limit):  # abs() would round to 28 digits
            raise Bad(what)
        return d
    return conv


def _bool(col: Column, flavour: str, nul: NulCounter):
    words = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}

    def conv(v):
        if v is None:
            return None
        c = v.__class__
        if c is bool:
            return v
        if c is int or c is float:
            return v != 0  # Prisma's SQLite reader takes any non-zero number as true
        if c is str and v.strip().lower() in words:
            return words[v.strip().lower()]
        raise Bad("a Boolean (0/1 or true/false)")
    return conv


def parse_datetime(v) -> datetime:
    """A naive UTC datetime from epoch ms (int/float) or text (ISO-8601, ``YYYY-MM-DD HH:MM:SS``, RFC 2822)."""
    c = v.__class__
    try:
        if c is int or c is float:
            return EPOCH + timedelta(milliseconds=v)
        if c is not str:
            raise Bad("a DateTime")
        try:
            dt = datetime.fromisoformat(v.strip())
        except ValueError:
            dt = parsedate_to_datetime(v)  # raises ValueError/TypeError on anything else
    except (ValueError, TypeError, OverflowError) as exc:
        raise Bad("a DateTime (epoch ms, ISO-8601 text or 'YYYY-MM-DD HH:MM:SS', years 1..9999)") from exc
    # Naive text is UTC: Prisma writes UTC and SQLite's CURRENT_TIMESTAMP is UTC.
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt


def round_timestamp(dt: datetime, precision: int) -> datetime:
    """Round to ``precision`` fractional digits exactly as PostgreSQL's timestamp(p) input does."""
    scale = 10 ** (6 - precision)
    if dt.microsecond % scale == 0:
        return dt
    delta = dt - PG_EPOCH
    us = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
    half = scale // 2
    us = (us + half) // scale * scale if us >= 0 else -(((-us + half) // scale) * scale)
    return PG_EPOCH + timedelta(microseconds=us)


def _timestamp(col: Column, flavour: str, nul: NulCounter):
    precision = 6 if col.precision is None else col.precision
    kind = col.kind

    def conv(v):
        if v is None:
            return None
        dt = parse_datetime(v)
        if kind == "date":
            return dt.date()  # as PostgreSQL's timestamp -> date cast: the UTC calendar day
        if precision < 6:
            try:
                dt = round_timestamp(dt, precision)
            except OverflowError as exc:
                raise Bad("a DateTime within years 1..9999") from exc
        return dt.replace(tzinfo=timezone.utc) if kind == "timestamptz" else dt
    return conv


def _text(col: Column, flavour: str, nul: NulCounter):
    labels, length, is_uuid = col.labels, col.length, col.base == "uuid"
    pad = length if col.base == "bpchar" else None
    label_list = ", ".join(sorted(labels)) if labels is not None else ""

    def conv(v):
        if v is None:
            return None
        c = v.__class__
        if c is not str:
            v = _as_text(v, c)
        if "\x00" in v:
            v = nul.clean(v)
        if flavour == "json" and not _encodable(v):
            raise Bad("text without unpaired UTF-16 surrogates")
        if labels is not None and v not in labels:
            raise Bad(f"one of the enum labels {label_list} ({col.type})")
        if length is not None and len(v) > length:
            raise Bad(f"text of at most {length} characters ({col.type})")
        if is_uuid:  # PostgreSQL stores the 16 bytes and prints them lowercase, hyphenated: hash that form
            try:
                v = str(uuid.UUID(v))
            except ValueError as exc:
                raise Bad("a UUID") from exc
        return v.ljust(pad) if pad else v  # char(n) pads with spaces; hash what PostgreSQL will store
    return conv


def _as_text(v, c) -> str:
    if c is int:
        return str(v)
    if c is float:
        return repr(v)
    if c is bytes:
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Bad("UTF-8 text") from exc
    raise Bad("text")


def _encodable(v: str) -> bool:
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bytea(col: Column, flavour: str, nul: NulCounter):
    def conv(v):
        if v is None:
            return None
        c = v.__class__
        if c is bytes:
            return v
        if c is str and flavour == "json":
            try:
                return base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Bad("base64 text (RFC 4648)") from exc
        if c is str:
            return v.encode("utf-8")  # a text value in a Bytes column: its UTF-8 bytes
        raise Bad("bytes")
    return conv


def _json(col: Column, flavour: str, nul: NulCounter):
    binary = col.kind == "jsonb"

    def checked(s: str, force_walk: bool = False) -> str:
        if "\x00" in s:
            s = nul.clean(s)  # a raw NUL is invalid JSON anyway; stripping it may make it valid
        obj = parse_json(s)
        # Only escapes can smuggle in what PostgreSQL refuses: \u0000 (jsonb) and unpaired surrogates.
        if force_walk or "\\u" in s:
            clean, changed = _clean_strings(obj, binary, nul)
            if changed:
                s = json.dumps(clean, ensure_ascii=False)
        return s

    def from_sqlite(v):
        if v is None:
            return None
        c = v.__class__
        if c is str:
            return checked(v)
        if c is int:
            return str(v)  # a Json number that the column's NUMERIC affinity stored as INTEGER
        if c is float:
            return _dump(v)  # ... or as REAL (3.50 became 3.5; nothing can restore the zero)
        if c is bytes:
            return checked(_as_text(v, c))
        raise Bad("JSON text")

    def from_json(v):
        if v is MISSING:
            return None  # an absent key is SQL NULL (Prisma.DbNull) ...
        if v is None:
            return "null"  # ... while an explicit null is the JSON value null (Prisma.JsonNull)
        s = _dump(v)
        return checked(s, force_walk=not _encodable(s))
    return from_json if flavour == "json" else from_sqlite


def parse_json(s: str):
    """Parse JSON text as PostgreSQL's json/jsonb input would accept it.

    :raises Bad: it is not JSON (NaN and Infinity included).
    """
    try:
        return orjson.loads(s)  # ~2.5x faster than json.loads; refuses NaN, bad surrogates, BOMs like PostgreSQL
    except orjson.JSONDecodeError:
        pass
    try:
        # What orjson refuses but PostgreSQL takes: numbers beyond a double or 64 bits, deep nesting.
        return json.loads(s, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise Bad("valid JSON text") from exc


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _dump(v) -> str:
    try:
        return json.dumps(v, ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise Bad("a JSON value (no NaN or Infinity)") from exc


def _clean_strings(obj, binary: bool, nul: NulCounter):
    """Strings of a parsed JSON document, checked: no unpaired surrogates, and no NUL in jsonb."""
    if isinstance(obj, str):
        new = nul.clean(obj) if binary and "\x00" in obj else obj
        if not _encodable(new):
            raise Bad("JSON without unpaired UTF-16 surrogates (\\ud800-\\udfff)")
        return new, new is not obj
    if isinstance(obj, list):
        items = [_clean_strings(x, binary, nul) for x in obj]
        return [x for x, _ in items], any(c for _, c in items)
    if isinstance(obj, dict):
        out, changed = {}, False
        for k, v in obj.items():
            (k2, ck), (v2, cv) = _clean_strings(k, binary, nul), _clean_strings(v, binary, nul)
            out[k2] = v2
            changed = changed or ck or cv
        return out, changed
    return obj, False


_FACTORIES = {"int": _int, "float": _float, "numeric": _numeric, "bool": _bool, "timestamp": _timestamp,
              "timestamptz": _timestamp, "date": _timestamp, "text": _text, "bytea": _bytea,
              "jsonb": _json, "json": _json}
