"""Guard rails across keys and stacks: prd never touches the stg database, a shared stg never writes, prd is safe,
and DATABASE_URL only ever points at a database that is ready for the app."""

from __future__ import annotations

from typing import Any, Mapping

import yaml

from infra.config import (DATABASE_URL_PREVIOUS, DATABASE_URL_STACK, PROJECT, STAGING, StackConfig, fix, parse_cidr,
                          read_stack_file)

_EXAMPLE_CIDR = "203.0.113.7/32"


def check(config: StackConfig) -> list[str]:
    """One line per broken rule (naming the key, the reason and the fix); empty when all hold."""
    problems = _shared_stg(config)
    if config.is_production:
        problems += _production(config) + _switch(config) + _not_stg(config)
    return problems


def _switch(config: StackConfig) -> list[str]:
    """prd's DATABASE_URL may point at its database only once that database is ready for the app.

    A database the stack creates (no ``adoptId``) has no schema until ``prisma migrate deploy`` ran, and prd's
    new database holds no data until the import ran. On prd the import and the switch also belong to the same
    ``up`` (one maintenance window): an import whose switch waits for a later ``up`` would miss every write the
    app makes on its old database in between.
    """
    stack, problems = config.stack, []
    if config.database_url == DATABASE_URL_STACK and not config.database.adopt_id and not config.migrate_deploy:
        problems.append(f"databaseUrl stack needs migrateDeploy true: {stack} creates its database, and without "
                        f"`prisma migrate deploy` the service would be pointed at a database without the app's "
                        f"schema; fix: {fix('migrateDeploy', 'true', stack)} (or keep "
                        f"{fix('databaseUrl', DATABASE_URL_PREVIOUS, stack)})")
    if config.database_url == DATABASE_URL_STACK and not config.data_import.enabled:
        problems.append(f"databaseUrl stack needs import.enabled true on {stack}: the new database holds no data "
                        f"until the import copies it, so the app would serve an empty database; the import and the "
                        f"switch go in one commit; fix: {fix('import.enabled', 'true', stack)} (or keep "
                        f"{fix('databaseUrl', DATABASE_URL_PREVIOUS, stack)})")
    if config.database_url == DATABASE_URL_PREVIOUS and config.data_import.enabled:
        problems.append(f"import.enabled needs databaseUrl stack on {stack}: the import and the switch go in one "
                        f"`pulumi up` (one maintenance window), or every write the app makes on its old database "
                        f"before a later switch would be missing from the new one; fix: "
                        f"{fix('databaseUrl', DATABASE_URL_STACK, stack)} (or "
                        f"{fix('import.enabled', 'false', stack)})")
    return problems


def _shared_stg(config: StackConfig) -> list[str]:
    """While prd still points at the stg database, stg may only read it: the plan's read-only rule, enforced."""
    if not config.shared_with_prd:
        return []
    stack = config.stack
    if config.is_production:
        return [f"sharedWithPrd is a flag of the stg stack (true while prd still points at the stg database) and "
                f"means nothing on prd; fix: {fix('sharedWithPrd', 'false', stack)}"]
    why = (f"while sharedWithPrd is true, {stack}'s database is also prd's live database, so {stack} must not "
           f"write to it")
    problems = []
    if config.migrate_deploy:
        problems.append(f"migrateDeploy must be false: {why} (`prisma migrate deploy` would change prd's schema); "
                        f"fix: {fix('migrateDeploy', 'false', stack)}")
    if config.data_import.enabled:
        problems.append(f"import.enabled must be false: {why} (an import would overwrite prd's data); "
                        f"fix: {fix('import.enabled', 'false', stack)}")
    for key, value in (("protect", config.database.protect), ("retainOnDelete", config.database.retain_on_delete)):
        if not value:
            problems.append(f"database.{key} must be true: while sharedWithPrd is true the database holds prd's "
                            f"live data; fix: {fix(f'database.{key}', 'true', stack)}")
    return problems


