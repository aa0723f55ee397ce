"""Helpers for tests of the stand-in tasks app: a migrated database with tasks, and the app as a process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests

from migrate.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "tests" / "fixtures" / "app" / "prisma" / "migrations"
POSTGRES_INIT = MIGRATIONS / "20251203_postgres_init" / "migration.sql"
APP_COMMAND = [sys.executable, "-m", "localrender.tasks_app"]


def migrate_schema(url: str) -> None:
    """Create the Prisma tables as ``prisma migrate deploy`` would (the app's first migration)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(POSTGRES_INIT.read_text())


def add_tasks(url: str, count: int) -> None:
    """``count`` more tasks (plus the one user and project they need, the first time)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""INSERT INTO "User" (id, email) VALUES (1, 'a@example.com') ON CONFLICT DO NOTHING""")
        conn.execute("""INSERT INTO "Project" (id, name, "ownerId") VALUES (1, 'P', 1) ON CONFLICT DO NOTHING""")
        conn.execute("""INSERT INTO "Task" (title, "updatedAt", "projectId")
                        SELECT 'task ' || g, now(), 1 FROM generate_series(1, %s) g""", (count,))


def tasks_database(url: str, count: int = 3) -> str:
    migrate_schema(url)
    add_tasks(url, count)
    return url


class AppProcess:
    """``python -m localrender.tasks_app`` on a free port, started now or after a delay; ``stop()`` ends it."""

    def __init__(self, database_url: str, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "DATABASE_URL": database_url}
        self._log_path = log_path
        self._popen: subprocess.Popen | None = None
        self._timer: threading.Timer | None = None

    def start(self, after: float = 0.0) -> "AppProcess":
        if after:
            self._timer = threading.Timer(after, self._spawn)
            self._timer.start()
        else:
            self._spawn()
        return self

    def _spawn(self) -> None:
        with open(self._log_path, "ab") as log:
            self._popen = subprocess.Popen([*APP_COMMAND, "--port", str(self.port)], env=self._env, cwd=ROOT,
                                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_listening(self, timeout: float = 15.0) -> "AppProcess":
        """Until the app answers at all (any status); the smoke checks judge the answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/api/health", timeout=5)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"the tasks app did not listen within {timeout} s; log: {self.log()}")

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer.join()
        if self._popen and self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(5)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()


class FakeTime:
    """An injectable clock and sleep: sleeping moves the clock, nothing waits."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
