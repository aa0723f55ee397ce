"""Connecting to the target from a libpq or Prisma-style URL, without ever echoing its password."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .errors import TargetError
from .redact import redact, url_secrets

# Query parameters that Prisma understands and libpq rejects ("invalid URI query parameter").
PRISMA_ONLY = {"schema", "connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size",
               "socket_timeout", "sslaccept", "sslidentity", "connect_timeout_ms"}


def libpq_url(url: str) -> tuple[str, str | None]:
    """``url`` without Prisma-only parameters, and the schema that ``?schema=`` named (or None)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    kept = [(k, v) for k, v in query if k not in PRISMA_ONLY]
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


def connect(url: str, **kwargs) -> psycopg.Connection:
    """Open a connection; a Prisma ``?schema=x`` becomes ``search_path=x``.

    :raises TargetError: cannot connect (the message never contains the password).
    """
    plain, schema = libpq_url(url)
    if schema:
        escaped = schema.replace("\\", "\\\\").replace(" ", "\\ ")
        kwargs["options"] = f"-c search_path={escaped}"
    try:
        return psycopg.connect(plain, **kwargs)
    except psycopg.Error as exc:
        raise TargetError(f"cannot connect to the target: {scrub(str(exc).strip(), url)}") from None


def server_on_this_machine(conn: psycopg.Connection) -> bool:
    """Connected through a Unix socket (a directory, or @name for an abstract one) or to a loopback address."""
    host = conn.info.host or ""
    if host.startswith(("/", "@")) or host == "localhost":
        return True
    try:
        address = conn.info.hostaddr or host
    except psycopg.NotSupportedError:  # hostaddr needs libpq 12 or later
        address = host
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name: not resolved here, so not taken for this machine
        return False


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def fit_parallel_workers(conn: psycopg.Connection, cores: int) -> None:
    """On a server on this machine, at most ``cores`` - 1 parallel workers per query, so that a query's leader
    and its workers need no more than ``cores`` cores (there they share the cores with this process). A remote
    server keeps its own setting: its cores are its own. SET LOCAL: the setting ends with the transaction."""
    if not server_on_this_machine(conn):
        return
    current = int(conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[0])
    if current > cores - 1:
        conn.execute(sql.SQL("SET LOCAL max_parallel_workers_per_gather = {}").format(sql.Literal(max(cores - 1, 0))))


def scrub(text: str, url: str) -> str:
    """``text`` on one line (libpq messages span several) with the URL and its password masked."""
    return redact(text, url_secrets(url), one_line=True)
