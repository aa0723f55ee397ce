"""A stand-in for the team's Next.js "tasks" app: ``/api/health`` and ``/api/tasks`` served from ``DATABASE_URL``.

Run it as ``python -m localrender.tasks_app [--port P]`` (the port defaults to ``$PORT``, which localrender
sets for a service's ``x-localrender.startCommand``, else 3000 like ``next start``).

What it answers, and what it assumes about the real app (the smoke checks rely on no more than this):

- ``GET /api/health`` -> 200 ``{"status": "ok", "database": "up"}`` once the database answers and holds
  the Prisma tables the app reads; otherwise 503 ``{"status": "error", "database": "down" | "missing
  tables", "error": ...}`` (the message never contains the password).
- ``GET /api/tasks?take=N&skip=M`` -> 200 with a JSON list of tasks as Prisma's
  ``task.findMany({take, skip, orderBy: {id: "asc"}})`` serialises them: every scalar field under its
  Prisma name, ``DateTime`` as ISO 8601 UTC with milliseconds, ``Decimal`` and ``BigInt`` as strings
  (``JSON.stringify`` cannot write a BigInt, so apps convert it). ``take`` defaults to 50 (at most 1000),
  ``skip`` to 0. **Assumption:** the real app paginates the same way and sends the table's total in an
  ``X-Total-Count`` header; the smoke checks fall back gracefully when the header is absent. A database
  error is a 500 with ``{"error": ...}``, a bad ``take``/``skip`` a 400.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import logging
import os

import orjson
import psycopg
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from migrate.errors import TargetError
from migrate.pg import connect, scrub

REQUIRED_TABLES = ("Task",)  # what the two routes read; `prisma migrate deploy` creates it
DEFAULT_TAKE, MAX_TAKE = 50, 1000
CONNECT_TIMEOUT = 5  # seconds: a health check must answer while the database is unreachable
FIELDS = ("id", "title", "description", "status", "done", "priority", "estimate", "metadata", "viewCount",
          "dueAt", "createdAt", "updatedAt", "projectId", "assigneeId")
_SELECT = "SELECT {} FROM \"Task\" ORDER BY id LIMIT %s OFFSET %s".format(", ".join(f'"{f}"' for f in FIELDS))

log = logging.getLogger("tasks_app")


class _Unavailable(Exception):
    """The database cannot serve the app; ``.state`` is ``down`` or ``missing tables``."""

    def __init__(self, state: str, message: str):
        super().__init__(message)
        self.state = state


def application(environ, start_response):
    """The WSGI app: two GET routes, JSON everywhere."""
    request = Request(environ)
    route = {"/api/health": health, "/api/tasks": tasks}.get(request.path.rstrip("/") or "/")
    if route is None:
        response = _json({"error": f"not found: {request.path}"}, 404)
    elif request.method not in ("GET", "HEAD"):
        response = _json({"error": f"method {request.method} not allowed"}, 405)
        response.headers["Allow"] = "GET, HEAD"
    else:
        response = route(request, os.environ.get("DATABASE_URL", ""))
    return response(environ, start_response)


def health(request: Request, database_url: str) -> Response:
    try:
        with _open(database_url):
            pass
    except _Unavailable as exc:
        return _json({"status": "error", "database": exc.state, "error": str(exc)}, 503)
    return _json({"status": "ok", "database": "up"})


def tasks(request: Request, database_url: str) -> Response:
    try:
        take = _int_arg(request, "take", DEFAULT_TAKE, 1, MAX_TAKE)
        skip = _int_arg(request, "skip", 0, 0, None)
    except ValueError as exc:
        return _json({"error": str(exc)}, 400)
    try:
        with _open(database_url) as conn:
            total = conn.execute('SELECT count(*) FROM "Task"').fetchone()[0]
            rows = conn.execute(_SELECT, (take, skip)).fetchall()
    except (_Unavailable, psycopg.Error) as exc:
        message = scrub(str(exc), database_url)
        log.error("GET /api/tasks failed: %s", message)
        return _json({"error": f"cannot read the tasks: {message}"}, 500)
    response = _json([_prisma_row(dict(zip(FIELDS, row))) for row in rows])
    response.headers["X-Total-Count"] = str(total)
    return response


def _open(database_url: str) -> psycopg.Connection:
    """A connection to a database that holds the app's tables, or ``_Unavailable`` saying why not."""
    if not database_url:
        raise _Unavailable("down", "DATABASE_URL is not set")
    try:
        conn = connect(database_url, connect_timeout=CONNECT_TIMEOUT, autocommit=True)
    except TargetError as exc:  # already scrubbed of the password
        raise _Unavailable("down", str(exc).replace("the target", "the database")) from None
    try:
        missing = [r[0] for r in conn.execute(
            "SELECT t FROM unnest(%s::text[]) t WHERE to_regclass(quote_ident(t)) IS NULL", (list(REQUIRED_TABLES),))]
    except psycopg.Error as exc:
        conn.close()
        raise _Unavailable("down", f"the database failed a query: {scrub(str(exc), database_url)}") from None
    if missing:
        conn.close()
        raise _Unavailable("missing tables", f"the Prisma tables are missing: {', '.join(missing)} "
                                             "(has `prisma migrate deploy` run?)")
    return conn


def _int_arg(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be an integer {bounds}, got {raw!r}")
    return value


def _json(body, status: int = 200) -> Response:
    return Response(orjson.dumps(body, default=_prisma_json), status=status, mimetype="application/json")


def _prisma_json(value):
    """What Prisma's JSON output makes of the types orjson does not write the same way."""
    if isinstance(value, decimal.Decimal):  # Decimal.js writes the shortest form: 2.5, not 2.500
        return format(value.normalize(), "f")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _prisma_row(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            # TIMESTAMP(3) holds UTC without a zone; Prisma prints it as ...T09:15:00.000Z
            value = value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        elif key == "viewCount" and value is not None:
            value = str(value)
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localrender.tasks_app",
                                     description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")),
                        help="port to listen on (default: $PORT, else 3000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = make_server(args.host, args.port, application, threaded=True)
    log.info("tasks app listening on http://%s:%d", args.host, server.server_port)
    server.serve_forever()


if __name__ == "__main__":
    main()
