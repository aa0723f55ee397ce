"""Tests for infra/local_engine.py (+ local_state.py): small programs whose resources the engine really applies.

Each test writes a program to ``<tmp>/infra/__main__.py`` (the engine runs ``<project>/infra`` as Pulumi does):
real commands, and a real dynamic resource (MaintenanceMode) against localrender.
"""

from __future__ import annotations

import textwrap

import pytest

from infra.local_engine import Secrets, engine_config, up
from infra.local_state import State
from localrender.seed import TASKS_SERVICE_ID

TOKEN = "tok-Sup3rSecretValue-42"
HEAD = """
import pulumi
from pulumi_command import local
from infra.render.maintenance import MaintenanceMode, MaintenanceModeArgs
secret_env = {"TOKEN": pulumi.Output.secret(%r)}
""" % TOKEN


def program(tmp_path, body: str):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "__main__.py").write_text(HEAD + textwrap.dedent(body))
    return tmp_path


def render_config(localrender, render_key) -> dict:
    return {"renderApiKey": render_key, "renderApiUrl": localrender.base_url}


def test_steps_run_in_dependency_order_and_a_dynamic_resource_is_really_created(tmp_path, localrender, render_key):
    project = program(tmp_path, f"""
        page = MaintenanceMode("page", MaintenanceModeArgs(service_id={TASKS_SERVICE_ID!r}))
        slow = local.Command("slow", create="sleep 0.4; echo one")
        last = local.Command("last", create='printf "%s" "$TOKEN" | wc -c', environment=secret_env,
                             opts=pulumi.ResourceOptions(depends_on=[slow, page]))
        pulumi.export("length", last.stdout)
        pulumi.export("first", slow.stdout)
    """)
    lines = []
    result = up(project, "prd", render_config(localrender, render_key), echo=lines.append)
    assert result.ok, result.error
    steps = {s.name: s for s in result.steps}
    assert steps["last"].started >= steps["slow"].started + steps["slow"].seconds
    assert steps["last"].started >= steps["page"].started + steps["page"].seconds
    assert steps["slow"].seconds >= 0.4 and set(steps["last"].dependencies) == {"slow", "page"}
    assert result.outputs == {"length": str(len(TOKEN)), "first": "one"}
    assert result.secret_outputs == {"length"}  # a command with a secret input has secret outputs
    service = localrender.state["services"][0]
    assert service["serviceDetails"]["maintenanceMode"]["enabled"] is True
    assert "last done in" in lines[-1]


def test_a_failing_command_stops_its_dependents_and_its_message_is_scrubbed(tmp_path, render_key):
    project = program(tmp_path, """
        bad = local.Command("bad", create='echo "cannot use $TOKEN at postgresql://u:pw9@h/db" >&2; exit 4',
                            environment=secret_env)
        after = local.Command("after", create="echo never", opts=pulumi.ResourceOptions(depends_on=[bad]))
    """)
    result = up(project, "prd", {"renderApiKey": render_key})
    assert not result.ok and [s.name for s in result.steps] == ["bad"]
    assert result.error.startswith("bad: the command exited with 4: cannot use [secret] at postgresql://u:[secret]@h")
    assert TOKEN not in result.report() and "pw9" not in result.report()


def test_a_provider_error_fails_the_step_with_the_providers_message(tmp_path, localrender, render_key):
    project = program(tmp_path, """
        MaintenanceMode("page", MaintenanceModeArgs(service_id="srv-nosuchservice00000"))
    """)
    result = up(project, "prd", render_config(localrender, render_key))
    assert not result.ok and result.steps[0].name == "page"
    assert result.error.startswith("page: ") and "srv-nosuchservice00000" in result.error
    assert render_key not in result.report()


def test_the_programs_own_error_is_the_result(tmp_path, render_key):
    project = program(tmp_path, """
        raise pulumi.RunError("refused: no resources")
    """)
    result = up(project, "prd", {"renderApiKey": render_key})
    assert result.steps == [] and result.error == "refused: no resources"


@pytest.mark.parametrize("value, text", [(True, "true"), (False, "false"), ("x", "x"),
                                         ({"a": [1]}, '{"a": [1]}')])
def test_config_reaches_the_program_as_the_cli_passes_it(value, text):
    assert engine_config({"key": value}) == {"tasks-cutover:key": text}


def test_secrets_are_scrubbed_with_the_passwords_inside_urls():
    secrets = Secrets(["postgresql://tasks:p%40ss@h:5432/db"])
    assert secrets.scrub("at postgresql://tasks:p%40ss@h:5432/db, p@ss, p%40ss") == "at [secret], [secret], [secret]"
    assert secrets.scrub("other mysql://root:hunter2@x/y") == "other mysql://root:[secret]@x/y"


