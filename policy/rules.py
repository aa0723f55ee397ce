"""The guard rails `pulumi preview --policy-pack policy` enforces; plain callables, so tests can run them directly.

What the policy SDK (pulumi-policy 1.21) shows a validation, and so what these rules can and cannot check:
- ``props`` are the resource's *inputs* under wire names; dynamic resources (ours) keep their Python names
  (``ip_allow_list``), pulumi-command uses camelCase (``environment``, ``logging``).
- Secret inputs arrive **unwrapped to plain values**: the analyzer deserializes them without marking them
  (only remediations get ``Secret`` markers). A validation therefore cannot tell whether an input was secret.
  What it can see is ``opts.additional_secret_outputs``, which makes the engine store those outputs encrypted;
  the rules below check that option (whether the *input* was ``Output.secret`` is checked by the mocks tests).
- ``opts`` has ``protect`` but not ``retain_on_delete``; infra/config.py and the mocks tests cover the latter.
- During a preview an input computed from another resource is unknown; reading it raises ``UnknownValueError``,
  which the SDK turns into an advisory "can't run during preview" note. The same policy runs again, with known
  values, before each resource is created or updated in `pulumi up`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Mapping, Optional

from pulumi_policy import (EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy)
from pulumi_policy.proxy import UnknownValueError

PRODUCTION = "prd"
POSTGRES = "pulumi-python:dynamic/render:Postgres"
ENV_VAR = "pulumi-python:dynamic/render:ServiceEnvVar"
COMMAND = "command:local:Command"
# The outputs each type must declare in additional_secret_outputs (infra/render/*.py SECRET_OUTPUTS; a test
# keeps these in step: the pack runs in its own process and does not import the program).
SECRET_OUTPUTS: Mapping[str, frozenset[str]] = {
    POSTGRES: frozenset({"internal_connection_string", "external_connection_string"}),
    ENV_VAR: frozenset({"value", "previous_value"}),
}
# Environment variables that carry credentials by name ...
SECRET_ENV_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|DATABASE_URL|DIRECT_URL|CONNECTION_STRING|DSN",
                             re.IGNORECASE)
# ... or by value: a URL with a password in it (postgresql://user:pass@host/db).
CREDENTIAL_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/@:\s]+:[^/@\s]+@", re.IGNORECASE)


def stack_of(urn: str) -> str:
    """The stack name in ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def _prd_database_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == POSTGRES and stack_of(args.urn) == PRODUCTION and not args.opts.protect:
        report(f"the prd database {args.name!r} must be protected (ResourceOptions(protect=True), from "
               f"database.protect in Pulumi.prd.yaml): nothing may delete or replace it")


def _secret_outputs_declared(args: ResourceValidationArgs, report: ReportViolation) -> None:
    wanted = SECRET_OUTPUTS.get(args.resource_type)
    if wanted is None:
        return
    missing = sorted(wanted - set(args.opts.additional_secret_outputs or ()))
    if missing:
        report(f"{args.name!r} must declare additional_secret_outputs {missing}: connection strings and env var "
               f"values are credentials and must be stored encrypted")


def _secret_commands_log_nothing(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != COMMAND:
        return
    environment = args.props.get("environment")  # unknown as a whole: see the module docstring
    names = sorted(name for name in (environment or {}) if _carries_secret(environment, name))
    if names and args.props.get("logging") != "none":
        report(f"command {args.name!r} receives credentials ({', '.join(names)}) and must set "
               f"logging=local.Logging.NONE: Pulumi does not mask secrets in a command's log stream")


def _carries_secret(environment: Mapping[str, Any], name: str) -> bool:
    if SECRET_ENV_NAME.search(name):
        return True
    try:
        value = environment[name]
    except UnknownValueError:
        return False  # not known in this preview; judged again, known, during `pulumi up`
    return isinstance(value, str) and CREDENTIAL_URL.search(value) is not None


def _prd_database_not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != POSTGRES or stack_of(args.urn) != PRODUCTION:
        return
    entries = args.props.get("ip_allow_list")
    if entries is None:
        report(f"the prd database {args.name!r} must declare ip_allow_list: Render's default for a database "
               f"without one may be open to every address")
        return
    for entry in entries:
        cidr = _cidr(entry)
        network = _network(cidr)
        if network is not None and network.prefixlen == 0:
            report(f"the prd database {args.name!r} allows {cidr}, the whole internet; list the addresses that "
                   f"need external access instead")


def _cidr(entry: Any) -> Optional[str]:
    if not isinstance(entry, Mapping):
        return None
    # The resource accepts both spellings (infra/render/_postgres_rules.normalize).
    return entry.get("cidr_block", entry.get("cidrBlock"))


def _network(cidr: Any) -> Optional[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False) if isinstance(cidr, str) else None
    except ValueError:
        return None


def _policy(name: str, description: str,
            validate: Callable[[ResourceValidationArgs, ReportViolation], None]) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


prd_database_protected = _policy(
    "prd-database-protected", "The prd Render Postgres is protected against delete and replace.",
    _prd_database_protected)
secret_outputs_declared = _policy(
    "secret-outputs-declared", "Connection strings and env var values are secret outputs.",
    _secret_outputs_declared)
secret_commands_log_nothing = _policy(
    "secret-commands-log-nothing", "Commands whose environment carries credentials log nothing.",
    _secret_commands_log_nothing)
prd_database_not_public = _policy(
    "prd-database-not-public", "The prd database's IP allow list is declared and not the whole internet.",
    _prd_database_not_public)

POLICIES = [prd_database_protected, secret_outputs_declared, secret_commands_log_nothing, prd_database_not_public]
