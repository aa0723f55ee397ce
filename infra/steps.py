"""The cutover chain's commands (pulumi-command ``local.Command``): migrate deploy, import + verify, smoke.

Each command runs its ``create`` once, and again only when its ``triggers`` change (pulumi-command always
*replaces* on a trigger change, which runs ``create`` anew). The triggers are the step's real inputs: the
database id, a sha256 of the migration files, a sha256 of the import source, the app URL and the deploy id.
Every other input (the interpreter's and the checkout's absolute paths, which differ between the machines
that run ``pulumi up``, or a flag) runs ``update`` instead, which is a no-op: an import must not run again
because the operator's virtualenv moved.

The connection strings reach the commands only through ``environment`` (as secrets), never the command line
(``ps`` would show it, and Pulumi stores ``create`` in plain text). Every command here sees a connection
string, so all of them log nothing (Pulumi does not mask secrets in a command's log stream) and store their
stdout/stderr as secrets.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import pulumi
from pulumi_command import local

from infra.config import StackConfig
from infra.render.deploy import ServiceDeploy
from infra.render.postgres import RenderPostgres

MIGRATE_DEPLOY = "migrate-deploy"
IMPORT = "import"
SMOKE = "smoke"
NOTHING_TO_REDO = ":"  # the shell's no-op: see the module docstring
SECRET_STREAMS = ["stdout", "stderr"]
_CHUNK = 1 << 20


def tree_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes, or of a directory's files (relative paths and contents, sorted).

    :raises OSError: when ``path`` cannot be read.
    """
    path = Path(path)
    if path.is_file():
        return "sha256:" + _file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0" + _file_sha256(file).encode() + b"\n")
    return "sha256:" + digest.hexdigest()


def migrations_digest(app_dir: Path) -> str:
    """The digest of ``prisma/migrations`` (each migration.sql, migration_lock.toml): what migrate deploy applies."""
    return tree_digest(Path(app_dir) / "prisma" / "migrations")


def value_digest(value: pulumi.Output[str]) -> pulumi.Output[str]:
    """A sha256 of a secret value, for triggers: it changes when the value does, and reveals nothing of it, so it
    is deliberately *not* secret (a preview then shows which deploy a new value causes)."""
    return pulumi.Output.unsecret(value.apply(lambda v: "sha256:" + hashlib.sha256((v or "").encode()).hexdigest()))


def window_digest(config: StackConfig, db: RenderPostgres) -> pulumi.Output[str]:
    """What opens a new maintenance window: the inputs of the write steps (database, migrations, import source)
    and where DATABASE_URL points (so a switch and its revert are wrapped too)."""
    migrations = migrations_digest(config.app_dir) if config.migrate_deploy else None
    source = tree_digest(config.data_import.source) if config.data_import.enabled else None

    def digest(db_id: str) -> str:
        text = json.dumps([db_id, migrations, source, config.database_url])
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    return db.id.apply(digest)


def write_steps(config: StackConfig, db: RenderPostgres,
                after: pulumi.Resource) -> list[tuple[str, local.Command]]:
    """The steps that write the database, in order, with their names: ``prisma migrate deploy``, then the import
    (+ verify), each only where the stack enables it (a stg sharing prd's database has neither: load_config)."""
    declared: list[tuple[str, local.Command]] = []
    if config.migrate_deploy:
        declared.append((MIGRATE_DEPLOY, migrate_deploy(config, db, after)))
    if config.data_import.enabled:
        declared.append((IMPORT, data_import(config, db, declared[-1][1] if declared else after)))
    return declared


def migrate_deploy(config: StackConfig, db: RenderPostgres, after: pulumi.Resource) -> local.Command:
    """``prisma migrate deploy`` with the app's own Prisma CLI, in the app directory, against the external URL."""
    app_dir = config.app_dir
    prisma = app_dir / "node_modules" / ".bin" / "prisma"
    environment = {**_database_url(db), "NO_COLOR": "1", "CHECKPOINT_DISABLE": "1"}
    return _command(MIGRATE_DEPLOY, [str(prisma), "migrate", "deploy"], app_dir, environment,
                    triggers=[db.id, migrations_digest(app_dir)], after=after)


def data_import(config: StackConfig, db: RenderPostgres, after: pulumi.Resource) -> local.Command:
    """``python -m migrate import`` (which verifies counts and content hashes; exit 3 on a mismatch) from the
    configured SQLite snapshot or JSON export into the migrated database."""
    options = config.data_import
    argv = [sys.executable, "-m", "migrate", "import", "--source", str(options.source), "-q"]
    argv += ["--replace"] if options.replace else []
    argv += ["--strip-nul"] if options.strip_nul else []
    return _command(IMPORT, argv, config.project_dir, _database_url(db),
                    triggers=[db.id, tree_digest(options.source)], after=after)


def smoke(config: StackConfig, db: Optional[RenderPostgres], deploy: ServiceDeploy) -> local.Command:
    """``python -m migrate smoke`` against the app once the deploy is live. Runs again for a new deploy or another
    app URL.

    :param db: the database the service now uses, whose task count the smoke compares with the API's; ``None``
        while DATABASE_URL keeps its previous value: that database is known only by its internal URL, which the
        runner cannot reach, so the smoke checks the API alone (health, the task list).
    """
    argv = [sys.executable, "-m", "migrate", "smoke", "--url", config.app_url]
    # Blank, not absent: the environment is added to the runner's own, whose DATABASE_URL must not be used instead.
    environment = _database_url(db) if db is not None else {"DATABASE_URL": ""}
    return _command(SMOKE, argv, config.project_dir, environment,
                    triggers=[config.app_url, deploy.deploy_id], after=deploy)


def _database_url(db: RenderPostgres) -> dict[str, Any]:
    # The runner is outside Render's private network, so the commands use the external URL. Marked secret here
    # too, so the environment input is secret whatever the engine does with the output.
    return {"DATABASE_URL": pulumi.Output.secret(db.external_connection_string)}


def _command(name: str, argv: Sequence[str], directory: Path, environment: dict[str, Any], *,
             triggers: list[Any], after: Optional[pulumi.Resource]) -> local.Command:
    return local.Command(
        name,
        create=shlex.join(argv),
        update=NOTHING_TO_REDO,
        dir=str(directory),
        environment=environment,
        triggers=triggers,
        logging=local.Logging.NONE,
        add_previous_output_in_env=False,  # the last run's output must not travel into the next run's env
        opts=pulumi.ResourceOptions(depends_on=[after] if after is not None else None,
                                    additional_secret_outputs=SECRET_STREAMS),
    )


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and mtime as well: the window digest and the import's triggers read the same snapshot, which
    # may be gigabytes, and a file changed since is read again.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
