"""The JSON export that the old jsonToSqlite script consumed, read as a stream (format: migrate/sample.py).

Either one document ``{"User": [{...}, ...], "Task": [...], ...}`` or a directory of one file per model
(``User.json`` holding ``[{...}, ...]``). Opening makes one pass over the events to learn each table's row
count and keys (a key absent from a record means SQL NULL, so the columns are the union of all keys);
reading a table makes one more pass that builds only that table's records. Memory stays flat with size.
"""

from __future__ import annotations

from itertools import islice, repeat
from pathlib import Path
from typing import Iterator

import ijson

from .errors import SourceError
from .source import BATCH_ROWS, MIGRATIONS_TABLE, MISSING, Source, SourceTable

BOM = b"\xef\xbb\xbf"


class JsonSource(Source):
    """A JSON export file, or a directory of ``<Model>.json`` files."""

    flavour = "json"

    def __init__(self, path: Path):
        self.path = str(path)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.is_file())
            if not files:
                raise SourceError(f"source directory {path} holds no .json files", self.path)
            # table -> (file, ijson prefix of its records)
            self._where = {f.stem: (f, "item") for f in files if f.stem != MIGRATIONS_TABLE}
            self.tables = {}
            for name, (file, _) in self._where.items():
                self.tables.update(self._scan(file, single=name))
        else:
            self.tables = self._scan(path)
            self._where = {name: (path, f"{name}.item") for name in self.tables}

    def _scan(self, file: Path, single: str | None = None) -> dict[str, SourceTable]:
        """Row counts and key unions per table, in document order (one pass over the parser's events)."""
        try:
            with _open(file) as f:
                return self._scan_events(ijson.parse(f, use_float=True), file, single)
        except ijson.JSONError as exc:
            raise SourceError(f"source {file} is not valid JSON: {exc}", str(file)) from exc
        except OSError as exc:
            raise SourceError(f"cannot read source {file}: {exc.strerror}", str(file)) from exc

    def _scan_events(self, events, file: Path, single: str | None) -> dict[str, SourceTable]:
        tables: dict[str, SourceTable] = {single: SourceTable(single, [], 0)} if single else {}
        keys: dict[str, dict[str, None]] = {single: {}} if single else {}
        top = "start_array" if single else "start_map"
        for prefix, event, value in events:
            if prefix == "":
                if event == top:
                    top = None
                elif top is not None:
                    wanted = "an array of records" if single else "an object mapping table names to arrays of records"
                    raise SourceError(f"source {file}: expected {wanted}, found a {event}", str(file))
                elif event == "map_key" and value != MIGRATIONS_TABLE:
                    if "." in value:  # ijson addresses records by a dotted path
                        raise SourceError(f"source {file}: table names with '.' are not supported: {value!r}")
                    tables[value], keys[value] = SourceTable(value, [], 0), {}
                continue
            name, rest = (single, prefix) if single else prefix.partition(".")[::2]
            if name not in tables:
                continue  # inside _prisma_migrations, which is never read
            if rest == "" and event not in ("start_array", "end_array"):
                raise SourceError(f"source {file}: {name!r} must be an array of records, found a {event}", str(file))
            if rest == "item":
                if event == "start_map":
                    tables[name].rows += 1
                elif event == "map_key":
                    keys[name][value] = None
                elif event != "end_map":
                    raise SourceError(f"source {file}: the records of {name!r} must be objects, found a {event}",
                                      str(file))
        for name, table in tables.items():
            table.columns = list(keys[name])
            table.key = ["id"] if "id" in keys[name] else []
        return tables

    def batches(self, table: str, columns: list[str], size: int = BATCH_ROWS) -> Iterator[list[tuple]]:
        """Records of ``table`` as tuples of ``columns``; an absent key is ``MISSING``."""
        file, prefix = self._where[table]
        missing = list(repeat(MISSING, len(columns)))
        try:
            with _open(file) as f:
                records = ijson.items(f, prefix, use_float=True)
                while chunk := list(islice(records, size)):
                    yield [tuple(map(r.get, columns, missing)) for r in chunk]
        except ijson.JSONError as exc:
            raise SourceError(f"source {file} is not valid JSON: {exc}", str(file)) from exc


def _open(file: Path):
    f = file.open("rb")
    if f.read(3) != BOM:
        f.seek(0)
    return f
