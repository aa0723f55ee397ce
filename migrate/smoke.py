"""HTTP smoke checks against the deployed tasks app: ``/api/health``, ``/api/tasks`` and the task count.

Passes when ``/api/health`` answers 200 with a healthy JSON body, ``/api/tasks?take=50`` answers 200
with a JSON list, and (given a database URL) the task count the API reports equals
``SELECT count(*) FROM "Task"``. The count comes from the ``X-Total-Count`` header; without it, from
the list when it is shorter (or longer) than the page asked for; with neither, the check can only ask
the database for at least a page of tasks, and says so. Right after a deploy the app may still be
starting (or the old release still serving), so every failure is retried with backoff until
``timeout`` runs out; then :class:`~migrate.errors.SmokeFailed` says what was wrong. Passwords of the
database URL (or of any URL in a reply) never reach a message or the report.

Not built: the optional browser check (a short Playwright suite after the API checks).
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

from . import pg
from .errors import SmokeFailed, TargetError
from .progress import Progress
from .redact import redact, url_secrets

HEALTH_PATH, TASKS_PATH = "/api/health", "/api/tasks"
PAGE = 50  # the page the check asks for; also Prisma's usual `take` in the app
HEALTHY = {"ok", "healthy", "up", "pass", "passing", "connected"}
EXCERPT = 200  # characters of a reply body quoted in a failure
FIRST_DELAY, MAX_DELAY = 0.5, 5.0  # backoff between attempts: doubles, capped
REQUEST_TIMEOUT, MIN_REQUEST_TIMEOUT = 30.0, 5.0
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")


@dataclass
class Check:
    """One check of one attempt: ``name`` is health, tasks or count."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0


@dataclass
class SmokeReport:
    """The checks of the last attempt, how many attempts it took and the time from start to verdict."""

    url: str
    checks: list[Check] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def problems(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.ok)

    def to_dict(self) -> dict:
        return {"url": self.url, "ok": self.ok, "attempts": self.attempts, "seconds": round(self.seconds, 3),
                "checks": [{**asdict(c), "seconds": round(c.seconds, 3)} for c in self.checks]}


@dataclass
class _Listing:
    """What ``/api/tasks`` said about the count: a number and where it came from, or None."""

    count: int | None
    source: str
    length: int


def run_smoke(url: str, database_url: str | None = None, timeout: float = 120.0, progress: Progress | None = None,
              sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], float] = time.monotonic) -> SmokeReport:
    """Check the app at ``url``, retrying for up to ``timeout`` seconds; read-only on app and database.

    :param database_url: compare the API's task count with this database's ``"Task"`` table.
    :raises SmokeFailed: still failing when the time ran out (``.report`` holds the last attempt), or
        ``url`` is not an http(s) URL (then at once, without a report).
    """
    progress = progress or Progress()
    base, shown = url.rstrip("/"), _display(url)
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise SmokeFailed(f"the app URL must look like https://host, got {shown!r}")
    started = clock()
    deadline, delay = started + timeout, FIRST_DELAY
    with requests.Session() as session:
        session.headers["Accept"] = "application/json"
        for attempt in itertools.count(1):
            report = SmokeReport(shown, _attempt(session, base, database_url, clock, deadline), attempt)
            report.seconds = clock() - started
            if report.ok:
                progress.status(f"smoke {shown} ... ok ({_summary(report)})")
                return report
            if clock() + delay > deadline:
                break
            progress.status(f"smoke {shown}: attempt {attempt} failed ({report.problems()}); "
                            f"retrying in {delay:.1f} s")
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
    progress.status(f"smoke {shown} ... FAILED")
    message = (f"smoke checks against {shown} still failing after {report.attempts} attempt(s) in "
               f"{report.seconds:.1f} s: {report.problems()}")
    raise SmokeFailed(_scrub(message, database_url), report)


def _attempt(session: requests.Session, base: str, database_url: str | None, clock, deadline: float) -> list[Check]:
    def get(path: str) -> requests.Response:
        wait = max(MIN_REQUEST_TIMEOUT, min(REQUEST_TIMEOUT, deadline - clock()))
        return session.get(base + path, timeout=wait)

    checks = [_timed("health", clock, lambda: _check_health(get, database_url))]
    listing: list[_Listing] = []
    checks.append(_timed("tasks", clock, lambda: _check_tasks(get, database_url, listing)))
    if database_url and listing:
        checks.append(_timed("count", clock, lambda: _check_count(database_url, listing[0])))
    return checks


