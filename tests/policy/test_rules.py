"""Tests for policy/rules.py: each policy called as the analyzer calls it, once passing and once failing."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import (PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs,
                           ResourceValidationPolicy)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from infra.render import env_var, postgres
from policy import rules

SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
DB_URL = "postgresql://tasks:hunter2pass@dpg-x-a.oregon-postgres.render.com/tasks"
PG_SECRETS = ["internal_connection_string", "external_connection_string"]
OPEN = [{"cidr_block": "203.0.113.7/32", "description": "ops"}]


def _args(type_: str, props: dict[str, Any], *, stack: str = "prd", name: str = "db", protect: bool = False,
          secret_outputs: list[str] | None = None) -> ResourceValidationArgs:
    """Arguments as the analyzer builds them: wire props deserialized, then wrapped to raise on unknowns."""
    opts = PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), list(secret_outputs or []))
    urn = f"urn:pulumi:{stack}::tasks-cutover::{type_}::{name}"
    return ResourceValidationArgs(type_, unknown_checking_proxy(deserialize_properties(props)), urn, name, opts, None)


def _violations(policy: ResourceValidationPolicy, args: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def _postgres(stack: str = "prd", *, protect: bool = True, allow: Any = OPEN,
              secret_outputs: list[str] | None = None) -> ResourceValidationArgs:
    props = {"name": "tasks-prd-db", "plan": "basic_1gb", "ip_allow_list": allow}
    return _args(rules.POSTGRES, props, stack=stack, protect=protect,
                 secret_outputs=PG_SECRETS if secret_outputs is None else secret_outputs)


def _command(environment: Any, logging: str | None = None, name: str = "migrate-deploy") -> ResourceValidationArgs:
    props: dict[str, Any] = {"create": "npx prisma migrate deploy", "environment": environment}
    if logging is not None:
        props["logging"] = logging
    return _args(rules.COMMAND, props, name=name)


# --- the pack matches the program ----------------------------------------------------------------------------

def test_type_tokens_and_secret_outputs_match_the_resources():
    assert "pulumi-python:" + postgres.RenderPostgres._resource_type_name == rules.POSTGRES
    assert "pulumi-python:" + env_var.ServiceEnvVar._resource_type_name == rules.ENV_VAR
    assert rules.SECRET_OUTPUTS[rules.POSTGRES] == set(postgres.SECRET_OUTPUTS)
    assert rules.SECRET_OUTPUTS[rules.ENV_VAR] == set(env_var.SECRET_OUTPUTS)


def test_every_policy_is_mandatory():
    assert {p.enforcement_level.value for p in rules.POLICIES} == {"mandatory"}
    assert len({p.name for p in rules.POLICIES}) == len(rules.POLICIES)


def test_secret_inputs_reach_a_validation_as_plain_values():
    # Why the rules check additional_secret_outputs, not the inputs: the analyzer unwraps secrets.
    props = deserialize_properties({"value": {**SECRET_SIG, "value": DB_URL}})
    assert props == {"value": DB_URL}


def test_stack_of_reads_the_stack_from_the_urn():
    assert rules.stack_of("urn:pulumi:prd::tasks-cutover::pulumi-python:dynamic/render:Postgres::db") == "prd"
    assert rules.stack_of("urn:pulumi:stg::tasks-cutover::a$command:local:Command::x") == "stg"


# --- prd-database-protected ----------------------------------------------------------------------------------

def test_protected_prd_database_passes():
    assert _violations(rules.prd_database_protected, _postgres()) == []


def test_unprotected_prd_database_is_a_violation():
    assert _violations(rules.prd_database_protected, _postgres(protect=False)) == [
        "the prd database 'db' must be protected (ResourceOptions(protect=True), from database.protect in "
        "Pulumi.prd.yaml): nothing may delete or replace it"]


def test_stg_database_protection_is_left_to_the_stack_config():
    assert _violations(rules.prd_database_protected, _postgres("stg", protect=False)) == []


# --- secret-outputs-declared ---------------------------------------------------------------------------------

def test_postgres_with_secret_connection_strings_passes():
    assert _violations(rules.secret_outputs_declared, _postgres()) == []


def test_postgres_without_secret_connection_strings_is_a_violation():
    found = _violations(rules.secret_outputs_declared, _postgres(secret_outputs=["internal_connection_string"]))
    assert found == ["'db' must declare additional_secret_outputs ['external_connection_string']: connection "
                     "strings and env var values are credentials and must be stored encrypted"]


def test_env_var_value_must_be_a_secret_output():
    props = {"service_id": "srv-x", "key": "DATABASE_URL", "value": {**SECRET_SIG, "value": DB_URL}}
    good = _args(rules.ENV_VAR, props, name="database-url", secret_outputs=["value", "previous_value"])
    bad = _args(rules.ENV_VAR, props, name="database-url", secret_outputs=["previous_value"])
    assert _violations(rules.secret_outputs_declared, good) == []
    assert _violations(rules.secret_outputs_declared, bad) == [
        "'database-url' must declare additional_secret_outputs ['value']: connection strings and env var values "
        "are credentials and must be stored encrypted"]


def test_other_types_need_no_secret_outputs():
    assert _violations(rules.secret_outputs_declared, _command({"APP_URL": "https://x"})) == []


# --- secret-commands-log-nothing -----------------------------------------------------------------------------

def test_command_with_credentials_and_logging_none_passes():
    environment = {**SECRET_SIG, "value": {"DATABASE_URL": DB_URL}}  # one secret value wraps the whole map
    assert _violations(rules.secret_commands_log_nothing, _command(environment, "none")) == []


@pytest.mark.parametrize("logging", [None, "stdout", "stdoutAndStderr"])
def test_command_with_credentials_that_logs_is_a_violation(logging):
    environment = {"DATABASE_URL": DB_URL, "RENDER_API_KEY": "rnd_x", "APP_URL": "https://x"}
    assert _violations(rules.secret_commands_log_nothing, _command(environment, logging)) == [
        "command 'migrate-deploy' receives credentials (DATABASE_URL, RENDER_API_KEY) and must set "
        "logging=local.Logging.NONE: Pulumi does not mask secrets in a command's log stream"]


def test_a_credential_url_under_any_name_counts_as_a_secret():
    found = _violations(rules.secret_commands_log_nothing, _command({"TARGET": DB_URL}, "stderr"))
    assert found and "(TARGET)" in found[0]


def test_command_without_credentials_may_log():
    environment = {"APP_URL": "https://tasks.onrender.com", "NODE_ENV": "production"}
    assert _violations(rules.secret_commands_log_nothing, _command(environment)) == []
    assert _violations(rules.secret_commands_log_nothing, _command(None)) == []


def test_credential_names_are_judged_even_when_their_values_are_unknown_in_a_preview():
    environment = {"DATABASE_URL": UNKNOWN_STRING_VALUE, "SMOKE_TARGET": UNKNOWN_STRING_VALUE}
    found = _violations(rules.secret_commands_log_nothing, _command(environment, "stdout"))
    assert found and "(DATABASE_URL)" in found[0]


def test_an_environment_unknown_as_a_whole_is_left_to_the_sdk_in_a_preview():
    # The analyzer turns UnknownValueError into an advisory "can't run during preview"; `up` judges it known.
    with pytest.raises(UnknownValueError):
        _violations(rules.secret_commands_log_nothing, _command(UNKNOWN_OBJECT_VALUE, "stdout"))


# --- prd-database-not-public ---------------------------------------------------------------------------------

def test_prd_database_with_a_narrow_allow_list_passes():
    assert _violations(rules.prd_database_not_public, _postgres()) == []
    assert _violations(rules.prd_database_not_public, _postgres(allow=[])) == []


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_prd_database_open_to_the_internet_is_a_violation(cidr):
    allow = OPEN + [{"cidr_block": cidr, "description": "everyone"}]
    assert _violations(rules.prd_database_not_public, _postgres(allow=allow)) == [
        f"the prd database 'db' allows {cidr}, the whole internet; list the addresses that need external access "
        f"instead"]


def test_prd_database_open_in_the_api_spelling_is_a_violation_too():
    found = _violations(rules.prd_database_not_public, _postgres(allow=[{"cidrBlock": "0.0.0.0/0"}]))
    assert len(found) == 1


def test_prd_database_without_an_allow_list_is_a_violation():
    assert _violations(rules.prd_database_not_public, _postgres(allow=None)) == [
        "the prd database 'db' must declare ip_allow_list: Render's default for a database without one may be "
        "open to every address"]


def test_stg_database_may_be_open():
    allow = [{"cidr_block": "0.0.0.0/0", "description": ""}]
    assert _violations(rules.prd_database_not_public, _postgres("stg", allow=allow)) == []
