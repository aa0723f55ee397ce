"""A throwaway PostgreSQL cluster: initdb + pg_ctl on a free port in a temp dir.

Used by the test suite (one cluster per session, one database per test) and by
``python -m migrate rehearse`` (one cluster per rehearsal). Nothing here touches
a cluster it did not create.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from .errors import MigrateError

# initdb refuses to run as root, so when we are root the cluster belongs to this
# OS user (Debian's postgresql package creates it).
_SERVICE_USER = "postgres"


def find_bindir() -> Path | None:
    """Where initdb/pg_ctl live: ``$PG_BINDIR``, else the newest Debian install, else ``$PATH``."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    # Prefer 15 (Render's version for this project), then any other installed major.
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: (("/15/" not in p), p))
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A PostgreSQL server owned by this process; ``with Cluster() as c: c.url("db")``."""

    def __init__(self, bindir: Path | None = None, port: int | None = None, settings: dict | None = None):
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise MigrateError("PostgreSQL server binaries not found; install the 'postgresql' package or set PG_BINDIR")
        self.port = port or free_port()
        # Durability is irrelevant for a throwaway cluster; these make tests and rehearsals faster
        # without changing what SQL does.
        self.settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                         "max_wal_size": "4GB", "shared_buffers": "256MB", **(settings or {})}
        self.datadir: Path | None = None
        self._tmp: str | None = None
        self._run_as = _SERVICE_USER if os.geteuid() == 0 else None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Cluster":
        self._tmp = tempfile.mkdtemp(prefix="pgcluster-")
        self.datadir = Path(self._tmp) / "data"
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self._tmp, entry.pw_uid, entry.pw_gid)
        self._pg("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8", "-N")
        opts = " ".join([f"-p {self.port}", f"-k {self._tmp}", "-c listen_addresses=127.0.0.1"]
                        + [f"-c {k}={v}" for k, v in self.settings.items()])
        self._pg("pg_ctl", "-D", str(self.datadir), "-o", opts, "-l", str(Path(self._tmp) / "server.log"),
                 "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        if self.datadir is not None and self.datadir.exists():
            self._pg("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", check=False)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self.datadir = self._tmp = None

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- use ----------------------------------------------------------------------------------
    def url(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / tool), *args]
        if self._run_as:
            cmd = ["runuser", "-u", self._run_as, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise MigrateError(f"{tool} failed with exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return proc