def _timed(name: str, clock, run: Callable[[], tuple[bool, str]]) -> Check:
    started = clock()
    ok, detail = run()
    return Check(name, ok, detail, clock() - started)


def _check_health(get, database_url: str | None) -> tuple[bool, str]:
    reply, failure = _request(get, HEALTH_PATH, database_url)
    if failure:
        return False, failure
    body = _json_or_none(reply)
    if not _healthy(body):
        return False, f"GET {HEALTH_PATH} -> 200 but the body is not healthy: {_excerpt(reply.text, database_url)}"
    return True, f"200 {_excerpt(reply.text, database_url)}"


def _check_tasks(get, database_url: str | None, listing: list) -> tuple[bool, str]:
    path = f"{TASKS_PATH}?take={PAGE}"
    reply, failure = _request(get, path, database_url)
    if failure:
        return False, failure
    body = _json_or_none(reply)
    if not isinstance(body, list):
        return False, f"GET {path} -> 200 but the body is not a JSON list: {_excerpt(reply.text, database_url)}"
    header = reply.headers.get("X-Total-Count")
    if header is not None:
        if not header.strip().isdigit():
            return False, f"GET {path}: X-Total-Count is not a count: {header[:40]!r}"
        listing.append(_Listing(int(header), "X-Total-Count", len(body)))
    elif len(body) != PAGE:
        # Shorter: that is all of them. Longer: the app ignored `take` and sent the whole table.
        listing.append(_Listing(len(body), "the list's length", len(body)))
    else:
        listing.append(_Listing(None, f"no X-Total-Count header and a full page of {PAGE}", len(body)))
    total = "no total" if listing[0].count is None else f"{listing[0].count} in all ({listing[0].source})"
    return True, f"200, {len(body)} task(s) on the first page, {total}"


def _check_count(database_url: str, listing: _Listing) -> tuple[bool, str]:
    try:
        with pg.connect(database_url, connect_timeout=10) as conn:
            in_db = conn.execute('SELECT count(*) FROM "Task"').fetchone()[0]
    except (TargetError, psycopg.Error) as exc:
        return False, f"cannot read the task count from the database: {_scrub(str(exc), database_url)}"
    if listing.count is None:
        ok = in_db >= listing.length
        return ok, (f"the API reports no total ({listing.source}): checked only that the database holds at least "
                    f"{listing.length} task(s); it holds {in_db}")
    if listing.count != in_db:
        return False, f"the API reports {listing.count} task(s) ({listing.source}), the database holds {in_db}"
    return True, f"{in_db} task(s) in the API and in the database"


def _request(get, path: str, database_url: str | None) -> tuple[requests.Response | None, str | None]:
    """The reply, or None and a one-line reason: no answer, or a status other than 200."""
    try:
        reply = get(path)
    except requests.Timeout:
        return None, f"GET {path}: no answer in time"
    except requests.RequestException as exc:
        reason = _ERRNO.search(str(exc))
        return None, f"GET {path}: cannot connect ({reason.group(0) if reason else type(exc).__name__})"
    if reply.status_code != 200:
        return None, f"GET {path} -> {reply.status_code}: {_excerpt(reply.text, database_url)}"
    return reply, None


def _json_or_none(reply: requests.Response):
    try:
        return reply.json()
    except ValueError:
        return None


def _healthy(body) -> bool:
    """``{"status": "ok"}`` (or healthy/up/pass), with ``database`` healthy too when present; or ``{"ok": true}``."""
    if not isinstance(body, dict):
        return False
    if "status" not in body:
        return body.get("ok") is True
    database = body.get("database")
    return str(body["status"]).lower() in HEALTHY and (database is None or str(database).lower() in HEALTHY)


def _excerpt(text: str, database_url: str | None) -> str:
    text = _scrub(text, database_url) or "(empty body)"
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def _scrub(text: str, database_url: str | None) -> str:
    """One line, with the database URL's password and any ``scheme://user:password@`` masked."""
    return redact(text, url_secrets(database_url), one_line=True)


def _display(url: str) -> str:
    """``url`` without user information (a basic-auth password must not be printed either)."""
    parts = urlsplit(url.rstrip("/"))
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _summary(report: SmokeReport) -> str:
    names = ", ".join(c.name for c in report.checks)
    return f"{names} in {report.attempts} attempt(s), {report.seconds:.1f} s"
