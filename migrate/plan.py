"""The import plan (pure): which source table and column goes where, with which kind, and every problem seen."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SchemaError
from .schema import MIGRATIONS_TABLE, Column, TargetSchema

NO_SCHEMA_HINT = "run `prisma migrate deploy` against it first"


@dataclass(frozen=True)
class Problem:
    table: str
    column: str | None
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ColumnMap:
    source: str
    target: Column

    @property
    def kind(self) -> str:
        return self.target.kind


@dataclass
class TablePlan:
    """One table: source columns in COPY order, each with its target column."""

    source: str
    target: str
    columns: list[ColumnMap]
    rows: int
    key: list[int] = field(default_factory=list)  # positions in ``columns`` that identify a row

    @property
    def source_columns(self) -> list[str]:
        return [c.source for c in self.columns]

    @property
    def kinds(self) -> list[str]:
        return [c.kind for c in self.columns]

    @property
    def target_columns(self) -> list[tuple[str, str]]:
        """``(name, kind)`` per column, in the order the rows carry them (for verify.pg_table_digest)."""
        return [(c.target.name, c.kind) for c in self.columns]

    def row_id(self, row, ordinal: int) -> str:
        """How an error names a row: ``id=42``, ``A=1, B=7``, else its position in the source."""
        if not self.key:
            return f"#{ordinal}"
        return ", ".join(f"{self.columns[i].source}={row[i]!r}" for i in self.key)


@dataclass
class Plan:
    flavour: str
    tables: list[TablePlan]
    problems: list[Problem]
    target: TargetSchema
    untouched: list[str] = field(default_factory=list)  # target tables with no source table: left empty

    def check(self) -> None:
        """:raises SchemaError: listing every problem, when there is at least one."""
        if self.problems:
            first = self.problems[0]
            more = "; ".join(p.message for p in self.problems)
            raise SchemaError(f"{len(self.problems)} schema problem(s): {more}", first.table, first.column,
                              problems=self.problems)

    def describe(self) -> list[str]:
        """Human-readable lines: per table the rows and each column's mapping."""
        lines = []
        for t in self.tables:
            lines.append(f"{t.source} -> {t.target}: {t.rows} rows")
            lines += [f"  {c.source} -> {c.target.name} {c.target.type} ({c.kind})" for c in t.columns]
        lines += [f"{name}: no source table, stays empty" for name in self.untouched]
        lines += [f"problem: {p}" for p in self.problems]
        return lines


def plan(source, target: TargetSchema) -> Plan:
    """Map every source table and column onto the target; collect every problem instead of stopping.

    :raises SchemaError: the target has no Prisma schema at all (nothing else can be checked then).
    """
    if not target.tables or not target.has_migrations_table:
        found = "no tables" if not target.tables else f"no {MIGRATIONS_TABLE} table"
        raise SchemaError(f"target schema {target.schema!r} has no Prisma schema ({found}): {NO_SCHEMA_HINT}")
    problems: list[Problem] = []
    tables = []
    for st in source.tables.values():
        tt = target.tables.get(st.name)
        if tt is None:
            problems.append(Problem(st.name, None, _missing_table(st.name, target)))
            continue
        columns = _map_columns(st, tt, problems)
        tables.append(TablePlan(st.name, tt.name, columns, st.rows, _key(st, tt, columns)))
    untouched = [name for name in target.tables if name not in source.tables]
    return Plan(source.flavour, tables, problems, target, untouched)


def _missing_table(name: str, target: TargetSchema) -> str:
    close = [t for t in target.tables if t.lower() == name.lower()]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"source table {name!r} has no table in the target schema {target.schema!r}{hint}"


def _map_columns(st, tt, problems: list[Problem]) -> list[ColumnMap]:
    if not st.columns and st.rows == 0:
        return []  # a JSON export's empty array: nothing to load, nothing to check
    columns = []
    for name in st.columns:
        col = tt.columns.get(name)
        where = f"{st.name}.{name}"
        if col is None:
            problems.append(Problem(st.name, name, f"source column {where} has no column in target table "
                                                   f"{tt.name!r}"))
        elif col.generated:
            problems.append(Problem(st.name, name, f"target column {where} is generated; it cannot be loaded"))
        elif col.kind is None:
            problems.append(Problem(st.name, name, f"target column {where} has type {col.type}, which the "
                                                   f"import does not support"))
        else:
            columns.append(ColumnMap(name, col))
    for col in tt.columns.values():
        if col.not_null and not col.has_default and not col.generated and col.name not in st.columns:
            problems.append(Problem(st.name, col.name, f"target column {tt.name}.{col.name} is NOT NULL without a "
                                                       f"default, but the source table has no such column"))
    return columns


def _key(st, tt, columns: list[ColumnMap]) -> list[int]:
    names = [c.source for c in columns]
    for key in (tt.primary_key, st.key):
        if key and all(k in names for k in key):
            return [names.index(k) for k in key]
    return []
