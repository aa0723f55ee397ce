"""The target schema as `prisma migrate deploy` left it: tables, column kinds, constraints, indexes, sequences.

``read_target(conn)`` reads it from the PostgreSQL catalogs; ``plan(source, target)`` (pure, in plan.py and
re-exported here) matches a source against it. A column's *kind* names the Python value type that the
converters produce and that verify.py hashes:

    int (int2/int4/int8 -> int)          float (float4/float8 -> float)   numeric (-> Decimal)
    bool (-> bool)                       timestamp (-> naive UTC datetime) timestamptz (-> aware datetime)
    date (-> date)                       text (text/varchar/char/enum/uuid/citext -> str)
    jsonb, json (-> str of JSON text)    bytea (-> bytes)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import sql

MIGRATIONS_TABLE = "_prisma_migrations"

# base type name -> (kind, type name handed to COPY ... set_types()); binary COPY sends no oids, the server
# runs the column type's receive function, so text-like types can share the text wire format.
_KINDS = {
    "int2": ("int", "int2"), "int4": ("int", "int4"), "int8": ("int", "int8"),
    "float4": ("float", "float4"), "float8": ("float", "float8"), "numeric": ("numeric", "numeric"),
    "bool": ("bool", "bool"), "timestamp": ("timestamp", "timestamp"),
    "timestamptz": ("timestamptz", "timestamptz"), "date": ("date", "date"),
    "text": ("text", "text"), "varchar": ("text", "text"), "bpchar": ("text", "text"),
    "citext": ("text", "text"), "uuid": ("text", "uuid"),
    "jsonb": ("jsonb", "jsonb"), "json": ("json", "text"), "bytea": ("bytea", "bytea"),
}
INT_RANGES = {"int2": (-2**15, 2**15 - 1), "int4": (-2**31, 2**31 - 1), "int8": (-2**63, 2**63 - 1)}


@dataclass(frozen=True)
class Column:
    """One target column; ``kind`` is None when the type is not supported (``type`` says which it is)."""

    name: str
    type: str                      # format_type(), e.g. 'timestamp(3) without time zone', '"TaskStatus"'
    base: str                      # base type name after resolving domains: 'int4', 'varchar', 'TaskStatus'
    kind: str | None
    wire: str | None               # type name for Copy.set_types()
    not_null: bool = False
    has_default: bool = False      # includes serial (nextval) defaults and identity columns
    generated: bool = False
    labels: frozenset | None = None  # enum labels
    length: int | None = None      # varchar(n) / char(n)
    precision: int | None = None   # numeric(p, s): p; timestamp(p): p
    scale: int | None = None       # numeric(p, s): s


@dataclass(frozen=True)
class Constraint:
    name: str
    type: str          # 'p' primary key, 'u' unique, 'x' exclusion, 'f' foreign key
    schema: str        # of the table it is on (an FK may sit on a table that references ours)
    table: str
    definition: str    # pg_get_constraintdef(), replayed verbatim

    def add_sql(self) -> sql.Composed:
        # The definition is PostgreSQL's own rendering of this constraint, so it is replayed as SQL.
        return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.Identifier(self.schema, self.table), sql.Identifier(self.name), sql.SQL(self.definition))

    def drop_sql(self) -> sql.Composed:
        return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(self.schema, self.table), sql.Identifier(self.name))


@dataclass(frozen=True)
class Index:
    name: str
    schema: str
    table: str
    definition: str    # pg_get_indexdef(): a complete CREATE [UNIQUE] INDEX statement

    def add_sql(self) -> sql.SQL:
        return sql.SQL(self.definition)

    def drop_sql(self) -> sql.Composed:
        return sql.SQL("DROP INDEX {}").format(sql.Identifier(self.schema, self.name))


@dataclass(frozen=True)
class Sequence:
    """A serial or identity sequence owned by ``table.column``."""

    schema: str
    name: str
    table: str
    column: str


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)


@dataclass
class TargetSchema:
    """Everything the import needs to know about the target, read from one schema (``current_schema()``)."""

    schema: str
    tables: dict[str, Table]
    constraints: list[Constraint]
    indexes: list[Index]
    sequences: list[Sequence]
    has_migrations_table: bool

    def table_sql(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)


_TABLES = """
SELECT c.oid, c.relname FROM pg_class c
WHERE c.relnamespace = %(ns)s::regnamespace AND c.relkind = 'r' ORDER BY c.relname"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.atthasdef OR a.attidentity <> '', a.attgenerated <> '',
       coalesce(bt.typname, t.typname), coalesce(bt.typtype, t.typtype), coalesce(bt.oid, t.oid),
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum"""

_ENUMS = "SELECT enumtypid, enumlabel FROM pg_enum ORDER BY enumtypid, enumsortorder"

_CONSTRAINTS = """
SELECT con.conname, con.contype, n.nspname, c.relname, pg_get_constraintdef(con.oid), con.conrelid,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord)
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (con.conrelid = ANY(%(oids)s) AND con.contype IN ('p', 'u', 'x', 'f'))
   OR (con.confrelid = ANY(%(oids)s) AND con.contype = 'f')
