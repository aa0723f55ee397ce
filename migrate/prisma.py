"""Runs the app's own Prisma CLI (``migrate deploy`` / ``migrate status``) with secrets kept out of sight."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PrismaError
from .redact import redact, url_secrets

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Status report headings, e.g. "Following migration have not yet been applied:" (Prisma 6 says
# "migration" or "migrations" depending on the count).
_HEADING = re.compile(r"^Following migrations? ha(?:ve|s) (not yet been applied|failed):\s*$")
_TRACE = re.compile(r"^\d+: \w+::")
_MAX_SUMMARY = 500


@dataclass(frozen=True)
class PrismaRun:
    """One finished CLI run: ``output`` is stdout then stderr, already scrubbed of secrets."""

    command: str
    returncode: int
    elapsed: float
    output: str


@dataclass(frozen=True)
class MigrateStatus(PrismaRun):
    """``migrate status``: migrations not yet applied (``pending``) and failed ones (``failed``)."""

    pending: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return self.returncode == 0 and not self.pending and not self.failed


def migrate_deploy(app_dir: str | Path, database_url: str, timeout: float = 300.0) -> PrismaRun:
    """Apply every pending migration of ``app_dir/prisma/migrations`` to ``database_url``.

    :raises PrismaError: the CLI is missing, timed out or exited non-zero (message scrubbed of secrets).
    """
    run = _run(Path(app_dir), ["migrate", "deploy"], database_url, timeout)
    if run.returncode != 0:
        raise _failure(run)
    return run


def migrate_status(app_dir: str | Path, database_url: str, timeout: float = 120.0) -> MigrateStatus:
    """Report which migrations are applied; read-only (exit 1 with pending migrations is not an error).

    :raises PrismaError: the CLI could not produce a status report (unreachable database, bad setup).
    """
    run = _run(Path(app_dir), ["migrate", "status"], database_url, timeout)
    pending, failed = _status_lists(run.output)
    status = MigrateStatus(run.command, run.returncode, run.elapsed, run.output, pending, failed)
    if run.returncode != 0 and not (pending or failed):
        raise _failure(run)
    return status


def scrub(text: str, database_url: str) -> str:
    """``text`` with the connection string, its password (raw and decoded) and any URL password masked."""
    return redact(text, {database_url} | url_secrets(database_url))


def _run(app_dir: Path, args: list[str], database_url: str, timeout: float) -> PrismaRun:
    app_dir = app_dir.resolve()
    cli = app_dir / "node_modules" / ".bin" / "prisma"
    command = "prisma " + " ".join(args)
    if not cli.exists():
        raise PrismaError(f"the Prisma CLI is not installed in {app_dir}: expected {cli}; run `npm ci` there",
                          command)
    scheme = database_url.split("://", 1)[0] if "://" in database_url else ""
    if scheme not in ("postgresql", "postgres"):
        # Prisma itself would misreport this as a failed engine download.
        raise PrismaError(f"DATABASE_URL must be a postgresql:// URL; its scheme is {scheme or 'missing'!r}",
                          command)
    started = time.monotonic()
    # Own session so that a timeout can kill node and anything it spawned.
    try:
        proc = subprocess.Popen([str(cli), *args], cwd=app_dir, env=_environment(database_url),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, errors="replace", start_new_session=True)
    except OSError as exc:  # e.g. node itself is missing (the CLI is a `#!/usr/bin/env node` script)
        raise PrismaError(f"{command} could not start: {exc.strerror}", command) from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        output = scrub(_ANSI.sub("", out + err), database_url)
        raise PrismaError(f"{command} did not finish within {timeout:g} s and was killed", command, None, output)
    output = scrub(_ANSI.sub("", out + err), database_url)
    return PrismaRun(command, proc.returncode, time.monotonic() - started, output)


def _environment(database_url: str) -> dict[str, str]:
    # The URL travels only in the environment (never argv, which `ps` shows). PRISMA_* overrides
    # would change which engine runs, so none are passed; checkpoint is Prisma's update check.
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PRISMA_")}
    env.pop("FORCE_COLOR", None)
    env.update(DATABASE_URL=database_url, NO_COLOR="1", CHECKPOINT_DISABLE="1")
    return env


def _status_lists(output: str) -> tuple[list[str], list[str]]:
    lists: dict[str, list[str]] = {"not yet been applied": [], "failed": []}
    current = None
    for line in output.splitlines():
        heading = _HEADING.match(line.strip())
        if heading:
            current = lists[heading.group(1)]
        elif current is not None and line.strip():
            current.append(line.strip())
        else:
            current = None
    return lists["not yet been applied"], lists["failed"]


def _failure(run: PrismaRun) -> PrismaError:
    return PrismaError(f"{run.command} failed with exit {run.returncode}: {_summary(run.output)}",
                       run.command, run.returncode, run.output)


def _summary(output: str) -> str:
    """The CLI's error text on one line: from the first ``Error`` line on, else the last lines."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("Error")), max(len(lines) - 3, 0))
    # The schema engine appends a Rust span trace ("0: sql_schema_connector::...") that says nothing new.
    end = next((i for i in range(start, len(lines)) if _TRACE.match(lines[i])), len(lines))
    text = " ".join(lines[start:end]) or "no output"
    return text if len(text) <= _MAX_SUMMARY else text[:_MAX_SUMMARY - 3] + "..."
