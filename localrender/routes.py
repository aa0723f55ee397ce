"""The URL map: which handler serves which method and path."""

from __future__ import annotations

from werkzeug.routing import Map, Rule

from . import deploys, envvars, owners, postgres, services

_API = [
    ("/v1/owners", {"GET": owners.list_owners}),
    ("/v1/owners/<owner_id>", {"GET": owners.get_owner}),
    ("/v1/postgres", {"GET": postgres.list_postgres, "POST": postgres.create_postgres}),
    ("/v1/postgres/<postgres_id>", {"GET": postgres.get_postgres, "PATCH": postgres.patch_postgres,
                                    "DELETE": postgres.delete_postgres}),
    ("/v1/postgres/<postgres_id>/connection-info", {"GET": postgres.connection_info}),
    ("/v1/postgres/<postgres_id>/suspend", {"POST": postgres.suspend_postgres}),
    ("/v1/postgres/<postgres_id>/resume", {"POST": postgres.resume_postgres}),
    ("/v1/services", {"GET": services.list_services}),
    ("/v1/services/<service_id>", {"GET": services.get_service, "PATCH": services.patch_service}),
    ("/v1/services/<service_id>/env-vars", {"GET": envvars.list_env_vars, "PUT": envvars.replace_env_vars}),
    ("/v1/services/<service_id>/env-vars/<key>", {"GET": envvars.get_env_var, "PUT": envvars.put_env_var,
                                                  "DELETE": envvars.delete_env_var}),
    ("/v1/services/<service_id>/deploys", {"GET": deploys.list_deploys, "POST": deploys.create_deploy}),
    ("/v1/services/<service_id>/deploys/<deploy_id>", {"GET": deploys.get_deploy}),
    ("/v1/services/<service_id>/deploys/<deploy_id>/cancel", {"POST": deploys.cancel_deploy}),
    ("/v1/services/<service_id>/rollback", {"POST": deploys.rollback}),
    ("/deploy/<service_id>", {"GET": deploys.deploy_hook, "POST": deploys.deploy_hook}),
]


def build_map(admin: list[tuple[str, dict]]) -> tuple[Map, dict]:
    """A werkzeug Map whose endpoints are ``"<path>|<METHOD>"`` keys into the returned handler table."""
    rules, table = [], {}
    for path, methods in _API + admin:
        for method, handler in methods.items():
            endpoint = f"{path}|{method}"
            rules.append(Rule(path, endpoint=endpoint, methods=[method]))
            table[endpoint] = handler
    return Map(rules, strict_slashes=False), table