ORDER BY con.contype, c.relname, con.conname"""

# Indexes that no constraint owns (those come back with their constraint).
_INDEXES = """
SELECT ic.relname, n.nspname, c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE i.indrelid = ANY(%(oids)s) AND NOT EXISTS (
    SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
    AND con.contype IN ('p', 'u', 'x'))
ORDER BY c.relname, ic.relname"""

_SEQUENCES = """
SELECT sn.nspname, s.relname, t.relname, a.attname
FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = s.relnamespace JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid = ANY(%(oids)s) AND d.deptype IN ('a', 'i')
ORDER BY t.relname, a.attname"""


def read_target(conn) -> TargetSchema:
    """Read the tables of ``current_schema()`` (Prisma's ``?schema=``, else ``public``); read-only.

    ``_prisma_migrations`` is noted (``has_migrations_table``) but never listed among the tables.
    """
    ns = conn.execute("SELECT current_schema()").fetchone()[0]
    if ns is None:
        return TargetSchema("public", {}, [], [], [], False)
    rows = conn.execute(_TABLES, {"ns": ns}).fetchall()
    has_migrations = any(name == MIGRATIONS_TABLE for _, name in rows)
    by_oid = {oid: Table(name) for oid, name in rows if name != MIGRATIONS_TABLE}
    oids = list(by_oid)
    enums: dict[int, list[str]] = {}
    for typid, label in conn.execute(_ENUMS):
        enums.setdefault(typid, []).append(label)
    for row in conn.execute(_COLUMNS, {"oids": oids}):
        col = _column(row, enums)
        by_oid[row[0]].columns[col.name] = col
    constraints = []
    for name, contype, schema, table, definition, conrelid, keys in conn.execute(_CONSTRAINTS, {"oids": oids}):
        constraints.append(Constraint(name, contype, schema, table, definition))
        if contype == "p" and conrelid in by_oid:
            by_oid[conrelid].primary_key = list(keys)
    indexes = [Index(*row) for row in conn.execute(_INDEXES, {"oids": oids})]
    sequences = [Sequence(*row) for row in conn.execute(_SEQUENCES, {"oids": oids})]
    tables = {t.name: t for t in by_oid.values()}
    return TargetSchema(ns, tables, constraints, indexes, sequences, has_migrations)


def _column(row, enums: dict[int, list[str]]) -> Column:
    _, name, type_sql, not_null, has_default, generated, base, typtype, base_oid, typmod = row
    labels = frozenset(enums.get(base_oid, ())) if typtype == "e" else None
    kind, wire = ("text", "text") if labels is not None else _KINDS.get(base, (None, None))
    length = precision = scale = None
    if base in ("varchar", "bpchar") and typmod >= 4:
        length = typmod - 4
    elif base == "numeric" and typmod >= 4:
        precision = ((typmod - 4) >> 16) & 0xFFFF
        scale = (((typmod - 4) & 0x7FF) ^ 1024) - 1024  # PostgreSQL 15 allows a negative scale
    elif base in ("timestamp", "timestamptz") and typmod >= 0:
        precision = typmod
    return Column(name, type_sql, base, kind, wire, not_null, has_default, generated, labels,
                  length, precision, scale)


def plan(source, target):
    """Match ``source`` against ``target`` (pure): see ``migrate.plan.plan``."""
    from .plan import plan as _plan
    return _plan(source, target)
