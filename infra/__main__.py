"""The tasks-cutover Pulumi program, wiring only: config -> Render database -> cutover chain -> stack outputs.

The chain, in dependency order (each arrow is a ``depends_on``; the page steps exist where maintenanceWindow is on,
the write steps where the stack enables them)::

    db -> maintenance-on -> migrate-deploy -> import -> database-url -> deploy -> smoke -> maintenance-off

``databaseUrl`` (config) decides what ``database-url`` sets: ``stack``, the database's internal URL; ``previous``,
the value DATABASE_URL held before this stack first set it. Switching between them is an *update* of the same
resource, and the deploy is triggered by a digest of the value the key then holds, so reverting the commit that
switched it gives the service its old value back and deploys it, with no resource to delete (the database stays
declared either way). The smoke compares the task count with the stack's database only while the service uses it.

The maintenance page is two resources on the same service: ``maintenance-on`` (enabled) before the first write
and ``maintenance-off`` (disabled) after the smoke step. Both carry the window's digest (database id, migrations,
import source, databaseUrl) as triggers, so a new window, a switch or its revert, turns the page on again before
anything changes and off after the next smoke; an ``up`` with nothing new touches neither. A failed step stops
the chain with the page still on.
"""

import sys
from pathlib import Path

# Pulumi runs `main: infra/` with runpy.run_path, which puts infra/ itself (not the project root) on sys.path.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import pulumi  # noqa: E402

from infra import steps  # noqa: E402
from infra.config import StackConfig, load_config  # noqa: E402
from infra.render.deploy import ServiceDeploy, ServiceDeployArgs  # noqa: E402
from infra.render.env_var import ServiceEnvVar, ServiceEnvVarArgs  # noqa: E402
from infra.render.maintenance import MaintenanceMode, MaintenanceModeArgs  # noqa: E402
from infra.render.postgres import RenderPostgres  # noqa: E402


def after(resource: pulumi.Resource) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(depends_on=[resource])


def main() -> None:
    # Raises ConfigError (every problem, each with its fix) before any resource is declared.
    config = load_config(pulumi.Config(), pulumi.get_stack())
    db = RenderPostgres("db", config.postgres_args(), config.database.resource_options())
    chain: list[tuple[str, pulumi.Resource]] = [("db", db)]
    window = None
    if config.maintenance_window:
        window = steps.window_digest(config, db)
        page_on = MaintenanceMode("maintenance-on", MaintenanceModeArgs(config.service_id, True, triggers=window),
                                  after(db))
        chain.append(("maintenance-on", page_on))
    chain += steps.write_steps(config, db, after=chain[-1][1])
    database_url = ServiceEnvVar("database-url", database_url_args(config, db), after(chain[-1][1]))
    # Env var writes do not redeploy; a new value (by its digest: the value the key holds, in either mode) makes
    # a new deploy.
    deploy = ServiceDeploy("deploy", ServiceDeployArgs(config.service_id, [steps.value_digest(database_url.value)]),
                           after(database_url))
    smoke = steps.smoke(config, db if config.uses_stack_database else None, deploy)
    chain += [("database-url", database_url), ("deploy", deploy), (steps.SMOKE, smoke)]
    if config.maintenance_window:
        page_off = MaintenanceMode("maintenance-off", MaintenanceModeArgs(
            config.service_id, False, triggers=[window, smoke.id]), after(smoke))
        chain.append(("maintenance-off", page_off))
    export(config, db, database_url, deploy, [name for name, _ in chain])


def database_url_args(config: StackConfig, db: RenderPostgres) -> ServiceEnvVarArgs:
    """DATABASE_URL: the database's internal URL (``stack``), or back to what it held before (``previous``)."""
    if config.uses_stack_database:
        return ServiceEnvVarArgs(config.service_id, "DATABASE_URL", pulumi.Output.secret(db.internal_connection_string))
    return ServiceEnvVarArgs(config.service_id, "DATABASE_URL", restore_previous=True)


def export(config: StackConfig, db: RenderPostgres, database_url: ServiceEnvVar, deploy: ServiceDeploy,
           chain: list[str]) -> None:
    pulumi.export("database_id", db.id)
    pulumi.export("database_dashboard_url", db.dashboard_url)
    pulumi.export("database_internal_url", pulumi.Output.secret(db.internal_connection_string))
    pulumi.export("database_external_url", pulumi.Output.secret(db.external_connection_string))
    pulumi.export("service_url", config.app_url)
    pulumi.export("deploy_id", deploy.deploy_id)
    pulumi.export("previous_deploy_id", deploy.previous_deploy_id)
    pulumi.export("deploy_dashboard_url", deploy.dashboard_url)
    # What DATABASE_URL held before this stack set it: the value a rollback restores.
    pulumi.export("previous_database_url", pulumi.Output.secret(database_url.previous_value))
    pulumi.export("database_url_mode", config.database_url)
    pulumi.export("cutover_chain", chain)


if __name__ == "__main__":
    main()