# --- a second `up` on the same state ---------------------------------------------------------------------------

def rewrite(project, body: str) -> None:
    (project / "infra" / "__main__.py").write_text(HEAD + textwrap.dedent(body))


def ops(result) -> list[tuple[str, str]]:
    assert result.ok, result.error
    return [(s.name, s.op) for s in result.steps]


def page_enabled(localrender) -> bool:
    return localrender.state["services"][0]["serviceDetails"]["maintenanceMode"]["enabled"]


def test_a_second_up_updates_replaces_or_leaves_each_resource_by_its_diff(tmp_path, localrender, render_key):
    log = tmp_path / "runs.log"
    body = """
        MaintenanceMode("page", MaintenanceModeArgs(service_id={service!r}, enabled={enabled}))
        local.Command("same", create="echo same >> {log}")
        local.Command("trig", create="echo trig >> {log}", delete="echo trig-deleted >> {log}",
                      triggers=[{trigger!r}])
        local.Command("upd", create="echo upd-create >> {log}", update="echo upd-update >> {log}",
                      dir={dir!r})
    """
    project = program(tmp_path, body.format(service=TASKS_SERVICE_ID, enabled=True, log=log, trigger="a",
                                            dir=str(tmp_path)))
    state, config = State(), render_config(localrender, render_key)
    assert ops(up(project, "prd", config, state=state)) == [("page", "create"), ("same", "create"),
                                                            ("trig", "create"), ("upd", "create")]
    assert page_enabled(localrender) is True
    rewrite(project, body.format(service=TASKS_SERVICE_ID, enabled=False, log=log, trigger="b",
                                 dir=str(project / "infra")))
    second = up(project, "prd", config, state=state)
    assert ops(second) == [("page", "update"), ("same", "same"), ("trig", "replace"), ("upd", "update"),
                           ("trig", "delete")]
    assert page_enabled(localrender) is False
    lines = log.read_text().split()  # independent resources register concurrently: compare each up's runs as sets
    assert sorted(lines[:3]) == ["same", "trig", "upd-create"] and sorted(lines[3:5]) == ["trig", "upd-update"]
    assert lines[5:] == ["trig-deleted"]
    assert up(project, "prd", config, state=state).steps and log.read_text().count("\n") == 6  # nothing new


def test_a_resource_no_longer_declared_is_deleted_unless_retained(tmp_path, localrender, render_key):
    project = program(tmp_path, f"""
        MaintenanceMode("page", MaintenanceModeArgs(service_id={TASKS_SERVICE_ID!r}))
        local.Command("kept", create="true", opts=pulumi.ResourceOptions(retain_on_delete=True))
    """)
    state, config = State(), render_config(localrender, render_key)
    up(project, "prd", config, state=state)
    rewrite(project, "")
    assert ops(up(project, "prd", config, state=state)) == [("page", "delete")]
    assert page_enabled(localrender) is False  # the provider's delete ran: the page is off
    assert state.records == {}  # the retained command left the state without a delete


def test_a_protected_resource_is_never_deleted_or_replaced(tmp_path, localrender, render_key):
    project = program(tmp_path, f"""
        MaintenanceMode("page", MaintenanceModeArgs(service_id={TASKS_SERVICE_ID!r}),
                        pulumi.ResourceOptions(protect=True))
        local.Command("step", create="true", triggers=["a"], opts=pulumi.ResourceOptions(protect=True))
    """)
    state, config = State(), render_config(localrender, render_key)
    up(project, "prd", config, state=state)
    rewrite(project, """
        local.Command("step", create="true", triggers=["a"], opts=pulumi.ResourceOptions(protect=True))
    """)
    refused = up(project, "prd", config, state=state)
    assert not refused.ok and refused.error == "page: cannot be deleted because it is protected; nothing was deleted"
    assert page_enabled(localrender) is True and len(state.records) == 2
    rewrite(project, f"""
        MaintenanceMode("page", MaintenanceModeArgs(service_id={TASKS_SERVICE_ID!r}),
                        pulumi.ResourceOptions(protect=True))
        local.Command("step", create="true", triggers=["b"], opts=pulumi.ResourceOptions(protect=True))
    """)
    replaced = up(project, "prd", config, state=state)
    assert not replaced.ok and replaced.error == "step: unable to replace the protected resource (replaces triggers)"
    assert all(s.op != "delete" for s in replaced.steps) and len(state.records) == 2  # nothing was deleted
    assert page_enabled(localrender) is True
