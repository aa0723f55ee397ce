"""Real databases: create, drop, lock and unlock a database and its login role on a local PostgreSQL cluster."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from .replies import ApiError


class PgAdmin:
    """Talks to the cluster as a superuser through ``admin_url`` (never logged: it may hold a password).

    Both the internal and the external connection string point at this cluster's host and port: there is
    no private network on one machine, so "internal" only differs from "external" on Render itself.
    """

    def __init__(self, admin_url: str):
        self._admin_url = admin_url
        params = conninfo_to_dict(admin_url)
        self.host = params.get("host") or "127.0.0.1"
        self.port = int(params.get("port") or 5432)

    def __repr__(self) -> str:
        return f"PgAdmin(host={self.host!r}, port={self.port})"

    def url(self, user: str, password: str, dbname: str) -> str:
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/{dbname}"

    def create(self, dbname: str, user: str, password: str) -> None:
        """Make the role (or reset its password) and the database it owns; existing ones are kept."""
        with self._connect() as conn:
            role = sql.Identifier(user)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone():
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(password)))
            else:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(password)))
            if not self.exists(dbname, conn):
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), role))

    def drop(self, dbname: str, user: str | None) -> None:
        """Drop the database (closing its sessions) and, when given, the role."""
        with self._connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
            if user:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))

    def set_connectable(self, dbname: str, allowed: bool) -> None:
        """Suspend (refuse new sessions, end current ones) or resume a database."""
        with self._connect() as conn:
            if not self.exists(dbname, conn):
                return
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(dbname), sql.SQL("true" if allowed else "false")))
            if not allowed:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,))

    def exists(self, dbname: str, conn=None) -> bool:
        if conn is None:
            with self._connect() as own:
                return self.exists(dbname, own)
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is not None

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self._admin_url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError:
            # The driver's message may quote the URL; keep it (and its password) out of the reply.
            raise ApiError(500, f"cannot reach the local PostgreSQL cluster at {self.host}:{self.port}") from None