def _production(config: StackConfig) -> list[str]:
    """prd's own rules: a paid, protected, kept database, closed to the internet; imports only in a window."""
    db, stack = config.database, config.stack
    problems = []
    if db.plan == "free":
        problems.append(f"database.plan must be a paid plan on {stack} (Starter or better, e.g. basic_1gb), got "
                        f"'free': free databases expire and have no backups; "
                        f"fix: {fix('database.plan', 'basic_1gb', stack)}")
    for key, value in (("protect", db.protect), ("retainOnDelete", db.retain_on_delete)):
        if not value:
            problems.append(f"database.{key} must be true on {stack}: no `pulumi up` or `destroy` may delete prd's "
                            f"data; fix: {fix(f'database.{key}', 'true', stack)}")
    if config.data_import.enabled and not config.maintenance_window:
        problems.append(f"import.enabled needs maintenanceWindow true on {stack}: the app must not write while its "
                        f"data is copied; fix: {fix('maintenanceWindow', 'true', stack)}")
    return problems + _allow_list(config)


def _allow_list(config: StackConfig) -> list[str]:
    """prd's IP allow list is explicit and never the whole internet.

    Deliberately no override key: policy/rules.py enforces the same rule in `pulumi preview --policy-pack` and
    cannot read stack config, so an override would pass here and fail there.
    """
    entries, stack = config.database.ip_allow_list, config.stack
    first = fix("database.ipAllowList[0].cidrBlock", _EXAMPLE_CIDR, stack)
    if entries is None:
        return [f"database.ipAllowList is missing: {stack} must declare who may connect from outside Render (the "
                f"addresses that run the migrate and import steps; an empty list allows Render's private network "
                f"only), because Render's default may be open to everyone; fix: {first}"]
    problems = []
    for index, entry in enumerate(entries):
        network = parse_cidr(entry["cidr_block"])
        if network is not None and network.prefixlen == 0:
            key = f"database.ipAllowList[{index}].cidrBlock"
            problems.append(f"{key} is {entry['cidr_block']}, which opens {stack}'s database to the whole internet; "
                            f"list the addresses that need it instead; fix: {fix(key, _EXAMPLE_CIDR, stack)}")
    return problems


def _not_stg(config: StackConfig) -> list[str]:
    """prd may never adopt or point at the stg database, as committed in Pulumi.stg.yaml (fails closed)."""
    stack = config.stack
    try:
        stg = read_stack_file(config.project_dir, STAGING)
    except (OSError, yaml.YAMLError) as exc:
        return [f"cannot check that {stack} stays off the stg database: Pulumi.{STAGING}.yaml in "
                f"{config.project_dir} is unreadable ({type(exc).__name__}); fix: restore it (git checkout "
                f"Pulumi.{STAGING}.yaml)"]
    stg_db = stg.get(f"{PROJECT}:database")
    stg_db = stg_db if isinstance(stg_db, Mapping) else {}
    db, problems = config.database, []
    if db.adopt_id and db.adopt_id == _text(stg_db.get("adoptId")):
        problems.append(f"database.adoptId {db.adopt_id} is the stg database (Pulumi.{STAGING}.yaml): {stack} must "
                        f"never adopt or point at it (stg data would leak into {stack} and stg would write "
                        f"{stack}'s data); {stack} gets its own database; fix: pulumi config rm --path "
                        f"database.adoptId --stack {stack}")
    if db.name and db.name == _text(stg_db.get("name")):
        problems.append(f"database.name {db.name!r} is the stg database's name (Pulumi.{STAGING}.yaml): the "
                        f"provider would take that database over instead of creating {stack}'s own; "
                        f"fix: {fix('database.name', 'tasks-prd-db', stack)}")
    if config.service_id and config.service_id == _text(stg.get(f"{PROJECT}:serviceId")):
        problems.append(f"serviceId {config.service_id} is the stg service (Pulumi.{STAGING}.yaml): {stack}'s "
                        f"DATABASE_URL and deploys belong on {stack}'s own service; "
                        f"fix: {fix('serviceId', 'srv-xxxxxxxxxxxxxxxxxxxx', stack)}")
    return problems


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None

