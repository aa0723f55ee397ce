"""Cursor pagination and list filters in Render's style: ``[{cursor, <kind>: {...}}]``, ``limit`` 1..100."""

from __future__ import annotations

import base64
import json
from typing import Callable, Iterable

from .replies import ApiError, parse_iso

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def multi(args, name: str) -> list[str]:
    """A multi-value filter: Render's docs repeat the key (``?name=a&name=b``), the spec joins with commas."""
    values: list[str] = []
    for raw in args.getlist(name):
        values.extend(part for part in raw.split(",") if part != "")
    return values


def page(args, kind: str, items: list[dict], sort_key: Callable[[dict], list], render: Callable[[dict], dict],
         newest_first: bool = False) -> list[dict]:
    """One page of ``items`` after ``?cursor`` (opaque: it encodes the last item's sort key), ``?limit`` long.

    A cursor names a position, not an item, so deleting items between pages does not break iteration.
    A cursor this server never issued yields an empty page (the spec has no 400 for most lists).
    """
    limit = _limit(args)
    ordered = sorted(items, key=sort_key, reverse=newest_first)
    cursor = args.get("cursor")
    if cursor:
        ordered = _after(ordered, sort_key, _decode(cursor), newest_first)
    return [{"cursor": encode_cursor(sort_key(i)), kind: render(i)} for i in ordered[:limit]]


def _after(ordered: list[dict], sort_key, after: list | None, newest_first: bool) -> list[dict]:
    if after is None:
        return []
    try:
        return [i for i in ordered if (sort_key(i) < after if newest_first else sort_key(i) > after)]
    except TypeError:  # a cursor from another list: nothing comes after it here
        return []


def filter_time(args, items: Iterable[dict], field: str, param: str) -> list[dict]:
    """Apply ``<param>Before`` / ``<param>After`` (e.g. createdBefore) to ``items[field]``."""
    result = list(items)
    for suffix, keep in (("Before", lambda a, b: a < b), ("After", lambda a, b: a > b)):
        raw = args.get(param + suffix)
        if raw:
            bound = parse_iso(raw)
            result = [i for i in result if i.get(field) and keep(parse_iso(i[field]), bound)]
    return result


def filter_in(args, items: Iterable[dict], param: str, value: Callable[[dict], str]) -> list[dict]:
    wanted = multi(args, param)
    return [i for i in items if value(i) in wanted] if wanted else list(items)


def _limit(args) -> int:
    raw = args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"invalid limit: {raw!r}") from None
    # Render documents "up to 100"; several list operations have no 400 reply in the spec, so clamp.
    return min(max(limit, 1), MAX_LIMIT)


def encode_cursor(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list | None:
    """The sort key inside a cursor; None for a cursor this server never issued."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, list) else None
