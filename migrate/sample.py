"""Sample data for the tasks app: a Prisma-style SQLite file and the matching JSON export.

Both writers draw the same records from one seeded generator, so ``make_dataset(p, n, seed=s)`` and
``make_json_export(p, n, seed=s)`` describe the same rows.

SQLite file (``make_dataset``)
------------------------------
Prisma's SQLite DDL for tests/fixtures/app/prisma/schema.prisma (see ``SQLITE_DDL``), values stored
the way Prisma's native SQLite engine stores them: DateTime as INTEGER epoch milliseconds, Boolean
0/1, Decimal as REAL (an integral one becomes INTEGER through NUMERIC affinity), Json as text (a
scalar such as ``42`` or ``3.5`` becomes INTEGER/REAL through the JSONB column's NUMERIC affinity;
JSON ``null`` is the text ``'null'``, distinct from SQL NULL), enums as label text, Bytes as BLOB,
BigInt as INTEGER, plus a ``_prisma_migrations`` table as Prisma writes it on SQLite. With
``mixed_dates=True`` some DateTime cells are ISO-8601 text (``2025-01-07T16:07:00.123+00:00``, as
driver adapters write) or ``YYYY-MM-DD HH:MM:SS`` text (as ``DEFAULT CURRENT_TIMESTAMP`` writes,
second precision), mixed with integers in the same columns.

JSON export (``make_json_export``): the format the old ``jsonToSqlite`` script consumed
------------------------------------------------------------------------------------------
One UTF-8 JSON document (no BOM, non-ASCII characters written as-is). It is an object that maps
names to arrays of records, written in this key order (parents first; readers should not rely on
the order, and should reject names they do not know)::

    {"User": [...], "Project": [...], "Tag": [...], "Task": [...], "Comment": [...],
     "_TagToTask": [...]}

* Model records use the Prisma **field names** of the model's scalar fields (they equal the column
  names; the schema has no ``@map``). Relation fields (``owner``, ``tasks``, ``tags``, ...) never
  appear; foreign keys appear as their scalar fields (``ownerId``, ``projectId``, ``assigneeId``,
  ``taskId``, ``authorId``). Every record carries its explicit ``id``.
* The implicit m-n relation Tag <-> Task is its own key ``"_TagToTask"``, named like the join table,
  with records ``{"A": <Tag.id>, "B": <Task.id>}`` (A is the model whose name sorts first, as in
  Prisma's join table). Each pair appears at most once.
* Missing values: a key that is absent means SQL NULL. A JSON ``null`` also means SQL NULL for
  every field **except Json fields**, where ``null`` is the JSON value null (``Prisma.JsonNull``).
  So ``Task.metadata`` is omitted when it is SQL NULL (``Prisma.DbNull``) and is ``null`` when it
  holds JSON null. All other fields are always written (``null`` when SQL NULL).
* Types:

  ==========  =====================================================================================
  Int         JSON integer
  BigInt      JSON integer when ``abs(v) <= 2**53 - 1``, otherwise a string of decimal digits with
              an optional leading ``-`` (``"4611686018427387904"``); readers accept both forms
  Boolean     ``true`` / ``false``
  String      JSON string (any Unicode: Japanese, emoji, tabs, newlines, backslashes, quotes)
  Decimal     string in plain notation without exponent or trailing zeros, as decimal.js's
              ``toJSON`` gives it: ``"1234.5"``, ``"12"``, ``"-0.25"``
  DateTime    ISO-8601 UTC string with milliseconds and ``Z``, as ``Date.toJSON`` gives it:
              ``"2025-01-07T16:07:00.123Z"``
  Json        the value itself, nested: object, array, string, number, ``true``/``false`` or
              ``null`` (JsonNull, see above)
  Bytes       standard base64 with padding (RFC 4648 section 4); ``""`` for empty bytes
  enum        the label string (``"TODO"``, ``"IN_PROGRESS"``, ``"DONE"``)
  ==========  =====================================================================================

* ``_prisma_migrations`` is never part of the export. The JSON always uses ISO strings for dates
  (``mixed_dates`` only affects the SQLite file).

Example::

    {"User": [{"id": 1, "email": "user1@example.com", "name": "Aiko 佐藤", "avatar": "iVBORw0=",
               "isAdmin": false, "createdAt": "2024-03-01T09:15:00.250Z"}],
     "Project": [{"id": 1, "name": "Launch", "budget": "1234.5", "archived": false,
                  "createdAt": "2024-03-02T10:00:00.000Z", "ownerId": 1}],
     "Tag": [{"id": 1, "name": "tag-1"}],
     "Task": [{"id": 1, "title": "Ship it", "description": null, "status": "IN_PROGRESS",
               "done": false, "priority": 2, "estimate": "3.5", "metadata": {"k": [1, 2]},
               "viewCount": 3000000000, "dueAt": null, "createdAt": "2024-03-03T08:00:00.000Z",
               "updatedAt": "2024-03-04T08:00:00.000Z", "projectId": 1, "assigneeId": null}],
     "Comment": [{"id": 1, "body": "ok", "createdAt": "2024-03-05T12:00:00.000Z", "taskId": 1,
                  "authorId": 1}],
     "_TagToTask": [{"A": 1, "B": 1}]}
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import sqlite3
import time
import uuid
from decimal import Decimal
from pathlib import Path

from ._sample_rows import COLUMNS, T0, TABLES, chunks

# The app's SQLite-era Prisma history; its migration.sql is `prisma migrate diff --from-empty
# --to-schema-datamodel sqlite/schema.prisma --script` output of the pinned Prisma 6.19.3 CLI.
SQLITE_APP = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "app" / "sqlite"
SQLITE_MIGRATION = "20240301091500_init"

# What Prisma's schema engine creates on SQLite before it applies the first migration.
_PRISMA_MIGRATIONS_DDL = """CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
);"""
_MAX_SAFE_INTEGER = 2**53 - 1


def sqlite_ddl() -> str:
    """Prisma's SQLite DDL for the app's models (the SQLite-era migration script)."""
    return (SQLITE_APP / "migrations" / SQLITE_MIGRATION / "migration.sql").read_text(encoding="utf-8")


def make_dataset(path: str | Path, tasks: int, mixed_dates: bool = False, seed: int = 0) -> dict[str, int]:
    """Write a new Prisma-style SQLite file at ``path`` (replaced if present) and return its row counts.

    The counts cover the app's tables, not ``_prisma_migrations``. The file appears only once complete.

    :raises ValueError: ``tasks`` is below 1.
    """
    _check_tasks(tasks)
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    tables_ddl, _, indexes_ddl = sqlite_ddl().partition("-- CreateIndex")
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        # A half-written file is thrown away anyway, so skip the journal and fsyncs.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.executescript(_PRISMA_MIGRATIONS_DDL + "\n" + tables_ddl)
        conn.execute("BEGIN")
        written = {table: _insert(conn, table, tasks, seed, mixed_dates) for table in TABLES}
        conn.execute("COMMIT")
        # Indexes after the rows: the same schema, built once instead of row by row.
        conn.executescript("-- CreateIndex" + indexes_ddl)
        conn.execute('INSERT INTO "_prisma_migrations" VALUES (?, ?, ?, ?, ?, ?, ?, ?)', _migration_row(seed))
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(tmp, path)
    return written


def make_json_export(path: str | Path, tasks: int, seed: int = 0) -> dict[str, int]:
    """Write the same records as ``make_dataset(path, tasks, seed=seed)`` as a JSON export (format above).

    :raises ValueError: ``tasks`` is below 1.
    """
    _check_tasks(tasks)
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    written: dict[str, int] = {}
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            out.write("{")
            for number, table in enumerate(TABLES):
                out.write(("," if number else "") + f"\n{json.dumps(table)}: [")
                written[table] = _write_records(out, table, tasks, seed)
                out.write("]")
            out.write("\n}\n")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return written


def _check_tasks(tasks: int) -> None:
    if not isinstance(tasks, int) or tasks < 1:
        raise ValueError(f"tasks must be a whole number of at least 1; got {tasks!r}")


def _insert(conn: sqlite3.Connection, table: str, tasks: int, seed: int, mixed_dates: bool) -> int:
    names = [name for name, _ in COLUMNS[table]]
    quoted = ", ".join(f'"{name}"' for name in names)
    statement = f'INSERT INTO "{table}" ({quoted}) VALUES ({", ".join("?" * len(names))})'
    mix = _date_mixer(table, seed) if mixed_dates else None
    count = 0
    for rows in chunks(table, tasks, seed):
        conn.executemany(statement, map(mix, rows) if mix else rows)
        count += len(rows)
    return count


def _date_mixer(table: str, seed: int):
    """Per row: leave most DateTimes as epoch ms, turn some into the text forms other writers leave."""
    # Its own RNG, so the rest of the data is the same with and without mixed dates.
    r = random.Random(f"{seed}:dates:{table}").random
    columns = [(i, kind == "datetime_now") for i, (_, kind) in enumerate(COLUMNS[table])
               if kind.startswith("datetime")]
    if not columns:
        return None

    def mix(row: tuple) -> tuple:
        cells = list(row)
        for i, has_default in columns:
            x = r()
            if cells[i] is None or x >= 0.2:
                continue
            if x < 0.1:
                cells[i] = _iso(cells[i], "+00:00")  # a driver adapter's write
            elif has_default:
                cells[i] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(cells[i] // 1000))  # CURRENT_TIMESTAMP
        return tuple(cells)

    return mix


def _iso(ms: int, zone: str) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}{zone}"


def _migration_row(seed: int) -> tuple:
    """The row `prisma migrate deploy` leaves on SQLite: uuid v4, SHA-256 of the script, ms timestamps."""
    script = SQLITE_APP / "migrations" / SQLITE_MIGRATION / "migration.sql"
    rng = random.Random(f"{seed}:_prisma_migrations")
    started = T0 - 3_600_000 + int(rng.random() * 60_000)
    return (str(uuid.UUID(int=rng.getrandbits(128), version=4)), hashlib.sha256(script.read_bytes()).hexdigest(),
            started + 27, SQLITE_MIGRATION, None, None, started, 1)


def _write_records(out, table: str, tasks: int, seed: int) -> int:
    encode = _record_encoder(table)
    count = 0
    for rows in chunks(table, tasks, seed):
        prefix = ",\n" if count else "\n"
        out.write(prefix + ",\n".join(json.dumps(encode(row), ensure_ascii=False) for row in rows))
        count += len(rows)
    return count


def _record_encoder(table: str):
    fields = [(name, _JSON_VALUE[kind], kind == "json") for name, kind in COLUMNS[table]]

    def encode(row: tuple) -> dict:
        record = {}
        for (name, convert, is_json), value in zip(fields, row):
            if value is None:
                if not is_json:  # an absent Json key is SQL NULL; null would mean JsonNull
                    record[name] = None
            else:
                record[name] = convert(value)
        return record

    return encode


def _decimal_text(value: float) -> str:
    """decimal.js's toJSON form: plain notation, no trailing zeros ("12", "0.25")."""
    return format(Decimal(repr(value)).normalize(), "f")


def _bigint(value: int) -> int | str:
    return value if abs(value) <= _MAX_SAFE_INTEGER else str(value)


def _same(value):
    return value


_JSON_VALUE = {
    "int": _same, "text": _same, "enum": _same, "bool": _same, "bigint": _bigint, "decimal": _decimal_text,
    "json": json.loads, "bytes": lambda b: base64.b64encode(b).decode("ascii"),
    "datetime": lambda ms: _iso(ms, "Z"), "datetime_now": lambda ms: _iso(ms, "Z"),
}
